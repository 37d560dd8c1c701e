"""Scale-out (issue 17) against the real Redis and PostgreSQL: Celery workers index
exactly what the in-process indexer indexes, a worker killed with SIGKILL mid-job
loses and duplicates nothing, jobs of any kind run on a worker, and two API
processes on different ports see each other's enrolments.

Redis: ``LIKENESS_TEST_REDIS_URL`` (default redis://127.0.0.1:6379; .ci/run starts
one), database 11, flushed per test. Unreachable: the tests fail, never skip."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from sqlalchemy import func, select

from likeness.library import FaceRecognitionLibrary
from likeness.settings import Settings
from likeness.storage.models import GalleryFace, GalleryImage

from dbtargets import postgres_schema
from support import GunicornServer, lfw_path

REDIS = os.environ.get("LIKENESS_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
BROKER = f"{REDIS}/11"
VISIBILITY = 6  # seconds: a killed worker's task comes back within the test


@pytest.fixture
def broker() -> str:
    import redis

    try:
        redis.Redis.from_url(BROKER, socket_timeout=3).flushdb()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {BROKER}: {exc}. Start it (.ci/run does) or "
                    "set LIKENESS_TEST_REDIS_URL.", pytrace=False)  # fmt: skip
    return BROKER


def _photos(lfw_dir: Path, folder: Path, people: int) -> Path:
    """The photos of the first ``people`` LFW people, copied (a folder to index)."""
    root = lfw_dir / "lfw-deepfunneled"
    for person in sorted(p.name for p in root.iterdir())[:people]:
        shutil.copytree(root / person, folder / person)
    return folder


class Worker:
    """``likeness worker`` in its own process group (so SIGKILL takes it all)."""

    def __init__(self, env: dict, log: Path, name: str, queues: str = "index,jobs") -> None:
        self.log = log
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "likeness"), "worker", "--concurrency", "1",
             "--queues", queues, "--hostname", f"{name}@test", "--loglevel", "INFO"],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def ready(self, timeout: float = 60) -> Worker:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited:\n{self.log.read_text()[-3000:]}")
            if "ready." in self.log.read_text(errors="replace"):
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextlib.contextmanager
def workers(count: int, env: dict, tmp_path: Path, queues: str = "index,jobs"):
    started = []
    try:
        for k in range(count):
            data = tmp_path / f"worker{k}"
            data.mkdir(parents=True)
            worker_env = {**env, "LIKENESS_DATA_DIR": str(data)}
            started.append(Worker(worker_env, tmp_path / f"worker{k}.log", f"w{k}", queues))
        yield [w.ready() for w in started]
    finally:
        for w in started:
            w.stop()


def _in_flight(log: Path) -> set[str]:
    """Task ids a worker's log shows received and not (yet) finished."""
    text = log.read_text(errors="replace")
    received = set(re.findall(r"likeness\.index_batch\[([0-9a-f-]+)\] received", text))
    return {t for t in received if f"[{t}] succeeded" not in text}


def _env(model_root: Path, url: str, broker: str) -> dict:
    env = {
        **os.environ,
        "LIKENESS_MODEL_ROOT": str(model_root),
        "LIKENESS_MODEL_PACK": "buffalo_s",
        "LIKENESS_DATABASE_URL": url,
        "LIKENESS_BROKER_URL": broker,
        "LIKENESS_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY),
    }
    env.pop("LIKENESS_CONFIG", None)
    return env


def _library(model_root: Path, data: Path, url: str | None, **settings) -> FaceRecognitionLibrary:
    return FaceRecognitionLibrary(settings=Settings(
        model_root=model_root, model_pack="buffalo_s", data_dir=data, database_url=url,
        **settings,
    ))  # fmt: skip


def _snapshot(lib: FaceRecognitionLibrary) -> dict[str, list]:
    """content hash -> its faces (box, usable, embedding), in box order."""
    out: dict[str, list] = {}
    with lib.database.session() as session:
        rows = session.execute(
            select(GalleryImage.content_hash, GalleryFace.box, GalleryFace.usable,
                   GalleryFace.embedding).join(GalleryFace,
                                               GalleryFace.image_pk == GalleryImage.id)
        ).all()  # fmt: skip
        images = session.scalars(select(GalleryImage.content_hash)).all()
    for content_hash in images:
        out.setdefault(content_hash, [])
    for content_hash, box, usable, blob in rows:
        out[content_hash].append((box, usable, np.frombuffer(blob, np.float32)))
    return {k: sorted(v, key=lambda f: f[0]) for k, v in out.items()}


