"""The k-nearest-neighbour graph of face embeddings, built with FAISS one chunk of
queries at a time: memory grows with n * k, never n * n."""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np


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


def knn_edges(
    vectors: np.ndarray,
    k: int = 10,
    min_similarity: float = 0.0,
    chunk: int = 20_000,
    index: faiss.Index | None = None,
) -> Edges:
    """Each vector's ``k`` nearest neighbours by inner product (unit vectors: cosine),
    as undirected edges of at least ``min_similarity``. ``index`` may be any FAISS
    index already holding ``vectors`` in order (e.g. an IVF index for millions);
    by default an exact one is built."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(x)
    if n < 2:
        empty = np.zeros(0, np.int64)
        return Edges(empty, empty, np.zeros(0, np.float32))
    if index is None:
        index = faiss.IndexFlatIP(x.shape[1])
        index.add(x)
    k = min(k, n - 1)
    parts_a, parts_b, parts_s = [], [], []
    for start in range(0, n, chunk):
        sims, ids = index.search(x[start : start + chunk], k + 1)
        rows = np.repeat(np.arange(start, start + len(ids)), ids.shape[1])
        cols, vals = ids.reshape(-1), sims.reshape(-1)
        keep = (cols >= 0) & (cols != rows) & (vals >= min_similarity)
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        parts_a.append(np.minimum(rows, cols))
        parts_b.append(np.maximum(rows, cols))
        parts_s.append(vals.astype(np.float32))
    a, b, s = np.concatenate(parts_a), np.concatenate(parts_b), np.concatenate(parts_s)
    # an edge found from both ends once: unique pairs, keeping the first similarity
    key = a * n + b
    _, first = np.unique(key, return_index=True)
    a, b, s = a[first], b[first], s[first]
    order = np.argsort(-s, kind="stable")
    return Edges(a[order], b[order], s[order])
