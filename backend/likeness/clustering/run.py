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

from likeness.clustering.graph import knn_edges
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

    def step(done: int, message: str) -> None:
        if progress is not None:
            progress(done, 4, message)

    step(0, "reading faces")
    table = store.faces()
    n = len(table.ids)
    step(1, f"kNN graph of {n} faces")
    edges = knn_edges(table.vectors, k=k, min_similarity=threshold)
    step(2, "clustering")
    position = {int(face_id): i for i, face_id in enumerate(table.ids.tolist())}
    owners = np.where(table.fixed, table.person, -1)
    must = [np.flatnonzero(owners == p) for p in np.unique(owners[owners >= 0])]
    tokens: list[set] = [set() for _ in range(n)]
    for face_id, person_id in store.exclusions():
        if face_id in position:  # a token of this pair only: the face against the person
            token = (face_id, person_id)
            tokens[position[face_id]].add(token)
            for member in np.flatnonzero(owners == person_id):
                tokens[member].add(token)
    labels = threshold_components(
        n, edges, threshold, groups=table.image, must=must, tokens=tokens, owners=owners
    )
    step(3, "matching clusters to persons")
    excluded = {(f, p) for f, p in store.exclusions()}
    moves, new_clusters = _match(table, labels, owners, min_size, excluded)
    created, removed = store.write(moves, new_clusters, table)
    step(4, "done")
    after = table.person.copy()
    for face_id, person_id in moves.items():
        after[position[face_id]] = -1 if person_id is None else person_id
    for faces, person_id in zip(new_clusters, created, strict=True):
        for face_id in faces:
            after[position[face_id]] = person_id
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


def _match(table, labels, owners, min_size: int, excluded: set):
    """(moves for faces clustering may move, new clusters as lists of face ids)."""
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
            if wanted != (None if table.person[i] < 0 else int(table.person[i])):
                moves[face_id] = wanted
    return moves, new_clusters
