"""A full clustering run over every usable face, with stable ids.

1. The kNN graph of the faces (FAISS, in chunks) and constrained threshold
   components on it (``methods.threshold_components``, chosen by measurement:
   ``likeness_eval.clustering``). Constraints: two faces of one photo never join;
   faces enrolled or confirmed for a person start together and two persons' own
   faces never join; a "not this person" face never joins that person's faces.
2. Each new cluster is matched to the persons its faces already belong to: one that
   holds a person's own faces is that person; otherwise the auto person sharing the
   most of its faces (each person once, most overlap first). A person keeps its id
   and its name; a cluster of ``min_size`` or more faces matched to nobody becomes
   a new auto person; a smaller one stays unassigned until more evidence arrives.
3. One transaction writes who moved; the report says how many faces changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from likeness.clustering.graph import knn_edges, knn_index
from likeness.clustering.methods import threshold_components
from likeness.clustering.store import ClusterStore

METHOD = "threshold components (constrained single linkage on the kNN graph)"


@dataclass
class RunReport:
    faces: int
    clusters: int  # persons holding faces after the run (enrolled and auto)
    new_clusters: int
    removed_clusters: int
    changed_faces: int  # faces clustering moved (to another person, in or out)
    unassigned: int  # usable faces in no person
    threshold: float
    k: int
    method: str
    seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def full_run(
    store: ClusterStore,
    threshold: float,
    k: int = 10,
    min_size: int = 2,
    progress: Callable[[int, int, str], None] | None = None,
) -> RunReport:
    started = time.perf_counter()

    def step(share: float, message: str) -> None:
        if progress is not None:
            progress(int(share * 1000), 1000, message)

    step(0, "reading faces")
    table = store.faces()
    n = len(table.ids)
    step(0.05, f"kNN index of {n} faces")
    index = knn_index(table.vectors)
    step(0.2, f"kNN graph of {n} faces")
    edges = knn_edges(
        table.vectors,
        k=k,
        min_similarity=threshold,
        index=index,
        progress=lambda done, total: step(0.2 + 0.6 * done / total, f"kNN graph {done}/{total}"),
    )
    del index
    step(0.8, "clustering")
    owners = np.where(table.fixed, table.person, -1)
    own = _members(owners)  # person -> positions of its own (fixed) faces
    tokens: dict[int, set] = {}
    exclusions = store.exclusions()
    for face_id, person_id in exclusions:
        i = int(np.searchsorted(table.ids, face_id))
        if i < n and table.ids[i] == face_id:  # a token of this pair only
            for member in [i, *own.get(person_id, ())]:
                tokens.setdefault(int(member), set()).add((face_id, person_id))
    labels = threshold_components(
        n,
        edges,
        threshold,
        groups=table.image,
        must=list(own.values()),
        tokens=tokens,
        owners=owners,
    )
    del edges
    step(0.9, "matching clusters to persons")
    moves, new_clusters = _match(table, labels, owners, min_size, set(exclusions), threshold)
    created, removed = store.write(moves, new_clusters, table)
    step(1, "done")
    after = table.person.copy()
    if moves:
        moved = np.fromiter(moves, np.int64, len(moves))
        wanted = np.array([-1 if p is None else p for p in moves.values()], np.int64)
        after[np.searchsorted(table.ids, moved)] = wanted
    for faces, person_id in zip(new_clusters, created, strict=True):
        after[np.searchsorted(table.ids, np.asarray(faces, np.int64))] = person_id
    changed = int((after != table.person).sum())
    return RunReport(
        faces=n,
        clusters=int(len(np.unique(after[after >= 0]))),
        new_clusters=len(created),
        removed_clusters=len(removed),
        changed_faces=changed,
        unassigned=int((after < 0).sum()),
        threshold=threshold,
        k=k,
        method=METHOD,
        seconds=round(time.perf_counter() - started, 3),
    )


def _members(owners: np.ndarray) -> dict[int, np.ndarray]:
    """Positions of each owner's faces (owner -1: none), grouped in one sort."""
    keep = np.flatnonzero(owners >= 0)
    order = keep[np.argsort(owners[keep], kind="stable")]
    cuts = np.flatnonzero(np.diff(owners[order])) + 1
    return {int(owners[g[0]]): g for g in np.split(order, cuts)} if len(order) else {}


