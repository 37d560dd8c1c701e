"""Clustering (issue 12, first part): the chunked kNN graph and the two graph
methods under cannot-link and must-link constraints, on synthetic identities."""

from __future__ import annotations

import numpy as np
import pytest

from likeness.clustering import chinese_whispers, knn_edges, threshold_components


def people(n_people=30, per=6, dim=64, spread=0.25, seed=0):
    """Unit vectors around ``n_people`` random centres; returns (vectors, truth)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, dim))
    truth = np.repeat(np.arange(n_people), per)
    x = centres[truth] + spread * rng.normal(size=(len(truth), dim)) * np.sqrt(dim) / 4
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), truth


def same_partition(a, b) -> bool:
    pairs = {(int(x), int(y)) for x, y in zip(a, b, strict=True)}
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_the_chunked_graph_is_the_exact_knn_graph():
    x, _ = people(n_people=10, per=5)
    whole = knn_edges(x, k=4, chunk=10_000)
    chunks = knn_edges(x, k=4, chunk=7)
    assert len(whole) == len(chunks) > 0
    assert set(zip(whole.a.tolist(), whole.b.tolist(), strict=True)) == set(
        zip(chunks.a.tolist(), chunks.b.tolist(), strict=True)
    )
    assert (whole.a < whole.b).all() and (np.diff(whole.similarity) <= 1e-7).all()
    sims = x @ x.T
    np.testing.assert_allclose(whole.similarity, sims[whole.a, whole.b], atol=1e-5)
    brute = np.argsort(-sims, axis=1)[:, 1:5]  # every vector's 4 nearest are edges
    edges = set(zip(whole.a.tolist(), whole.b.tolist(), strict=True))
    for i, row in enumerate(brute):
        for j in row:
            assert (min(i, j), max(i, j)) in edges
    assert len(knn_edges(x[:1])) == 0


@pytest.mark.parametrize("method", [threshold_components, chinese_whispers])
def test_well_separated_people_are_found(method):
    x, truth = people()
    labels = method(len(x), knn_edges(x, k=8), 0.5)
    assert same_partition(labels, truth)


@pytest.mark.parametrize("method", [threshold_components, chinese_whispers])
def test_two_faces_of_one_photo_are_never_one_person(method):
    x, truth = people(n_people=5, per=6)
    groups = np.arange(len(x))
    groups[1] = groups[0]  # faces 0 and 1 (the same person) are in one photo
    groups[7] = groups[6]
    labels = method(len(x), knn_edges(x, k=8), 0.3, groups=groups)
    assert labels[0] != labels[1] and labels[6] != labels[7]
    # the people without a constraint are untouched
    rest = np.flatnonzero(truth >= 2)
    assert same_partition(labels[rest], truth[rest])


@pytest.mark.parametrize("method", [threshold_components, chinese_whispers])
def test_must_links_hold_even_without_an_edge(method):
    x, truth = people(n_people=4, per=5)
    must = [np.array([0, 5])]  # a user confirmed a face of person 1 as person 0
    labels = method(len(x), knn_edges(x, k=6), 0.5, must=must)
    assert labels[0] == labels[5]


def test_the_threshold_decides_single_linkage_chains():
    # a chain a - b - c where only a-b is strong
    x = np.array([[1, 0, 0], [0.9, 0.436, 0], [0.5, 0.866, 0]], np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    edges = knn_edges(x, k=2)
    assert threshold_components(3, edges, 0.85).tolist() == [0, 0, 1]  # a-b 0.90
    assert threshold_components(3, edges, 0.8).tolist() == [0, 0, 0]  # b-c 0.83
    assert threshold_components(3, edges, 0.95).tolist() == [0, 1, 2]


def test_above_the_exact_limit_an_ivf_graph_finds_the_same_people():
    """Millions of faces use IVF with compressed codes (float16 input is fine):
    the edges that matter are found and the people come out the same."""
    from likeness.clustering.graph import knn_index

    x, truth = people(n_people=150, per=20, dim=128, spread=0.2, seed=3)
    exact = knn_edges(x, k=8, min_similarity=0.5)
    index = knn_index(x.astype(np.float16), exact_limit=1000, nprobe=8)
    assert not isinstance(index, __import__("faiss").IndexFlatIP)
    approx = knn_edges(x.astype(np.float16), k=8, min_similarity=0.5, index=index)
    found = set(zip(approx.a.tolist(), approx.b.tolist(), strict=True))
    wanted = set(zip(exact.a.tolist(), exact.b.tolist(), strict=True))
    assert len(found & wanted) / len(wanted) >= 0.9
    assert same_partition(threshold_components(len(x), approx, 0.5), truth)


def test_incremental_decisions_join_start_or_wait():
    from likeness.clustering.incremental import decide

    # faces 1-3 are person 7 (photos 1-3); 10 and 11 are new, 12 is new and alone
    photo_of = {1: 1, 2: 2, 3: 3, 4: 4, 10: 10, 11: 11, 12: 3, 13: 13}
    person_of = {1: 7, 2: 7, 3: 7, 4: None, 10: None, 11: None, 12: None, 13: None}
    photos_of = {7: {1, 2, 3}}
    neighbours = np.array(
        [
            [10, 2, 11, -1],  # face 10: nearest person 7 -> joins it
            [11, 4, 13, -1],  # face 11: unassigned neighbours 4 (0.6), 13 (0.3 < t)
            [12, 1, -1, -1],  # face 12: person 7 holds its photo (3): may not join
            [13, 11, -1, -1],  # face 13: 11 already in a cluster; below threshold
        ]
    )
    scores = np.array(
        [[1, 0.8, 0.45, 0], [1, 0.6, 0.3, 0], [1, 0.9, 0, 0], [1, 0.3, 0, 0]], np.float32
    )
    made = iter([100, 101])
    decisions = decide(
        [10, 11, 12, 13],
        photo_of,
        person_of,
        photos_of,
        scores,
        neighbours,
        threshold=0.4,
        min_size=2,
        new_person=lambda: next(made),
    )
    assert decisions == [([10], 7), ([11, 4], 100)]
    assert person_of[12] is None and person_of[13] is None  # both wait
    assert photos_of[100] == {11, 4} and 10 in photos_of[7]


def _table(vectors, image, person):
    from likeness.clustering.store import FaceTable

    n = len(vectors)
    v = np.asarray(vectors, np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return FaceTable(
        ids=np.arange(1, n + 1),
        image=np.asarray(image),
        person=np.asarray(person),
        fixed=np.zeros(n, bool),
        vectors=v.astype(np.float16),
    )


def test_a_face_stays_in_its_person_only_while_like_the_others():
    """A face left alone by a run (its cluster too small) stays in its person while
    it is like the person's OTHER faces and no face of its photo ends there."""
    from likeness.clustering.run import _match

    owners = np.full(4, -1)
    # faces 1-3 are person 7; the run found 1+2 and left 3 alone
    like = _table([[1, 0.1, 0], [1, 0, 0.1], [1, 0.1, 0.1], [0, 1, 0]], [1, 2, 3, 4], [7, 7, 7, -1])
    labels = np.array([0, 0, 1, 2])
    assert _match(like, labels, owners, 2, set(), 0.4)[0] == {}  # 3 stays
    assert _match(like, labels, owners, 2, set())[0] == {3: None}  # without: it leaves
    assert _match(like, labels, owners, 2, {(3, 7)}, 0.4)[0] == {3: None}  # excluded
    # two unlike faces of one person: a face never vouches for itself, so 2 leaves
    pair = _table([[1, 0, 0], [0, 1, 0]], [1, 2], [5, 5])
    assert _match(pair, np.array([0, 1]), np.full(2, -1), 2, set(), 0.4)[0] == {2: None}


def test_a_face_never_stays_beside_another_face_of_its_photo():
    from likeness.clustering.run import _match

    # face 1 (photo 10) was person 7; the run put face 3 (also photo 10) with 7's
    # faces 2 and 4 instead and left face 1 alone: face 1 may not stay
    t = _table(
        [[1, 0, 0], [1, 0.1, 0], [1, 0, 0.1], [1, 0.1, 0.1]], [10, 11, 10, 12], [7, 7, -1, 7]
    )
    moves, _ = _match(t, np.array([0, 1, 1, 1]), np.full(4, -1), 2, set(), 0.4)
    assert moves == {1: None, 3: 7}
