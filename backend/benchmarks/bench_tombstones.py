"""How removed faces in the HNSW graph hurt search, and when to rebuild.

HNSW cannot drop nodes: ``VectorIndex.remove`` zeroes a removed face's vector (the
embedding is gone at once: right to erasure) and filters its node out of every
search. The graph keeps those dead nodes until a rebuild. This benchmark removes a
growing share of random faces from one graph and reports, at each share, the
recall@10 of the LIVE faces against exact search over the live faces, for

  tombstoned   the graph with zeroed, filtered nodes (what serves until a rebuild)
  fresh        a graph built again from the live faces (what a rebuild gives)

both at the configured efSearch, one query at a time on one core, with p50 latency,
and the match recall: of the exact top ten at or above the 1:N threshold (the
neighbours an answer depends on), the share found. Removing faces alone lowers
recall@10 of BOTH graphs: a person with fewer faces left has strangers in its top
ten, whose order among near-zero scores no approximate index keeps.
The gap tells how large ``gallery_rebuild_deleted_fraction`` may be.

  .venv/bin/python backend/benchmarks/bench_tombstones.py --size 100000 \
      --data lfw --lfw-embeddings var/bench/lfw-embeddings.npz
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import bench_gallery  # noqa: E402

from likeness.gallery.index import IndexConfig, VectorIndex  # noqa: E402
from likeness.settings import DEFAULT_GALLERY_THRESHOLDS  # noqa: E402

THRESHOLD = DEFAULT_GALLERY_THRESHOLDS["buffalo_s"]


def measure(index: VectorIndex, queries, truth, truth_scores, k: int = 10):
    """recall@10, match recall (of the exact top ten at or above the 1:N threshold:
    the neighbours an answer depends on), p50 ms."""
    found, times = [], []
    for q in queries:
        start = time.perf_counter()
        _, ids = index.search(q[None, :], k)
        times.append(time.perf_counter() - start)
        found.append(ids[0])
    hits = [len(set(f) & set(t)) for f, t in zip(found, truth, strict=True)]
    matches = truth_scores >= THRESHOLD
    match_hits = [len(set(f) & set(t[m])) for f, t, m in zip(found, truth, matches, strict=True)]
    return (
        float(np.sum(hits) / truth.size),
        float(np.sum(match_hits) / max(1, matches.sum())),
        float(np.median(times) * 1000),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--data", choices=["lfw", "clustered", "random"], default="lfw")
    parser.add_argument("--lfw-embeddings")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument(
        "--fractions", type=float, nargs="+", default=[0, 0.02, 0.05, 0.076, 0.1, 0.2]
    )
    parser.add_argument("--fresh", action="store_true", help="also build a fresh graph per share")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    if args.data == "lfw":
        bench_gallery.LFW_MODEL = bench_gallery.LfwModel.from_npz(args.lfw_embeddings)
    base, queries = bench_gallery.make_data(args.data, args.size, args.queries)
    config = IndexConfig(dim=base.shape[1], exact_max=0)
    ids = np.arange(len(base), dtype=np.int64)
    faiss.omp_set_num_threads(2)
    start = time.perf_counter()
    graph = VectorIndex.build(config, ids, base)
    print(
        f"# {args.data} {args.size:,} faces, HNSW M={config.hnsw_m} efSearch={config.ef_search}"
        f", built in {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    faiss.omp_set_num_threads(1)
    order = np.random.default_rng(1).permutation(len(base))
    removed = 0
    print(
        "removed  tombstoned: recall@10 match_recall p50_ms   fresh: recall@10 match_recall p50_ms"
    )
    for fraction in args.fractions:
        target = int(round(fraction * len(base)))
        graph.remove(ids[order[removed:target]])
        removed = target
        live = np.sort(order[removed:])
        exact = faiss.IndexFlatIP(base.shape[1])
        exact.add(base[live])
        scores, truth = exact.search(queries, 10)
        truth = live[truth]
        recall, match, p50 = measure(graph, queries, truth, scores)
        line = f"{fraction:7.3f}  {recall:21.4f} {match:12.4f} {p50:6.3f}"
        if args.fresh or fraction == 0:
            faiss.omp_set_num_threads(2)
            fresh = VectorIndex.build(config, ids[live], base[live])
            faiss.omp_set_num_threads(1)
            f_recall, f_match, f_p50 = measure(fresh, queries, truth, scores)
            line += f"  {f_recall:17.4f} {f_match:12.4f} {f_p50:6.3f}"
            del fresh
        print(line, flush=True)


if __name__ == "__main__":
    main()
