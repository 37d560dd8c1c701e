"""Erasure and index integrity across processes and threads (issue 9): ids are
never reused, the change log brings every process up to date, a stale process
never writes an erased vector back into the index file, and replay is idempotent.
Fast (synthetic vectors, no models); SQLite and a real PostgreSQL."""

from __future__ import annotations

import fcntl
import json
import random
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from alembic import command
from alembic.config import Config
from gallery_worker import DIM, vector
from sqlalchemy import text

from likeness.errors import ValidationError
from likeness.gallery import Gallery, GalleryStore, IndexConfig, VectorIndex
from likeness.gallery.store import NewFace, NewImage
from likeness.storage import Database
from likeness.storage.db import MIGRATIONS

WORKER = Path(__file__).with_name("gallery_worker.py")


def image(seed: int, person_id=None, dim: int = DIM) -> NewImage:
    v = vector(seed) if dim == DIM else np.ones(dim, np.float32) / np.sqrt(dim)
    face = NewFace(v, [0, 0, 1, 1], 0.9, 20.0)
    return NewImage(f"h{seed}", 10, 10, [face], image_id=f"img{seed}", person_id=person_id)


def open_gallery(url, path, **config) -> Gallery:
    config.setdefault("dim", DIM)
    return Gallery(GalleryStore(Database(url)), IndexConfig(**config), path).open()


# --- ids ----------------------------------------------------------------------------
def test_ids_are_never_reused(db_url, tmp_path):
    gallery = open_gallery(db_url, tmp_path / "g.faiss")
    first = gallery.add_images([image(1), image(2)])
    person = gallery.store.create_person("Old")
    gallery.remove_image("img2")  # the highest face id
    gallery.store.remove_person(person.id)
    again = gallery.add_images([image(3)])
    assert again[0][0] > first[1][0]
    assert gallery.store.create_person("New").id > person.id


