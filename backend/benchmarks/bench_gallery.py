"""Vector search speed and quality on synthetic unit-norm 512-d galleries.

For each size and data kind, builds the exact index (IndexFlatIP) and the
approximate candidates (HNSW, IVF-Flat), then reports per single query (one
thread, ``faiss.omp_set_num_threads(1)``): p50/p99 latency, recall@1 and
recall@10 against exact search, memory per vector and build time. ``match_recall``:
of the exact top-10 neighbours at or above the default 1:N threshold (the ones
that would be answered as a match), the share found; none exist in random data.

Data kinds:
  random     uniform on the unit sphere: the worst case for any ANN index.
  clustered  vectors around isotropic identity centroids (``--per-identity`` per
             identity, same-identity cosine ~0.6, strangers ~0).
  lfw        fitted to REAL embeddings (``--lfw-embeddings``, made by
             lfw_embeddings.py): identity centroids drawn from the between-person
             covariance of LFW, samples from its within-person covariance
             (a two-covariance model), so the anisotropy of real face embeddings
             is kept. The fitted and real genuine/impostor cosines are printed.
  Queries of clustered/lfw are new samples of enrolled identities.

Exact search alone at more sizes (where does it pass 20 ms?): ``--exact-sizes``.

Example (the figures in the report):
  .venv/bin/python backend/benchmarks/bench_gallery.py --sizes 1000000 \
      --data lfw clustered random --lfw-embeddings /tmp/lfw-embeddings.npz
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import faiss
import numpy as np

from likeness.settings import DEFAULT_GALLERY_THRESHOLDS
from likeness_eval.distractors import DIM, LfwModel, unit
from likeness_eval.distractors import cosine_moments as _cosines

LFW_MODEL: LfwModel | None = None


def make_data(kind: str, n: int, n_queries: int, seed: int = 0, per_id: int = 10):
    rng = np.random.default_rng(seed)
    if kind == "lfw":
        assert LFW_MODEL is not None, "--lfw-embeddings is required for --data lfw"
        n_ids = max(1, n // per_id)
        centroids = LFW_MODEL.centroids(rng, n_ids)
        base = np.empty((n, DIM), np.float32)
        for s in range(0, n, 100_000):
            m = min(100_000, n - s)
            base[s : s + m] = LFW_MODEL.samples(rng, centroids[np.arange(s, s + m) % n_ids])
        qids = rng.integers(0, n_ids, n_queries)
        labels = np.arange(min(n, 200_000)) % n_ids
        fitted = _cosines(base[: len(labels)], labels, rng)
        real = _cosines(unit(LFW_MODEL.real[0]), LFW_MODEL.real[1], rng)
        print(
            f"# lfw fit: genuine cos mean/sd real {real[0]:.3f}/{real[1]:.3f} "
            f"fitted {fitted[0]:.3f}/{fitted[1]:.3f}; impostor real {real[2]:.3f}/{real[3]:.3f} "
            f"fitted {fitted[2]:.3f}/{fitted[3]:.3f}",
            flush=True,
        )
        return base, LFW_MODEL.samples(rng, centroids[qids])
    if kind == "random":
        base = np.empty((n, DIM), np.float32)
        for s in range(0, n, 100_000):
            m = min(100_000, n - s)
            base[s : s + m] = unit(rng.standard_normal((m, DIM), dtype=np.float32))
        return base, unit(rng.standard_normal((n_queries, DIM), dtype=np.float32))
    # clustered: identities with 10 samples each; noise so that two samples of one
    # identity have cosine ~0.6 (as genuine face pairs do), impostors ~0.
    n_ids = max(1, n // per_id)
    sigma = 0.036
    centroids = np.empty((n_ids, DIM), np.float32)
    for s in range(0, n_ids, 100_000):
        m = min(100_000, n_ids - s)
        centroids[s : s + m] = unit(rng.standard_normal((m, DIM), dtype=np.float32))
    base = np.empty((n, DIM), np.float32)
    for s in range(0, n, 100_000):
        m = min(100_000, n - s)
        ids = np.arange(s, s + m) % n_ids
        noise = rng.standard_normal((m, DIM), dtype=np.float32) * sigma
        base[s : s + m] = unit(centroids[ids] + noise)
    qids = rng.integers(0, n_ids, n_queries)
    noise = rng.standard_normal((n_queries, DIM), dtype=np.float32) * sigma
    return base, unit(centroids[qids] + noise)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def index_bytes(index) -> int:
    return len(faiss.serialize_index(index))


def latency(index, queries: np.ndarray, k: int, params=None):
    faiss.omp_set_num_threads(1)
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        if params is None:
            _, ids = index.search(q[None, :], k)
        else:
            _, ids = index.search(q[None, :], k, params=params)
        times.append((time.perf_counter() - start) * 1000)
        found.append(ids[0])
    return np.percentile(times, 50), np.percentile(times, 99), np.array(found)


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = [len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)]
    return float(np.mean(hits))


MATCHES: dict = {"ids": []}  # per run: query -> exact top-10 ids at or above the 1:N threshold


def match_recall(found: np.ndarray) -> float | None:
    """Of the exact top-10 neighbours that would count as a match (cosine >= the
    default 1:N threshold), the share found; None when the data has none."""
    total = sum(len(m) for m in MATCHES["ids"])
    if not total:
        return None
    hits = sum(len(m & set(f[:10])) for m, f in zip(MATCHES["ids"], found, strict=False))
    return round(hits / total, 4)


def row(name, size, kind, build_s, nbytes, p50, p99, r1, r10, extra="", found=None):
    out = {
        "index": name,
        "n": size,
        "data": kind,
        "build_s": round(build_s, 1),
        "bytes_per_vector": round(nbytes / size, 1),
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "recall@1": round(r1, 4),
        "recall@10": round(r10, 4),
        "match_recall": 1.0 if found is None and any(MATCHES["ids"]) else None,
        "param": extra,
    }
    if found is not None:
        out["match_recall"] = match_recall(found)
    print(json.dumps(out), flush=True)
    return out


def run(size: int, kind: str, args) -> list[dict]:
    base, queries = make_data(kind, size, args.queries, per_id=args.per_identity)
    results = []
    threads = args.build_threads
    # exact
    faiss.omp_set_num_threads(threads)
    start = time.perf_counter()
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    flat.add_with_ids(base, np.arange(size, dtype=np.int64))
    build = time.perf_counter() - start
    scores, truth = flat.search(queries, 10)
    threshold = DEFAULT_GALLERY_THRESHOLDS["buffalo_s"]
    MATCHES["ids"] = [set(t[sc >= threshold].tolist()) for sc, t in zip(scores, truth, strict=True)]
    n_exact = min(len(queries), args.exact_queries)
    p50, p99, found = latency(flat, queries[:n_exact], 10)
    results.append(row("flat", size, kind, build, size * DIM * 4 + size * 16, p50, p99, 1.0, 1.0))
    del flat
    gc.collect()

    def sweep(name, index, build, nbytes, settings) -> None:
        """One row per search setting ``(label, params)`` of a built index."""
        for label, params in settings:
            p50, p99, found = latency(index, queries, 10, params)
            r1, r10 = recall(found, truth, 1), recall(found, truth, 10)
            results.append(row(name, size, kind, build, nbytes, p50, p99, r1, r10, label, found))

    if "hnsw" in args.indexes:
        for m in args.hnsw_m:
            faiss.omp_set_num_threads(threads)
            start = time.perf_counter()
            hnsw = faiss.IndexHNSWFlat(DIM, m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = args.ef_construction
            hnsw.add(base)
            build = time.perf_counter() - start
            settings = [
                (
                    f"efSearch={ef} efConstruction={args.ef_construction}",
                    faiss.SearchParametersHNSW(efSearch=ef),
                )
                for ef in args.ef_search
            ]
            sweep(f"hnsw{m}", hnsw, build, index_bytes(hnsw) + size * 16, settings)  # + id map
            del hnsw
            gc.collect()

    if "ivf" in args.indexes:
        for nlist in args.nlist or [int(4 * np.sqrt(size))]:
            faiss.omp_set_num_threads(threads)
            start = time.perf_counter()
            quantizer = faiss.IndexFlatIP(DIM)
            ivf = faiss.IndexIVFFlat(quantizer, DIM, nlist, faiss.METRIC_INNER_PRODUCT)
            rng = np.random.default_rng(1)
            train = base[rng.choice(size, min(size, nlist * args.train_per_list), replace=False)]
            ivf.train(train)
            ivf.add_with_ids(base, np.arange(size, dtype=np.int64))
            build = time.perf_counter() - start
            settings = [
                (f"nprobe={nprobe}", faiss.SearchParametersIVF(nprobe=nprobe))
                for nprobe in args.nprobe
            ]
            sweep(f"ivf{nlist},flat", ivf, build, index_bytes(ivf), settings)
            del ivf
            gc.collect()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--data", nargs="+", default=["clustered", "random"])
    parser.add_argument("--indexes", nargs="+", default=["hnsw", "ivf"])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--exact-queries", type=int, default=200)
    parser.add_argument("--hnsw-m", type=int, nargs="+", default=[32])
    parser.add_argument("--ef-construction", type=int, default=80)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[32, 64, 128, 256, 512])
    parser.add_argument("--nlist", type=int, nargs="*", default=[], help="default 4*sqrt(n)")
    parser.add_argument("--train-per-list", type=int, default=64)
    parser.add_argument("--per-identity", type=int, default=10)
    parser.add_argument("--lfw-embeddings", help="npz from lfw_embeddings.py (--data lfw)")
    parser.add_argument(
        "--exact-sizes",
        type=int,
        nargs="*",
        default=[],
        help="only exact search at these sizes (random data)",
    )
    parser.add_argument("--target-recall", type=float, default=0.99)
    parser.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--build-threads", type=int, default=2)
    parser.add_argument("--out", help="also write every row as JSON lines here")
    args = parser.parse_args()
    print(f"faiss {faiss.__version__}, dim {DIM}, latency on 1 thread", flush=True)
    global LFW_MODEL
    if args.lfw_embeddings:
        LFW_MODEL = LfwModel.from_npz(args.lfw_embeddings)
    rows = []
    for size in args.exact_sizes:
        base, queries = make_data("random", size, args.exact_queries)
        flat = faiss.IndexFlatIP(DIM)
        flat.add(base)
        p50, p99, _ = latency(flat, queries, 10)
        rows.append(row("flat", size, "random", 0.0, size * DIM * 4, p50, p99, 1.0, 1.0))
        del flat, base
        gc.collect()
    for size in args.sizes:
        for kind in args.data:
            rows += run(size, kind, args)
            print(f"# rss {rss_mb():.0f} MB", flush=True)
    print(f"# fastest setting per index and data with recall@10 >= {args.target_recall}:")
    for key in sorted({(r["n"], r["data"], r["index"]) for r in rows}):
        ok = [
            r
            for r in rows
            if (r["n"], r["data"], r["index"]) == key and r["recall@10"] >= args.target_recall
        ]
        best = min(ok, key=lambda r: r["p50_ms"]) if ok else None
        print(
            f"#   {key[0]:>8} {key[1]:<9} {key[2]:<14} "
            + (f"p50 {best['p50_ms']:.3f} ms  {best['param']}" if best else "never reached")
        )
    if args.out:
        with open(args.out, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
