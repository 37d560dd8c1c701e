"""The gallery's vector index, its consistency with the database and its background
rebuilds, on synthetic unit vectors (fast; no models). SQLite and a real PostgreSQL
for the database parts; PostgreSQL unreachable FAILS (dbtargets)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from likeness.errors import IndexNotFoundError, PersonNotFoundError
from likeness.gallery import Gallery, GalleryStore, IndexConfig, VectorIndex
from likeness.gallery.store import NewFace, NewImage
from likeness.storage import Database

DIM = 512


def unit(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_index_add_search_remove_save_load(kind, tmp_path):
    config = IndexConfig(dim=DIM, exact_max=10 if kind == "hnsw" else 10_000)
    vectors = unit(200)
    ids = np.arange(1000, 1200)
    index = VectorIndex.build(config, ids, vectors)
    assert index.kind == kind
    scores, found = index.search(vectors[:5], 3)
    assert found[:, 0].tolist() == ids[:5].tolist()
    assert np.allclose(scores[:, 0], 1.0, atol=1e-4)

    assert index.remove([1000, 1001, 999_999]) == 2
    assert len(index) == 198
    assert 1000 not in index.ids()
    _, found = index.search(vectors[:1], 10)
    assert 1000 not in found[0]
    live_ids, live_vectors = index.vectors()
    assert sorted(live_ids.tolist()) == list(range(1002, 1200))
    assert not np.any(np.all(live_vectors == 0, axis=1))

    index.meta = {"generation": 7}
    path = tmp_path / "g.faiss"
    index.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["g.faiss"]  # no temporary left
    loaded = VectorIndex.load(path, config)
    assert loaded.kind == kind and loaded.meta["generation"] == 7
    assert loaded.ids().tolist() == index.ids().tolist()
    _, found = loaded.search(vectors[2:3], 1)
    assert found[0, 0] == 1002
    _, found = loaded.search(vectors[:1], 10)
    assert 1000 not in found[0]


def test_hnsw_removal_erases_the_vector_from_the_saved_file(tmp_path):
    config = IndexConfig(dim=DIM, exact_max=5)
    vectors = unit(50, seed=3)
    index = VectorIndex.build(config, np.arange(50), vectors)
    assert index.kind == "hnsw"
    index.remove([7])
    path = tmp_path / "g.faiss"
    index.save(path)
    needle = vectors[7].tobytes()
    assert needle not in path.read_bytes()  # right to erasure: not in the file
    assert vectors[8].tobytes() in path.read_bytes()  # (the check can see vectors)


def test_float16_codes_halve_the_vectors_find_the_same_and_erase_as_well(tmp_path):
    """LIKENESS_GALLERY_INDEX_CODES=float16: the HNSW index holds half-precision
    vectors (half the memory per worker) and answers as the float32 one does."""
    centres = unit(300, seed=4)
    vectors = centres + 0.02 * np.random.default_rng(5).standard_normal(centres.shape)
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    ids = np.arange(1, 301)
    built = {}
    for codes in ("float32", "float16"):
        config = IndexConfig(dim=DIM, exact_max=5, codes=codes)
        built[codes] = VectorIndex.build(config, ids, vectors)
        assert built[codes].kind == "hnsw" and built[codes].codes == codes
    half, full = built["float16"], built["float32"]
    assert half._stored().nbytes * 2 == full._stored().nbytes
    scores16, found16 = half.search(centres[:50], 5)
    scores32, found32 = full.search(centres[:50], 5)
    assert found16[:, 0].tolist() == found32[:, 0].tolist() == ids[:50].tolist()
    assert np.allclose(scores16, scores32, atol=2e-3)
    live, back = half.vectors()
    assert np.allclose(back, vectors, atol=1e-3) and live.tolist() == ids.tolist()
    # erasure: the half-precision vector is gone from memory and from the file
    half.remove([8])
    path = tmp_path / "g16.faiss"
    half.save(path)
    assert not half._stored()[half._labels.tolist().index(8)].any()
    erased = vectors[7].astype(np.float16).tobytes()  # id 8 (ids start at 1)
    assert erased not in path.read_bytes()
    assert vectors[8].astype(np.float16).tobytes() in path.read_bytes()  # the check sees
    assert 8 not in half.search(centres[7:9], 3)[1]
    # a file of the other codes is not used: the gallery rebuilds from the database
    with pytest.raises(IndexNotFoundError, match="float16 vectors"):
        VectorIndex.load(path, IndexConfig(dim=DIM, exact_max=5, codes="float32"))
    assert VectorIndex.load(path, half.config).ntotal == 299


def test_index_switches_kind_with_size_and_rebuilds_after_many_removals():
    config = IndexConfig(dim=DIM, exact_max=100, rebuild_deleted_fraction=0.1)
    index = VectorIndex.build(config, np.arange(100), unit(100))
    assert index.kind == "flat" and not index.needs_rebuild
    index.add(np.arange(100, 150), unit(50, seed=1))
    assert index.needs_rebuild
    index = index.rebuilt()
    assert index.kind == "hnsw" and len(index) == 150
    index.remove(np.arange(0, 20))
    assert index.needs_rebuild  # 20/150 tombstones > 10%
    index = index.rebuilt()
    assert index.kind == "hnsw" and len(index) == 130 and index.ids()[0] == 20
    index.remove(np.arange(20, 60))  # 90 left <= 0.8 * 100: back to exact
    assert index.rebuilt().kind == "flat"


def test_load_missing_index_raises():
    with pytest.raises(IndexNotFoundError):
        VectorIndex.load("/nonexistent/gallery.faiss", IndexConfig())


# --- database + index -------------------------------------------------------------
def new_image(vectors: np.ndarray, tag: str, person_id=None) -> NewImage:
    faces = [NewFace(v, [0, 0, 10, 10], 0.9, 20.0) for v in vectors]
    return NewImage(f"hash-{tag}", 100, 100, faces, image_id=tag, person_id=person_id)


def open_gallery(url: str, path, **kw) -> tuple[Database, Gallery]:
    database = Database(url)
    gallery = Gallery(GalleryStore(database), IndexConfig(dim=DIM, **kw), path).open()
    return database, gallery


def assert_consistent(url: str, path, **kw) -> Gallery:
    database, gallery = open_gallery(url, path, **kw)
    db_ids, db_vectors = gallery.store.embeddings()
    ids, vectors = gallery.index.vectors()
    order = np.argsort(ids)
    assert ids[order].tolist() == db_ids.tolist()
    if len(db_ids):
        assert np.allclose(vectors[order], db_vectors)
    assert gallery.generation == gallery.store.generation()
    database.dispose()
    return gallery


def test_stale_index_is_detected_and_patched(db_url, tmp_path):
    path = tmp_path / "gallery.faiss"
    database, gallery = open_gallery(db_url, path)
    vectors = unit(6, seed=5)
    gallery.add_images([new_image(vectors[:3], "a"), new_image(vectors[3:4], "b")])
    person = gallery.store.create_person("P")
    # A crash after the database commit, before the index is patched and saved:
    gallery.store.add_images([new_image(vectors[4:6], "c", person.id)])
    gallery.store.remove_image("a")
    database.dispose()
    reopened = assert_consistent(db_url, path)
    assert reopened.last_reconcile == {
        "added": 2,
        "removed": 3,
        "generation": reopened.store.generation(),
    }
    # the patched index was saved: a second open has nothing to do
    again = assert_consistent(db_url, path)
    assert again.last_reconcile["added"] == again.last_reconcile["removed"] == 0


def test_other_process_writes_are_seen_before_search(db_url, tmp_path):
    db1, first = open_gallery(db_url, tmp_path / "g1.faiss")
    db2, second = open_gallery(db_url, tmp_path / "g2.faiss")
    vectors = unit(2, seed=9)
    person = first.store.create_person("Q")
    first.add_images([new_image(vectors[:1], "x", person.id)])
    hits = second.search(vectors[0], top_k=1)
    assert hits and hits[0].person_name == "Q" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    second.remove_person(person.id)
    assert first.search(vectors[0], top_k=1) == []
    with pytest.raises(PersonNotFoundError):
        first.remove_person(person.id)
    db1.dispose()
    db2.dispose()


WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from likeness.gallery import Gallery, GalleryStore, IndexConfig
    from likeness.gallery.store import NewFace, NewImage
    from likeness.storage import Database

    url, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    gallery = Gallery(GalleryStore(Database(url)), IndexConfig(dim=512), path).open()
    if mode == "after-commit":
        # die between the database commit and the index update/save
        def apply(change, save=None):
            os.kill(os.getpid(), signal.SIGKILL)
        gallery.apply = apply
    rng = np.random.default_rng(os.getpid())
    step = 0
    while True:
        step += 1
        v = rng.standard_normal((2, 512)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        faces = [NewFace(x, [0, 0, 1, 1], 0.9, 20.0) for x in v]
        gallery.add_images([NewImage(f"h{os.getpid()}-{step}", 10, 10, faces,
                                     image_id=f"{os.getpid()}-{step}")])
        if step % 3 == 0:
            gallery.remove_image(f"{os.getpid()}-{step - 1}")
        print(step, flush=True)
    """
)


