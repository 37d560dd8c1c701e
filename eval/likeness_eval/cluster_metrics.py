"""Clustering quality against known identities: pairwise and BCubed precision,
recall and F1. Only labelled items count (label -1: unlabelled, e.g. a background
face); every item keeps the cluster it was given among all items."""

from __future__ import annotations

import numpy as np


def _contingency(clusters: np.ndarray, labels: np.ndarray):
    keep = labels >= 0
    c = np.unique(clusters[keep], return_inverse=True)[1]
    t = np.unique(labels[keep], return_inverse=True)[1]
    pair = c.astype(np.int64) * (int(t.max()) + 1) + t
    cells, counts = np.unique(pair, return_counts=True)
    return c, t, cells, counts, int(t.max()) + 1


def pairwise(clusters: np.ndarray, labels: np.ndarray) -> dict:
    """Precision: of the pairs put together, the share of one person; recall: of the
    pairs of one person, the share put together."""
    c, t, _, counts, _ = _contingency(np.asarray(clusters), np.asarray(labels))
    together = (counts * (counts - 1) / 2).sum()
    in_cluster = (np.bincount(c) * (np.bincount(c) - 1) / 2).sum()
    in_class = (np.bincount(t) * (np.bincount(t) - 1) / 2).sum()
    p = together / in_cluster if in_cluster else 1.0
    r = together / in_class if in_class else 1.0
    return {"precision": float(p), "recall": float(r), "f1": _f(p, r)}


def bcubed(clusters: np.ndarray, labels: np.ndarray) -> dict:
    """Per item: precision = share of its cluster that is its person, recall = share of
    its person that is in its cluster; averaged over items."""
    c, t, cells, counts, n_classes = _contingency(np.asarray(clusters), np.asarray(labels))
    cell_of = dict(zip(cells.tolist(), counts.tolist(), strict=True))
    size_c, size_t = np.bincount(c), np.bincount(t)
    overlap = np.array(
        [cell_of[int(ci) * n_classes + int(ti)] for ci, ti in zip(c, t, strict=True)]
    )
    p = float(np.mean(overlap / size_c[c]))
    r = float(np.mean(overlap / size_t[t]))
    return {"precision": p, "recall": r, "f1": _f(p, r)}


def cannot_link_violations(clusters: np.ndarray, groups: np.ndarray) -> int:
    """Pairs of faces of one group (photo) put in one cluster."""
    keep = groups >= 0
    key = np.asarray(clusters)[keep].astype(np.int64) * (int(groups.max()) + 1) + groups[keep]
    _, counts = np.unique(key, return_counts=True)
    return int((counts * (counts - 1) // 2).sum())


def _f(p: float, r: float) -> float:
    return float(2 * p * r / (p + r)) if p + r else 0.0
