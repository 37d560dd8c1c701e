"""Graph clusterings of a kNN graph, each under the same constraints:

* **cannot-link**: faces that share a group (the same photo; a user's "not this
  person") never end in one cluster;
* **must-link**: faces a user enrolled or confirmed for one person start together.

``threshold_components``: components of the graph's edges at or above a threshold,
joined strongest edge first, never across a cannot-link (single linkage with
constraints). ``chinese_whispers``: weighted label propagation (Biemann 2006) on the
same edges, after which a cluster holding a cannot-link pair keeps the member most
tied to it and lets the others go.
Labels are ints 0..C-1; every face gets one (a face with no edge is its own cluster).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from likeness.clustering.graph import Edges


class _Components:
    """Union-find whose components remember the cannot-link tokens they hold (and
    their owner: a person whose own faces they contain). Plain lists (a Python loop
    over millions of edges indexes them far faster than numpy scalars); a
    component's token set is made only when it first grows."""

    def __init__(
        self,
        n: int,
        groups: np.ndarray | None,
        tokens: Mapping[int, Iterable] | Sequence | None = None,
        owners: np.ndarray | None = None,
    ) -> None:
        self.parent = list(range(n))
        self.size = [1] * n
        self.constrained = groups is not None or tokens is not None
        self.group = None if groups is None else np.asarray(groups).tolist()
        if tokens is not None and not isinstance(tokens, Mapping):
            tokens = {i: t for i, t in enumerate(tokens) if t}
        self.tokens = tokens  # face -> its extra tokens (only faces that have some)
        self.sets: dict[int, set] = {}  # root -> its tokens (photos: ints; others: tuples)
        self.owner = None if owners is None else np.asarray(owners).tolist()

    def _held(self, root: int) -> set:
        held = self.sets.get(root)
        if held is None:  # still a single face
            held = set()
            if self.group is not None and self.group[root] >= 0:
                held.add(self.group[root])
            if self.tokens is not None and self.tokens.get(root):
                held.update(("t", t) for t in self.tokens[root])
            self.sets[root] = held
        return held

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:  # path compression
            parent[i], i = root, parent[i]
        return root

    def union(self, i: int, j: int, force: bool = False) -> bool:
        ri, rj = self.find(i), self.find(j)
        if ri == rj:
            return True
        owner = self.owner
        if owner is not None and owner[ri] >= 0 and owner[rj] >= 0 and owner[ri] != owner[rj]:
            return False  # two people's own faces never merge
        if self.size[ri] < self.size[rj]:
            ri, rj = rj, ri
        if self.constrained:
            big, small = self._held(ri), self._held(rj)
            if not force and not big.isdisjoint(small):
                return False  # would put a cannot-link pair together
            big |= small
            del self.sets[rj]
        self.parent[rj] = ri
        self.size[ri] += self.size[rj]
        if owner is not None and owner[ri] < 0:
            owner[ri] = owner[rj]
        return True

    def labels(self) -> np.ndarray:
        parent = np.array(self.parent, np.int64)
        while True:  # point every face at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        return np.unique(parent, return_inverse=True)[1]


def _must_link(components: _Components, must: Sequence[np.ndarray] | None) -> None:
    for members in must or ():
        members = np.asarray(members)
        for other in members[1:]:
            components.union(int(members[0]), int(other), force=True)


def threshold_components(
    n: int,
    edges: Edges,
    threshold: float,
    groups: np.ndarray | None = None,
    must: Sequence[np.ndarray] | None = None,
    tokens: Mapping[int, Iterable] | Sequence | None = None,
    owners: np.ndarray | None = None,
) -> np.ndarray:
    """Labels of the constrained components at ``threshold``. ``groups[i]`` is face
    i's cannot-link group (e.g. its photo; -1 for none); ``tokens[i]`` more such
    groups (e.g. a "not this person"); ``owners[i]`` the person face i was enrolled
    or confirmed for (-1 none): faces of two owners are never joined."""
    components = _Components(n, groups, tokens, owners)
    _must_link(components, must)
    strong = edges.above(threshold)
    for a, b in zip(strong.a.tolist(), strong.b.tolist(), strict=True):
        components.union(a, b)
    return components.labels()


def chinese_whispers(
    n: int,
    edges: Edges,
    threshold: float,
    groups: np.ndarray | None = None,
    must: Sequence[np.ndarray] | None = None,
    iterations: int = 20,
    seed: int = 0,
) -> np.ndarray:
    """Labels by weighted label propagation on the edges at or above ``threshold``;
    must-link sets move as one node; cannot-link pairs are split afterwards."""
    node = np.arange(n)  # face -> node (must-link sets contracted)
    for members in must or ():
        members = np.asarray(members)
        node[members] = node[members[0]]
    node = np.unique(node, return_inverse=True)[1]
    m = int(node.max()) + 1 if n else 0
    strong = edges.above(threshold)
    a, b, w = node[strong.a], node[strong.b], strong.similarity.astype(np.float64)
    keep = a != b
    a, b, w = a[keep], b[keep], w[keep]
    order = np.argsort(np.concatenate([a, b]), kind="stable")
    src = np.concatenate([a, b])[order]
    dst = np.concatenate([b, a])[order]
    wts = np.concatenate([w, w])[order]
    starts = np.searchsorted(src, np.arange(m + 1))
    labels = np.arange(m)
    rng = np.random.default_rng(seed)
    for _ in range(iterations):
        changed = 0
        for v in rng.permutation(m):
            lo, hi = starts[v], starts[v + 1]
            if lo == hi:
                continue
            votes: dict[int, float] = {}
            for u, weight in zip(dst[lo:hi].tolist(), wts[lo:hi].tolist(), strict=True):
                label = int(labels[u])
                votes[label] = votes.get(label, 0.0) + weight
            best = max(votes.items(), key=lambda kv: (kv[1], -kv[0]))[0]
            if best != labels[v]:
                labels[v] = best
                changed += 1
        if not changed:
            break
    face_labels = labels[node]
    if groups is not None:
        face_labels = _split_cannot_links(face_labels, groups, strong)
    return np.unique(face_labels, return_inverse=True)[1]


def _split_cannot_links(labels: np.ndarray, groups: np.ndarray, edges: Edges) -> np.ndarray:
    """In each cluster, of faces sharing a cannot-link group keep the one with the
    most edge weight inside the cluster; the others become their own clusters."""
    labels = labels.copy()
    ties = np.zeros(len(labels))
    same = labels[edges.a] == labels[edges.b]
    np.add.at(ties, edges.a[same], edges.similarity[same])
    np.add.at(ties, edges.b[same], edges.similarity[same])
    next_label = int(labels.max()) + 1 if len(labels) else 0
    has_group = np.flatnonzero(groups >= 0)
    key = labels[has_group].astype(np.int64) * (int(groups.max()) + 1) + groups[has_group]
    order = np.lexsort((-ties[has_group], key))
    sorted_key = key[order]
    repeat = np.concatenate([[False], sorted_key[1:] == sorted_key[:-1]])
    for face in has_group[order][repeat]:
        labels[face] = next_label
        next_label += 1
    return labels