@pytest.mark.parametrize("mode", ["after-commit", "random"])
def test_writer_killed_mid_write_leaves_db_and_index_in_agreement(db_url, tmp_path, mode):
    path = tmp_path / "gallery.faiss"
    database, gallery = open_gallery(db_url, path)
    gallery.add_images([new_image(unit(3, seed=1), "base")])
    database.dispose()
    kills = 1 if mode == "after-commit" else 3
    for round_ in range(kills):
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, db_url, str(path), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if mode == "random":
            # let it run a random number of add/remove steps, then SIGKILL it
            target = 5 + 7 * round_
            for line in process.stdout:
                if int(line) >= target:
                    break
            time.sleep(0.003 * round_)
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        assert process.returncode == -signal.SIGKILL, process.stderr.read()
        gallery = assert_consistent(db_url, path)
    assert len(gallery.index) == gallery.store.counts()["faces"] >= 3


# --- background rebuilds ------------------------------------------------------------
@pytest.fixture
def held_build(monkeypatch):
    """Index builds wait for ``release``; ``started`` is set when one begins."""
    started, release = threading.Event(), threading.Event()
    original = VectorIndex.build.__func__

    def slow_build(cls, config, ids, vectors):
        started.set()
        assert release.wait(30)
        return original(cls, config, ids, vectors)

    monkeypatch.setattr(VectorIndex, "build", classmethod(slow_build))
    yield started, release
    release.set()


