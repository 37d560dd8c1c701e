"""What one process (a Gunicorn worker, a Celery worker) holds for the gallery's HNSW
index, with float32 and with float16 vectors (``LIKENESS_GALLERY_INDEX_CODES``), and
what float16 costs in recall.

For each size: LFW-fitted vectors (the 1:N benchmark's model, fitted to the real
embeddings of ``--lfw-embeddings``, made by lfw_embeddings.py), an HNSW index of each
kind built and saved with the gallery's own ``VectorIndex``; then a FRESH process
loads the file and reports its resident memory before and after (the per-worker
cost) and the file's size; recall@10 against exact search and p50 latency of single
queries (one thread) in the same process.

  .venv/bin/python backend/benchmarks/bench_index_memory.py \\
      --lfw-embeddings /tmp/lfw-embeddings.npz --sizes 200000 500000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from likeness.gallery.index import IndexConfig, VectorIndex
from likeness_eval.distractors import LfwModel

QUERIES = 200


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(path: str, codes: str, queries: str, truth: str) -> None:
    """Runs in a fresh process: load, measure, search."""
    faiss.omp_set_num_threads(1)
    q, exact = np.load(queries), np.load(truth)
    before = rss_mb()
    index = VectorIndex.load(path, IndexConfig(exact_max=0, codes=codes))
    after = rss_mb()
    found, times = [], []
    for row in q:
        start = time.perf_counter()
        _, ids = index.search(row[None], 10)
        times.append((time.perf_counter() - start) * 1000)
        found.append(ids[0])
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, exact, strict=True)])
    top1 = np.mean([f[0] == t[0] for f, t in zip(found, exact, strict=True)])
    result = {"rss_before_mb": before, "rss_after_mb": after, "recall_at_10": float(recall),
              "recall_at_1": float(top1),
              "p50_ms": float(np.median(times))}  # fmt: skip
    print(json.dumps(result))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw-embeddings", required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000])
    args = parser.parse_args()
    model = LfwModel.from_npz(args.lfw_embeddings)
    rng = np.random.default_rng(0)
    print("size       codes    build s  file MB  worker MB  bytes/face  recall@1/@10   p50 ms")
    for size in args.sizes:
        base = model.people(rng, size)
        q = model.samples(rng, base[rng.integers(0, size, QUERIES)])
        exact = np.argsort(-(q @ base.T), axis=1)[:, :10] + 1  # ids start at 1
        with tempfile.TemporaryDirectory() as tmp:
            np.save(f"{tmp}/q.npy", q)
            np.save(f"{tmp}/truth.npy", exact)
            for codes in ("float32", "float16"):
                start = time.perf_counter()
                index = VectorIndex(IndexConfig(exact_max=0, codes=codes), "hnsw")
                index.add(np.arange(1, size + 1), base)
                built = time.perf_counter() - start
                path = f"{tmp}/{codes}.npz"
                index.save(path)
                del index
                out = subprocess.run(
                    [sys.executable, __file__, "--child", path, codes, f"{tmp}/q.npy",
                     f"{tmp}/truth.npy"], capture_output=True, text=True, check=True,
                    env={**os.environ, "OMP_NUM_THREADS": "1"},
                )  # fmt: skip
                r = json.loads(out.stdout.strip().splitlines()[-1])
                held = r["rss_after_mb"] - r["rss_before_mb"]
                file_mb = Path(path).stat().st_size / 2**20
                print(f"{size:<10d} {codes:8s} {built:7.0f}  {file_mb:7.0f}"
                      f"  {held:9.0f}  {held * 2**20 / size:7.0f}"
                      f"   {r['recall_at_1']:.3f}/{r['recall_at_10']:.3f}"
                      f"    {r['p50_ms']:.2f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
