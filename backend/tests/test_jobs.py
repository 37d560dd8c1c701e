"""Jobs (issue 12's groundwork): the record in the database, the in-process runner,
locks that one job holds at a time, interrupted jobs, and the HTTP and CLI views.
On SQLite and PostgreSQL (``db_url``)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

from likeness.errors import JobNotFoundError, JobRunningError, NoFaceError
from likeness.jobs import FAILED, SUCCEEDED, InProcessRunner, JobStore, follow, task
from likeness.storage import Database
from likeness.storage.models import Job, utcnow

RELEASE = threading.Event()


@task("test.count")
def _count(context, params, progress):
    for i in range(params["n"]):
        progress(i + 1, params["n"], f"item {i + 1}")
    return {"counted": params["n"], "context": context}


@task("test.wait")
def _wait(context, params, progress):
    progress(0, 1)
    assert RELEASE.wait(20)
    return {"waited": True}


@task("test.no_face")
def _no_face(context, params, progress):
    raise NoFaceError("Nothing to cluster.")


@task("test.bug")
def _bug(context, params, progress):
    raise RuntimeError("a bug with a secret path /srv/x")


@pytest.fixture
def store(db_url):
    database = Database(db_url)
    yield JobStore(database)
    database.dispose()


def test_a_job_runs_reports_progress_and_its_result(store):
    runner = InProcessRunner(store, context="lib")
    record = runner.submit("test.count", {"n": 5}, created_by="tester")
    assert record.state == "queued" and record.params == {"n": 5}
    done = runner.wait(record.id, timeout=20)
    assert done.state == SUCCEEDED and done.result == {"counted": 5, "context": "lib"}
    assert (done.done, done.total, done.message) == (5, 5, "item 5")
    assert done.as_dict()["progress"]["fraction"] == 1.0
    assert done.started_at <= done.finished_at and done.created_by == "tester"
    assert [j.id for j in store.list("test.count")] == [record.id]
    assert follow(store, record.id, bar=False).state == SUCCEEDED
    runner.shutdown()


def test_failures_are_recorded_and_the_runner_goes_on(store):
    runner = InProcessRunner(store)
    refused = runner.wait(runner.submit("test.no_face").id, timeout=20)
    assert refused.state == FAILED
    assert refused.error == {"code": "NO_FACE", "message": "Nothing to cluster."}
    bug = runner.wait(runner.submit("test.bug").id, timeout=20)
    assert bug.state == FAILED and bug.error["code"] == "INTERNAL_ERROR"
    assert "/srv" not in bug.error["message"]  # details stay in the server log
    assert runner.wait(runner.submit("test.count", {"n": 1}).id, timeout=20).state == SUCCEEDED
    runner.shutdown()


def test_one_job_per_lock_even_across_processes(store, db_url):
    RELEASE.clear()
    runner = InProcessRunner(store)
    first = runner.submit("test.wait", lock="cluster:g1")
    other = JobStore(Database(db_url))  # another process's view of the same database
    with pytest.raises(JobRunningError) as caught:
        other.create("test.wait", lock="cluster:g1")
    assert caught.value.job_id == first.id and caught.value.details() == {"job_id": first.id}
    other.create("test.wait", lock="cluster:g2")  # another gallery: fine
    RELEASE.set()
    assert runner.wait(first.id, timeout=20).state == SUCCEEDED
    again = runner.submit("test.count", {"n": 1}, lock="cluster:g1")  # free again
    assert runner.wait(again.id, timeout=20).state == SUCCEEDED
    other.db.dispose()
    runner.shutdown()


def test_jobs_of_a_stopped_process_are_interrupted_and_free_their_lock(store):
    old = store.create("test.wait", lock="cluster:g1")
    store.start(old.id)
    long_ago = utcnow() - timedelta(hours=1)
    with store.db.session() as session:
        row = session.get(Job, old.id)
        row.heartbeat_at = row.created_at = long_ago
    fresh = store.create("test.wait", lock="cluster:g2")  # just queued: left alone
    runner = InProcessRunner(store, stale_after=timedelta(minutes=5))
    gone = store.get(old.id)
    assert gone.state == FAILED and gone.error["code"] == "INTERRUPTED"
    assert store.get(fresh.id).state == "queued"
    store.create("test.wait", lock="cluster:g1")  # the lock is free
    runner.shutdown()


def test_unknown_jobs_and_kinds(store):
    with pytest.raises(JobNotFoundError):
        store.get("nope")
    runner = InProcessRunner(store)
    with pytest.raises(Exception) as caught:
        runner.submit("no.such.kind")
    assert getattr(caught.value, "code", "") == "VALIDATION_ERROR"
    runner.shutdown()


def test_jobs_over_http_and_the_cli(client, make_settings, tmp_path):
    from likeness.api.routes_gallery import LIBRARY

    lib = client.application.extensions[LIBRARY]
    runner = InProcessRunner(lib.jobs, context="the library")
    record = runner.wait(runner.submit("test.count", {"n": 3}).id, timeout=20)
    answer = client.get(f"/api/jobs/{record.id}")
    assert answer.status_code == 200 and answer.json["state"] == "succeeded"
    assert answer.json["progress"] == {"done": 3, "total": 3, "fraction": 1.0}
    listing = client.get("/api/jobs?kind=test.count").json["jobs"]
    assert [j["id"] for j in listing] == [record.id]
    missing = client.get("/api/jobs/0123")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "JOB_NOT_FOUND"
    assert client.get("/api/jobs?limit=0").status_code == 400
    runner.shutdown()

    data_dir = client.application.config["LIKENESS"].data_dir
    env = {"LIKENESS_DATA_DIR": str(data_dir), "PATH": "", "HOME": str(tmp_path)}
    base = [sys.executable, "-m", "likeness.cli", "jobs"]
    listed = subprocess.run([*base, "--json"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert [j["id"] for j in json.loads(listed.stdout)] == [record.id]
    text = subprocess.run(base, env=env, capture_output=True, text=True).stdout
    assert record.id in text and "succeeded" in text and "3/3" in text


def test_progress_writes_are_throttled(store):
    from likeness.jobs import Progress

    record = store.create("test.count")
    assert store.start(record.id)
    progress = Progress(store, record.id, interval=60)
    progress(1, 10)  # the first write goes through
    for i in range(2, 1000):
        progress(i, 10)
    assert store.get(record.id).done == 1
    progress.flush()
    assert store.get(record.id).done == 999
    time.sleep(0)


@task("test.not_json")
def _not_json(context, params, progress):
    return ["a list, not a dict"]


@task("test.bad_progress")
def _bad_progress(context, params, progress):
    progress(1, 2, "a message with a NUL \x00 inside")
    raise NoFaceError("Nothing here.")


def test_a_live_process_keeps_its_queued_jobs_and_nothing_finished_comes_back(store):
    RELEASE.clear()
    runner = InProcessRunner(store, heartbeat_seconds=0.05)
    first = runner.submit("test.wait", lock="cluster:a")
    waiting = runner.submit("test.count", {"n": 2}, lock="cluster:b")  # queued behind
    time.sleep(0.3)  # several beats
    other = InProcessRunner(store, stale_after=timedelta(seconds=0.2))  # another process
    assert store.get(waiting.id).state == "queued"  # beaten: not stale
    with pytest.raises(JobRunningError):
        store.create("test.count", lock="cluster:b")
    RELEASE.set()
    assert runner.wait(first.id, timeout=20).state == SUCCEEDED
    done = runner.wait(waiting.id, timeout=20)
    assert done.state == SUCCEEDED and (done.done, done.total) == (2, 2)
    time.sleep(0.2)  # beats after the end change nothing
    assert store.get(waiting.id).done == 2
    assert not store.start(waiting.id) and not store.fail(waiting.id, "X", "late")
    assert store.get(waiting.id).state == SUCCEEDED
    runner.shutdown()
    other.shutdown()


def test_a_job_never_stays_running(store):
    runner = InProcessRunner(store)
    odd = runner.wait(runner.submit("test.not_json").id, timeout=20)
    assert odd.state == FAILED and odd.error["code"] == "INTERNAL_ERROR"
    bad = runner.wait(runner.submit("test.bad_progress", lock="x").id, timeout=20)
    assert bad.state == FAILED and bad.error["code"] == "NO_FACE"
    runner.shutdown()
    with pytest.raises(RuntimeError):
        runner.submit("test.count", {"n": 1}, lock="x")
    store.create("test.count", lock="x")  # the refused submission holds no lock


def test_job_ids_and_kinds_are_checked(client, store):
    from likeness.api.routes_gallery import LIBRARY

    record = client.application.extensions[LIBRARY].jobs.create("test.count")
    assert client.get(f"/api/jobs/{record.id}").status_code == 200
    assert client.get(f"/api/jobs/{record.id}EXTRA").status_code == 404
    assert client.get(f"/api/jobs/{'f' * 5000}").status_code == 404
    assert client.get("/api/jobs?kind=a%00").status_code == 400