def _match(
    table,
    labels,
    owners,
    min_size: int,
    excluded: set,
    threshold: float | None = None,
):
    """(moves for faces clustering may move, new clusters as lists of face ids).

    With a ``threshold``: a face whose cluster came out too small to keep, matched
    to nobody, stays in its person while it is still at least ``threshold`` like the
    template of that person's other faces, and no other face of its photo ends
    there. A kNN graph (an approximate one above all) can miss a face's few edges in
    one run and find them in the next; a face should not blink in and out of its
    person for that."""
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    clusters = np.split(order, bounds) if len(order) else []
    target: dict[int, int | None] = {}
    candidates = []  # (overlap, cluster index, person) for clusters without an owner
    for c, members in enumerate(clusters):
        own = owners[members][owners[members] >= 0]
        if len(own):
            target[c] = int(own[0])
            continue
        current = table.person[members]
        current = current[current >= 0]
        if len(current):
            persons, counts = np.unique(current, return_counts=True)
            candidates.extend((int(n), c, int(p)) for p, n in zip(persons, counts, strict=True))
    taken = set(target.values())
    for _, c, person in sorted(candidates, key=lambda t: (-t[0], t[1], t[2])):
        if c not in target and person not in taken:
            target[c] = person
            taken.add(person)
    moves: dict[int, int | None] = {}
    new_clusters: list[list[int]] = []
    falling: list[int] = []  # rows that would leave their person for lack of evidence
    for c, members in enumerate(clusters):
        movable = members[~table.fixed[members]]
        if c in target:
            person = target[c]
        elif len(members) >= min_size:
            new_clusters.append([int(table.ids[i]) for i in movable])
            continue
        else:
            person = None  # not enough evidence yet
        for i in movable:
            face_id = int(table.ids[i])
            wanted = None if (face_id, person) in excluded else person
            current = None if table.person[i] < 0 else int(table.person[i])
            if wanted != current:
                moves[face_id] = wanted
                if person is None and current is not None:
                    falling.append(int(i))
    if threshold is not None and falling:
        _keep_alike(table, moves, new_clusters, falling, excluded, threshold)
    return moves, new_clusters


def _keep_alike(table, moves, new_clusters, falling, excluded, threshold) -> None:
    """Cancel the moves of ``falling`` faces still like their person (see _match)."""
    rows = np.asarray(falling, np.int64)
    persons = np.unique(table.person[rows])
    # the sum and count of each such person's faces now: a face's template is the
    # mean of the others (leave-one-out, so a face never vouches for itself)
    members = np.flatnonzero(np.isin(table.person, persons))
    slot = np.searchsorted(persons, table.person[members])
    sums = np.zeros((len(persons), table.vectors.shape[1]), np.float64)
    for start in range(0, len(members), 100_000):
        part = slice(start, start + 100_000)
        np.add.at(sums, slot[part], np.asarray(table.vectors[members[part]], np.float32))
    counts = np.bincount(slot, minlength=len(persons))
    # where every face ends, so which photos each of these persons will hold
    final = table.person.copy()
    if moves:
        moved = np.searchsorted(table.ids, np.fromiter(moves, np.int64, len(moves)))
        final[moved] = [-1 if p is None else p for p in moves.values()]
    for faces in new_clusters:
        final[np.searchsorted(table.ids, np.asarray(faces, np.int64))] = -1
    width = int(table.image.max()) + 1
    ending = np.isin(final, persons)
    held = np.unique(final[ending] * width + table.image[ending])
    kept: set[int] = set()
    for i in rows.tolist():
        person, face_id, photo = int(table.person[i]), int(table.ids[i]), int(table.image[i])
        j = int(np.searchsorted(persons, person))
        key = person * width + photo
        if counts[j] < 2 or (face_id, person) in excluded or key in kept:
            continue
        k = int(np.searchsorted(held, key))
        if k < len(held) and held[k] == key:
            continue  # another face of its photo ends in that person
        v = np.asarray(table.vectors[i], np.float32)
        rest = sums[j] - v
        norm = float(np.linalg.norm(rest))
        if norm > 1e-6 and float(v @ rest) / norm >= threshold:
            del moves[face_id]  # still like its person: it stays
            kept.add(key)