def test_rebuild_runs_in_the_background_and_catches_up_with_writes(
    db_url, tmp_path, held_build, monkeypatch
):
    path = tmp_path / "gallery.faiss"
    database, gallery = open_gallery(db_url, path, exact_max=20)
    vectors = unit(30, seed=11)
    gallery.add_images([new_image(vectors[i : i + 1], f"i{i}") for i in range(20)])
    assert gallery.index.kind == "flat" and gallery.last_build is None

    started, release = held_build
    # crossing exact_max returns at once: the build waits in its thread
    gallery.add_images([new_image(vectors[i : i + 1], f"i{i}") for i in range(20, 25)])
    assert started.wait(10) and not gallery.wait(0)
    assert gallery.index.kind == "flat"
    # searches and writes go on against the exact index meanwhile
    hits = gallery.search(vectors[22], top_k=1)
    assert hits[0].image_id == "i22" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    gallery.add_images([new_image(vectors[i : i + 1], f"i{i}") for i in range(25, 28)])
    gallery.remove_image("i3")
    release.set()
    assert gallery.wait(30)
    assert gallery.index.kind == "hnsw" and gallery.last_build["source"] == "built"
    assert len(gallery.index) == 27
    hits = gallery.search(vectors[26], top_k=1)  # written during the build: present
    assert hits[0].image_id == "i26"
    assert all(h.image_id != "i3" for h in gallery.search(vectors[3], top_k=30))
    database.dispose()
    monkeypatch.undo()
    reopened = assert_consistent(db_url, path, exact_max=20)  # the saved file is the new one
    assert reopened.index.kind == "hnsw" and len(reopened.index) == 27
    assert reopened.last_build is None  # nothing to build


def test_a_second_process_loads_the_first_ones_build(db_url, tmp_path, monkeypatch):
    path = tmp_path / "gallery.faiss"
    db1, first = open_gallery(db_url, path, exact_max=10)
    db2, second = open_gallery(db_url, path, exact_max=10)
    builds = []
    original = VectorIndex.build.__func__

    def counting_build(cls, config, ids, vectors):
        builds.append(len(ids))
        return original(cls, config, ids, vectors)

    monkeypatch.setattr(VectorIndex, "build", classmethod(counting_build))
    vectors = unit(12, seed=12)
    first.add_images([new_image(vectors[i : i + 1], f"j{i}") for i in range(12)])
    assert first.wait(30) and first.index.kind == "hnsw" and builds == [12]
    # the other process sees the writes before its next search and, needing the
    # same rebuild, takes the saved file instead of building again
    assert second.search(vectors[5], top_k=1)[0].image_id == "j5"
    assert second.wait(30) and second.index.kind == "hnsw"
    assert second.last_build["source"] == "file" and builds == [12]
    db1.dispose()
    db2.dispose()


def test_clearing_during_a_build_discards_it(db_url, tmp_path, held_build):
    path = tmp_path / "gallery.faiss"
    database, gallery = open_gallery(db_url, path, exact_max=5)
    started, release = held_build
    gallery.add_images([new_image(unit(8, seed=13), "many")])
    assert started.wait(10)
    gallery.clear()
    release.set()
    assert gallery.wait(30)
    assert len(gallery.index) == 0 and gallery.index.kind == "flat"
    database.dispose()