def _upgrade(url: str, revision: str) -> None:
    database = Database(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    database.dispose()


def test_migration_keeps_rows_and_continues_ids(tmp_path):
    """A gallery made before the change log (0003) keeps every row; new ids start a
    million above the highest (ids erased before are not recorded anywhere)."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _upgrade(url, "0003_gallery")
    _upgrade(url, "0002_feedback")
    database = Database(url)
    with database.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO gallery_persons VALUES (1, 'A', NULL, NULL, 2, :t)"),
            {"t": "2026-01-01"},
        )
        conn.execute(
            text("INSERT INTO gallery_images VALUES (1, 'i1', 'h1', NULL, 1, NULL, 10, 10, :t)"),
            {"t": "2026-01-01"},
        )
        for face_id in (1, 2):
            conn.execute(
                text("INSERT INTO gallery_faces VALUES (:i, 1, 1, '[0,0,1,1]', 0.9, 20, :e, :t)"),
                {"i": face_id, "e": vector(face_id).tobytes(), "t": "2026-01-01"},
            )
        conn.execute(text("INSERT INTO gallery_state VALUES (1, 5, NULL, NULL)"))
    database.migrate()
    with database.engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM gallery_faces")).scalar() == 2
        assert conn.execute(text("SELECT instance FROM gallery_state")).scalar()
        indexes = {r[1] for r in conn.execute(text("PRAGMA index_list('gallery_faces')"))}
        assert {"ix_gallery_faces_image_pk", "ix_gallery_faces_person_usable"} <= indexes
        conn.execute(text("DELETE FROM gallery_faces WHERE id = 2"))
    gallery = Gallery(GalleryStore(database), IndexConfig(dim=DIM), tmp_path / "g.faiss").open()
    assert gallery.index.ids().tolist() == [1]
    # which erased ids SQLite gave before is not recorded: new ids start far above
    assert gallery.add_images([image(9)])[0][0] == 1_000_003  # highest was 2
    assert gallery.store.create_person("New").id == 1_000_002  # highest was 1

    database.dispose()


# --- files and replay -------------------------------------------------------------------
def test_a_stale_process_never_saves_an_erased_vector_back(db_url, tmp_path):
    path = tmp_path / "g.faiss"
    a = open_gallery(db_url, path)
    b = open_gallery(db_url, path)
    a.add_images([image(1), image(2)])
    b.sync()
    assert set(b.index.ids().tolist()) == set(a.index.ids().tolist())
    a.remove_image("img1")
    assert vector(1).tobytes() not in path.read_bytes()
    b.save()  # b has not seen the erasure: the save catches up first
    data = path.read_bytes()
    assert vector(1).tobytes() not in data and vector(2).tobytes() in data
    assert 1 not in b.index.ids().tolist()


def test_an_index_file_of_another_gallery_or_dimension_is_rebuilt(db_url, tmp_path):
    path = tmp_path / "g.faiss"
    a = open_gallery(db_url, path)
    a.add_images([image(1)])
    # a 512-d file opened with a 64-d config: discarded and rebuilt, writes go on
    VectorIndex.build(IndexConfig(dim=512), np.arange(3), np.eye(3, 512, dtype=np.float32)).save(
        path
    )
    b = open_gallery(db_url, path)
    assert b.index.ids().tolist() == a.index.ids().tolist()
    b.add_images([image(2)])
    assert len(b.index) == 2
    # an embedding of the wrong size is refused before anything is committed
    generation = b.store.generation()
    with pytest.raises(ValidationError):
        b.add_images([image(3, dim=512)])
    assert b.store.generation() == generation and b.store.counts()["faces"] == 2
    # the file of another database (same generation numbers) is not trusted
    other = f"sqlite:///{tmp_path / 'other.db'}"
    Database(other).migrate()
    c = open_gallery(other, path)
    assert len(c.index) == 0


def test_sync_and_writes_on_many_threads_never_duplicate_a_face(db_url, tmp_path):
    gallery = open_gallery(db_url, tmp_path / "g.faiss")
    other = open_gallery(db_url, tmp_path / "g.faiss")  # a second writer, as another worker
    errors = []

    def write(base: int, target: Gallery) -> None:
        try:
            for i in range(12):
                target.add_images([image(base + i)], save=False)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def search() -> None:
        try:
            for i in range(40):
                gallery.search(vector(i), top_k=3)
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(1000 * k, gallery)) for k in range(1, 4)]
    threads += [threading.Thread(target=write, args=(9000, other))]
    threads += [threading.Thread(target=search) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    gallery.sync()
    ids = gallery.index.ids()
    assert len(ids) == len(np.unique(ids)) == gallery.store.counts()["faces"] == 48
    assert gallery.index.ntotal == 48


def test_an_erasure_does_not_wait_for_another_process_build(db_url, tmp_path):
    """Inline rebuilds (background off) skip a build another process is running."""
    path = tmp_path / "g.faiss"
    database = Database(db_url)
    gallery = Gallery(
        GalleryStore(database), IndexConfig(dim=DIM, exact_max=4), path, background=False
    ).open()
    gallery.add_images([image(i) for i in range(8)])
    assert gallery.index.kind == "hnsw"
    with open(path.with_name(path.name + ".build.lock"), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # "another process" is building
        done = threading.Event()

        def erase() -> None:
            gallery.remove_image("img0")
            gallery.remove_image("img1")  # 2/8 removed: the graph wants a rebuild
            done.set()

        worker = threading.Thread(target=erase)
        worker.start()
        assert done.wait(20), "the erasure waited for another process's build"
        fcntl.flock(held, fcntl.LOCK_UN)
    worker.join()
    assert vector(0).tobytes() not in path.read_bytes()
    gallery.remove_image("img2")  # the lock is free now: the rebuild runs
    assert gallery.index.needs_rebuild is False and len(gallery.index) == 5


# --- the proof: several processes, random interleavings ----------------------------------
class Worker:
    def __init__(self, url: str, path: Path, exact_max: int, background: bool) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                url,
                str(path),
                str(exact_max),
                "1" if background else "0",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def __call__(self, op: str, **args) -> dict:
        self.process.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"worker died: {self.process.stderr.read()}")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(30)


@pytest.mark.parametrize("exact_max", [10_000, 12], ids=["exact", "hnsw"])
def test_no_process_ever_serves_or_saves_an_erased_face(db_url, tmp_path, exact_max):
    path = tmp_path / "gallery.faiss"
    workers = [Worker(db_url, path, exact_max, background=(k == 0)) for k in range(2)]
    rng = random.Random(20261125 + exact_max)
    live: list[int] = []
    erased: set[int] = set()
    next_seed = 1

    def check() -> None:
        data = path.read_bytes() if path.exists() else b""
        for seed in erased:
            assert vector(seed).tobytes() not in data, f"erased face {seed} in the index file"
        probes = rng.sample(sorted(erased), min(len(erased), 6))
        for worker in workers:
            for seed in probes:
                hits = worker("search", seed=seed)["hits"]
                assert all(h[0] != f"img{seed}" for h in hits), (seed, hits)
                assert all(h[2] < 0.95 for h in hits), (seed, hits)  # nothing in its place

    try:
        # the SQLite id-reuse case first: erase the newest face, add another
        workers[0]("add", seeds=[next_seed, next_seed + 1])
        live += [next_seed, next_seed + 1]
        next_seed += 2
        workers[1]("search", seed=1)
        workers[0]("remove", seed=live.pop())
        erased.add(next_seed - 1)
        workers[0]("add", seeds=[next_seed])
        live.append(next_seed)
        next_seed += 1
        check()
        for _ in range(70):
            worker = rng.choice(workers)
            op = rng.choices(["add", "remove", "clear", "rebuild", "search"], [8, 5, 1, 1, 3])[0]
            if op == "add":
                seeds = list(range(next_seed, next_seed + rng.randint(1, 4)))
                next_seed += len(seeds)
                worker("add", seeds=seeds)
                live += seeds
            elif op == "remove" and live:
                seed = live.pop(rng.randrange(len(live)))
                worker("remove", seed=seed)
                erased.add(seed)
                check()
            elif op == "clear":
                worker("clear")
                erased.update(live)
                live.clear()
                check()
            elif op == "rebuild":
                worker("rebuild")
            elif op == "search" and live:
                seed = rng.choice(live)
                hits = worker("search", seed=seed)["hits"]
                assert hits and hits[0][0] == f"img{seed}" and hits[0][2] > 0.999
        for worker in workers:
            assert worker("wait")["done"]
        check()
        for worker in workers:  # every process ends holding exactly the live faces
            worker("search", seed=1)
            state = worker("state")
            assert len(state["ids"]) == len(set(state["ids"])) == len(live)
    finally:
        for worker in workers:
            worker.close()


def test_a_restored_database_is_never_mixed_with_an_index_of_another_history(tmp_path):
    """A backup restored under running processes: same instance, generation numbers
    that repeat with other changes (and, on SQLite, reused ids)."""
    import sqlite3

    def copy(source, target) -> None:  # SQLite's online backup API, as an operator would
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)

    db_file, backup = tmp_path / "g.db", tmp_path / "backup.db"
    url = f"sqlite:///{db_file}"
    Database(url).migrate()
    path = tmp_path / "g.faiss"
    stale = open_gallery(url, path)
    stale.add_images([image(1), image(2)])
    copy(db_file, backup)  # the backup, at generation 1
    stale.add_images([image(3)])
    stale.add_images([image(4)])  # generation 3; the stale process and file hold face 3
    stale.store.db.dispose()
    copy(backup, db_file)  # restored while `stale` keeps running
    fresh = open_gallery(url, path)  # a restarted worker
    fresh.add_images([image(99)])  # generation 2 again, under other changes
    fresh.add_images([image(98)])  # generation 3 again: the same number as `stale`'s
    for gallery in (stale, fresh):
        hits = gallery.search(vector(3), top_k=5)
        assert all(h.image_id != "img3" and h.score < 0.95 for h in hits), hits
        assert gallery.search(vector(99), top_k=1)[0].image_id == "img99"
    assert vector(3).tobytes() not in path.read_bytes()
