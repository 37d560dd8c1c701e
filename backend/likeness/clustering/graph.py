"""The k-nearest-neighbour graph of face embeddings, built with FAISS one chunk of
queries at a time: memory grows with n * k, never n * n.

Up to ``EXACT_LIMIT`` faces the graph is exact (``IndexFlatIP``; 200k faces took
5 minutes on 2 cores). Above it, an IVF index of about ``4 * sqrt(n)`` lists probes
the ``NPROBE`` nearest; within them 4-bit product-quantised codes (FAISS "fast
scan") find candidates and 8-bit scalar codes re-rank them (576 bytes per face,
against 2,048 in float32). Its recall against exact search, of the edges above the
threshold, is measured by ``backend/benchmarks/bench_clustering.py``. Vectors may be float16 (or a
memory-mapped array): FAISS sees one float32 chunk at a time."""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

EXACT_LIMIT = 50_000
NPROBE = 64


@dataclass(frozen=True)
class Edges:
    """Undirected edges ``(a[i], b[i])`` with ``a < b`` and their cosine similarity,
    sorted by similarity, highest first."""

    a: np.ndarray  # int64
    b: np.ndarray  # int64
    similarity: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.a)

    def above(self, threshold: float) -> Edges:
        keep = self.similarity >= threshold
        return Edges(self.a[keep], self.b[keep], self.similarity[keep])


def _chunks(vectors: np.ndarray, chunk: int):
    for start in range(0, len(vectors), chunk):
        yield start, np.ascontiguousarray(vectors[start : start + chunk], dtype=np.float32)


def knn_index(
    vectors: np.ndarray,
    exact_limit: int = EXACT_LIMIT,
    nprobe: int = NPROBE,
    chunk: int = 100_000,
    seed: int = 0,
) -> faiss.Index:
    """A FAISS index holding ``vectors`` in order: exact up to ``exact_limit`` rows,
    else IVF with compressed codes (trained on a sample of 64 rows per list)."""
    n, dim = vectors.shape
    if n <= exact_limit:
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(4 * np.sqrt(n))
        index = faiss.index_factory(
            dim, f"IVF{nlist},PQ{dim // 4}x4fs,Refine(SQ8)", faiss.METRIC_INNER_PRODUCT
        )
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, min(n, 64 * nlist), replace=False))
        index.train(np.asarray(vectors[sample], dtype=np.float32))
        faiss.extract_index_ivf(index).nprobe = nprobe
        index.k_factor = 8  # candidates re-ranked per neighbour wanted
    for _, part in _chunks(vectors, chunk):
        index.add(part)
    return index


def knn_edges(
    vectors: np.ndarray,
    k: int = 10,
    min_similarity: float = 0.0,
    chunk: int = 20_000,
    index: faiss.Index | None = None,
    progress=None,
) -> Edges:
    """Each vector's ``k`` nearest neighbours by inner product (unit vectors: cosine),
    as undirected edges of at least ``min_similarity``. ``index`` may be any FAISS
    index already holding ``vectors`` in order; by default ``knn_index`` builds one.
    ``progress(done, total)`` is called after each chunk."""
    n = len(vectors)
    if n < 2:
        empty = np.zeros(0, np.int64)
        return Edges(empty, empty, np.zeros(0, np.float32))
    if index is None:
        index = knn_index(vectors)
    k = min(k, n - 1)
    parts_a, parts_b, parts_s = [], [], []
    for start, x in _chunks(vectors, chunk):
        sims, ids = index.search(x, k + 1)
        rows = np.repeat(np.arange(start, start + len(ids)), ids.shape[1])
        cols, vals = ids.reshape(-1), sims.reshape(-1)
        keep = (cols >= 0) & (cols != rows) & (vals >= min_similarity)
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        parts_a.append(np.minimum(rows, cols))
        parts_b.append(np.maximum(rows, cols))
        parts_s.append(vals.astype(np.float32))
        if progress is not None:
            progress(start + len(x), n)
    a, b, s = np.concatenate(parts_a), np.concatenate(parts_b), np.concatenate(parts_s)
    # an edge found from both ends once: unique pairs, keeping the first similarity
    key = a * n + b
    _, first = np.unique(key, return_index=True)
    a, b, s = a[first], b[first], s[first]
    order = np.argsort(-s, kind="stable")
    return Edges(a[order], b[order], s[order])
