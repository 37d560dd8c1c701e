"""Vector search speed and quality on synthetic unit-norm 512-d galleries.

For each size and data kind, builds the exact index (IndexFlatIP) and the
approximate candidates (HNSW, IVF-Flat), then reports per single query (one
thread, ``faiss.omp_set_num_threads(1)``): p50/p99 latency, recall@1 and
recall@10 against exact search, memory per vector and build time.

Data kinds:
  random     uniform on the unit sphere: the worst case for any ANN index.
  clustered  vectors around identity centroids (10 per identity, same-identity
             cosine ~0.6), closer to real face embeddings. Queries are new samples
             of enrolled identities.

Example (the figures in the report):
  .venv/bin/python backend/benchmarks/bench_gallery.py --sizes 100000 1000000
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import faiss
import numpy as np

DIM = 512


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_data(kind: str, n: int, n_queries: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    if kind == "random":
        base = np.empty((n, DIM), np.float32)
        for s in range(0, n, 100_000):
            m = min(100_000, n - s)
            base[s : s + m] = unit(rng.standard_normal((m, DIM), dtype=np.float32))
        return base, unit(rng.standard_normal((n_queries, DIM), dtype=np.float32))
    # clustered: identities with 10 samples each; noise so that two samples of one
    # identity have cosine ~0.6 (as genuine face pairs do), impostors ~0.
    per_id = 10
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


def row(name, size, kind, build_s, nbytes, p50, p99, r1, r10, extra=""):
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
        "param": extra,
    }
    print(json.dumps(out), flush=True)
    return out


def run(size: int, kind: str, args) -> list[dict]:
    base, queries = make_data(kind, size, args.queries)
    results = []
    threads = args.build_threads
    # exact
    faiss.omp_set_num_threads(threads)
    start = time.perf_counter()
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    flat.add_with_ids(base, np.arange(size, dtype=np.int64))
    build = time.perf_counter() - start
    _, truth = flat.search(queries, 10)
    n_exact = min(len(queries), args.exact_queries)
    p50, p99, found = latency(flat, queries[:n_exact], 10)
    results.append(row("flat", size, kind, build, size * DIM * 4 + size * 16, p50, p99, 1.0, 1.0))
    del flat
    gc.collect()

    if "hnsw" in args.indexes:
        for m in args.hnsw_m:
            faiss.omp_set_num_threads(threads)
            start = time.perf_counter()
            hnsw = faiss.IndexHNSWFlat(DIM, m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = args.ef_construction
            hnsw.add(base)
            build = time.perf_counter() - start
            nbytes = index_bytes(hnsw) + size * 16  # + id map
            for ef in args.ef_search:
                params = faiss.SearchParametersHNSW(efSearch=ef)
                p50, p99, found = latency(hnsw, queries, 10, params)
                results.append(
                    row(
                        f"hnsw{m}",
                        size,
                        kind,
                        build,
                        nbytes,
                        p50,
                        p99,
                        recall(found, truth, 1),
                        recall(found, truth, 10),
                        f"efSearch={ef} efConstruction={args.ef_construction}",
                    )
                )
            del hnsw
            gc.collect()

    if "ivf" in args.indexes:
        nlist = args.nlist or int(4 * np.sqrt(size))
        faiss.omp_set_num_threads(threads)
        start = time.perf_counter()
        quantizer = faiss.IndexFlatIP(DIM)
        ivf = faiss.IndexIVFFlat(quantizer, DIM, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(1)
        train = base[rng.choice(size, min(size, nlist * 64), replace=False)]
        ivf.train(train)
        ivf.add_with_ids(base, np.arange(size, dtype=np.int64))
        build = time.perf_counter() - start
        nbytes = index_bytes(ivf)
        for nprobe in args.nprobe:
            params = faiss.SearchParametersIVF(nprobe=nprobe)
            p50, p99, found = latency(ivf, queries, 10, params)
            results.append(
                row(
                    f"ivf{nlist},flat",
                    size,
                    kind,
                    build,
                    nbytes,
                    p50,
                    p99,
                    recall(found, truth, 1),
                    recall(found, truth, 10),
                    f"nprobe={nprobe}",
                )
            )
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
    parser.add_argument("--nlist", type=int, default=0, help="0: 4*sqrt(n)")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--build-threads", type=int, default=2)
    parser.add_argument("--out", help="also write every row as JSON lines here")
    args = parser.parse_args()
    print(f"faiss {faiss.__version__}, dim {DIM}, latency on 1 thread", flush=True)
    rows = []
    for size in args.sizes:
        for kind in args.data:
            rows += run(size, kind, args)
            print(f"# rss {rss_mb():.0f} MB", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