def _same_gallery(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for content_hash, faces in a.items():
        other = b[content_hash]
        assert len(faces) == len(other), content_hash
        for (box1, usable1, v1), (box2, usable2, v2) in zip(faces, other, strict=True):
            assert np.allclose(box1, box2, atol=1.0) and usable1 == usable2
            assert float(v1 @ v2) > 0.9999  # one ONNX thread against two: rounding only


def test_workers_index_exactly_what_the_in_process_indexer_indexes(
    model_root, lfw_dir, tmp_path, broker
):
    folder = _photos(lfw_dir, tmp_path / "photos", 90)
    files = sorted(folder.rglob("*.jpg"))
    assert len(files) >= 150
    with _library(model_root, tmp_path / "local", None) as local:
        report = local.index_directory(folder)
        assert report.indexed == len(files)
        expected = _snapshot(local)
    with (postgres_schema() as url,
          workers(2, _env(model_root, url, broker), tmp_path),
          _library(model_root, tmp_path / "submit", url, broker_url=broker,
                   index_batch_size=16) as lib):  # fmt: skip
        job = lib.index_directory(folder, distributed=True)
        assert job.total == len(files) and job.params["parts"] == -(-len(files) // 16)
        done = lib.runner.wait(job.id, timeout=600)
        assert done.state == "succeeded", done.error
        assert done.result["indexed"] == len(files) and done.result["failed"] == 0
        assert done.done == len(files)
        _same_gallery(_snapshot(lib), expected)
        # this process's index catches up from the database's change log
        lib.gallery.sync()
        usable = sum(1 for faces in expected.values() for _, u, _ in faces if u)
        assert lib.stats()["index_faces"] == usable > 0
        # workers only write the gallery: no index in memory, none on disk
        for k in (0, 1):
            assert not [p for p in (tmp_path / f"worker{k}").rglob("*") if p.is_file()]
        # the same folder again: every file is known, nothing is added
        again = lib.runner.wait(lib.index_directory(folder, distributed=True).id, 600)
        assert again.result["skipped"] == len(files) and again.result["indexed"] == 0
        assert len(_snapshot(lib)) == len(files)


def test_a_worker_killed_mid_job_loses_and_duplicates_nothing(
    model_root, lfw_dir, tmp_path, broker
):
    folder = _photos(lfw_dir, tmp_path / "photos", 110)
    files = sorted(folder.rglob("*.jpg"))
    with (postgres_schema() as url,
          workers(2, _env(model_root, url, broker), tmp_path) as ws,
          _library(model_root, tmp_path / "submit", url, broker_url=broker,
                   index_batch_size=4) as lib):  # fmt: skip
        job = lib.index_directory(folder, distributed=True)
        deadline = time.monotonic() + 300
        while lib.jobs.get(job.id).done < len(files) // 4:  # a quarter done
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.1)
        while not (taken := _in_flight(tmp_path / "worker0.log")):
            assert time.monotonic() < deadline, "worker 0 never held a batch"
            time.sleep(0.02)
        ws[0].kill()  # mid-batch: its task was taken, not acknowledged
        done = lib.runner.wait(job.id, timeout=600)
        assert done.state == "succeeded", done.error
        assert done.result["parts"] == job.params["parts"]  # every batch, once
        with lib.database.session() as session:
            images = session.scalar(select(func.count()).select_from(GalleryImage))
            distinct = session.scalar(select(func.count(func.distinct(
                    GalleryImage.content_hash))))  # fmt: skip
        assert images == distinct == len(files)  # none lost, none twice
        assert done.result["indexed"] + done.result["skipped"] == len(files)
        # the batch worker 0 held when it died was delivered again, to worker 1
        finished = (tmp_path / "worker1.log").read_text()
        assert any(f"[{task}] succeeded" in finished for task in taken), taken


def test_a_batch_that_fails_is_retried_and_a_broken_worker_cannot_hang_a_job(
    model_root, lfw_dir, tmp_path, broker
):
    folder = _photos(lfw_dir, tmp_path / "photos", 6)
    files = sorted(folder.rglob("*.jpg"))
    # the same photo twice, in batches of one, on two processes: both may pass the
    # "already indexed?" check, and the later insert raises; its retry skips it
    shutil.copy(files[0], files[0].with_name("copy of the first.jpg"))
    with (postgres_schema() as url,
          workers(2, _env(model_root, url, broker), tmp_path),
          _library(model_root, tmp_path / "submit", url, broker_url=broker,
                   index_batch_size=1) as lib):  # fmt: skip
        done = lib.runner.wait(lib.index_directory(folder, distributed=True).id, timeout=300)
        assert done.state == "succeeded", done.error
        assert done.result["indexed"] == len(files) and done.result["skipped"] == 1
        assert done.result["failed"] == 0 and len(_snapshot(lib)) == len(files)
    # a worker whose models are missing: its batches fail, are retried, are recorded
    # as failed: the job ends and says why instead of waiting forever
    broken = {**_env(tmp_path / "no-models", "", broker)}
    with (postgres_schema() as url,
          workers(1, {**broken, "LIKENESS_DATABASE_URL": url}, tmp_path / "b"),
          _library(model_root, tmp_path / "submit2", url, broker_url=broker) as lib):  # fmt: skip
        done = lib.runner.wait(lib.index_directory(folder, distributed=True).id, timeout=300)
        assert done.state == "succeeded" and done.result["failed"] == len(files) + 1
        assert done.result["failures"][0]["code"] == "MODEL_FILES_MISSING"


def test_any_job_kind_runs_on_a_worker(model_root, lfw_dir, tmp_path, broker):
    folder = _photos(lfw_dir, tmp_path / "photos", 12)
    with postgres_schema() as url:
        with _library(model_root, tmp_path / "local", url) as local:
            local.index_directory(folder)
        env = _env(model_root, url, broker)
        with (
            workers(1, env, tmp_path, queues="cluster"),
            _library(model_root, tmp_path / "submit", url, broker_url=broker) as lib,
        ):
            job = lib.runner.submit("cluster", {})
            done = lib.runner.wait(job.id, timeout=300)
            assert done.state == "succeeded", done.error
            assert lib.clusters()[1] > 0


def test_distributed_indexing_without_a_broker_says_what_to_set(model_root, tmp_path):
    from likeness.errors import ValidationError

    with (_library(model_root, tmp_path / "data", None) as lib,
          pytest.raises(ValidationError, match="LIKENESS_BROKER_URL")):  # fmt: skip
        lib.index_directory(tmp_path, distributed=True)
    run = subprocess.run(
        [str(Path(sys.executable).parent / "likeness"), "worker"],
        env={k: v for k, v in os.environ.items() if k != "LIKENESS_BROKER_URL"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2 and "LIKENESS_BROKER_URL" in run.stderr
    assert "Traceback" not in run.stderr


def test_two_api_processes_see_each_others_enrolments(model_root, lfw_dir, tmp_path):
    with postgres_schema() as url:
        env = {"LIKENESS_DATABASE_URL": url}
        a = GunicornServer(model_root, tmp_path / "a", workers=1, **env).start()
        b = GunicornServer(model_root, tmp_path / "b", workers=1, **env).start()
        try:
            person = requests.post(f"{a.url}/api/persons",
                                   json={"name": "Hans Blix", "consent_basis": "test"},
                                   timeout=30).json()  # fmt: skip
            photo = lfw_path(lfw_dir, "Hans_Blix", 7)
            r = requests.post(f"{a.url}/api/persons/{person['id']}/faces",
                              files={"image": (photo.name, photo.read_bytes())},
                              timeout=60)  # fmt: skip
            assert r.status_code == 201, r.text
            enrolled = time.monotonic()
            probe = lfw_path(lfw_dir, "Hans_Blix", 8)
            found = requests.post(f"{b.url}/api/search",
                                  files={"image": (probe.name, probe.read_bytes())},
                                  timeout=60).json()  # fmt: skip
            # the very next search on the other process sees it: each search first
            # replays the database's change log (one small query)
            assert found["identity"]["person_id"] == person["id"], found
            assert time.monotonic() - enrolled < 5
            removed = requests.delete(f"{b.url}/api/persons/{person['id']}", timeout=30)
            assert removed.status_code == 200
            gone = requests.post(f"{a.url}/api/search",
                                 files={"image": (probe.name, probe.read_bytes())},
                                 timeout=60).json()  # fmt: skip
            assert gone["unknown"] is True  # erasure on B reaches A's index at once
        finally:
            a.stop()
            b.stop()


def test_a_process_without_a_broker_leaves_queued_distributed_jobs_alone(tmp_path):
    """A queued indexing job waits for workers as long as it must: a process that
    starts an in-process runner (no broker) does not take it for abandoned."""
    from datetime import timedelta

    from likeness.jobs import InProcessRunner, JobStore
    from likeness.storage import Database

    database = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    database.migrate()
    store = JobStore(database)
    index = store.create("index", {"parts": 3})
    cluster = store.create("cluster", {})
    assert store.fail_stale(timedelta(seconds=-1), ["cluster"]) == 1
    assert store.get(index.id).state == "queued" and store.get(cluster.id).state == "failed"
    runner = InProcessRunner(store, None, stale_after=timedelta(seconds=-1))
    runner.shutdown()
    assert store.get(index.id).state == "queued"
    database.dispose()
