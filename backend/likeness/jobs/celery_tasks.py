"""The Celery tasks, all of them (``celery_app`` explains delivery and queues):

* ``likeness.run_job(job_id)``: any registered job kind (re-embedding, a model
  switch, a full clustering run), run on a worker with the worker's library as
  its context, exactly as the in-process runner would run it;
* ``likeness.index_batch(job_id, part, batch)``: one batch (about 32 files) of a
  distributed indexing job; the part that completes the job writes its result.

Each worker process builds its context (the library, by the factory ``likeness
worker`` registers with ``use_context``: this layer imports nothing above it) on its
first task."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from celery import shared_task

from likeness.jobs.records import RUNNING
from likeness.jobs.runner import execute

log = logging.getLogger(__name__)

#: failures kept per part in the job's result (the rest are counted)
FAILURES_PER_PART = 20
HEARTBEAT_SECONDS = 30.0
RETRIES = 3  # an indexing batch that raises is tried this many more times

_library = None
_library_pid = -1
_library_lock = threading.Lock()
#: builds a worker's context (the library); set by the layer above (``likeness
#: worker`` in ``likeness.jobs_cli``) before the worker forks its processes
_factory: Callable[[], Any] | None = None


def use_context(factory: Callable[[], Any]) -> None:
    """Say how each worker process builds the context its tasks run with."""
    global _factory
    _factory = factory


def worker_library():
    """This process's library (built once per process, after the fork)."""
    global _library, _library_pid
    with _library_lock:
        if _library is None or _library_pid != os.getpid():
            if _factory is None:
                raise RuntimeError("no worker context: start workers with `likeness worker`")
            _library = _factory()
            _library_pid = os.getpid()
            log.info("worker library ready", extra={"pid": _library_pid})
        return _library


@contextmanager
def _heartbeat(store, job_id: str):
    """Keep the job looking cared for while this worker runs it (a job nobody
    beats for minutes is taken for abandoned)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                store.beat([job_id])
            except Exception:  # noqa: BLE001 - the next beat may work
                log.exception("job heartbeat failed", extra={"job_id": job_id})

    thread = threading.Thread(target=beat, daemon=True, name="job-heartbeat")
    thread.start()
    try:
        yield
    finally:
        stop.set()


@shared_task(name="likeness.run_job", bind=True, max_retries=None)
def run_job(self, job_id: str) -> None:
    from likeness.jobs.records import JobStore

    try:
        lib = worker_library()
    except Exception as error:  # noqa: BLE001 - a worker that cannot work says so
        log.exception("worker cannot run jobs", extra={"job_id": job_id})
        _fail_from_worker(job_id, error)
        return
    store: JobStore = lib.jobs
    record = store.get(job_id)
    if record.finished:  # delivered again after it finished: nothing to do
        return
    if record.state == RUNNING and not _stale(record):
        # delivered again while its first run still beats (a job longer than the
        # visibility timeout): look again later; run it only if that run dies
        raise self.retry(countdown=2 * HEARTBEAT_SECONDS)
    with _heartbeat(store, job_id):
        execute(store, lib, record, resume=record.state == RUNNING)


@shared_task(name="likeness.index_batch", bind=True, max_retries=RETRIES)
def index_batch(self, job_id: str, part: int, batch: dict) -> None:
    """Index ``batch["paths"]`` (with ``batch["persons"]``: person ids, one per
    path) and record the part; the last part finishes the job. A batch that raises
    is tried again (a photo another worker added meanwhile is then skipped); after
    ``RETRIES`` tries its files are recorded as failed, so the job still ends."""
    paths = batch["paths"]
    try:
        lib = worker_library()
        record = lib.jobs.get(job_id)
        if record.finished:
            return
        lib.jobs.start(job_id)  # the first part moves the job to running
        with _heartbeat(lib.jobs, job_id):
            report = lib.index_batch(paths, persons=batch.get("persons"))
        result = {
            "files": len(paths),
            "indexed": report.indexed,
            "skipped": report.skipped,
            "faces": report.faces,
            "unusable_faces": report.unusable,
            "failed": len(report.failed),
            "failures": [f.as_dict() for f in report.failed[:FAILURES_PER_PART]],
            "seconds": round(report.seconds, 3),
        }
    except Exception as error:  # noqa: BLE001 - retried, then recorded: never lost
        if self.request.retries < RETRIES:
            facts = {"job_id": job_id, "part": part, "error": type(error).__name__}
            log.warning("index batch failed; trying again", extra=facts)
            raise self.retry(countdown=2**self.request.retries) from None
        log.exception("index batch failed for good", extra={"job_id": job_id, "part": part})
        code = getattr(error, "code", "INTERNAL_ERROR")
        message = getattr(error, "message", None) or "This batch failed; see the worker log."
        result = {"files": len(paths), "indexed": 0, "skipped": 0, "faces": 0,
                  "unusable_faces": 0, "failed": len(paths),
                  "failures": [{"source": p, "code": code, "message": message}
                               for p in paths[:FAILURES_PER_PART]]}  # fmt: skip
    store = _job_store()
    record = store.get(job_id)
    parts_done, _ = store.record_part(job_id, part, len(paths), result)
    if parts_done >= int(record.params.get("parts", 0)):
        store.finish_parts(job_id)


def _stale(record) -> bool:
    from datetime import timedelta

    from likeness.storage.models import utcnow

    beat = record.heartbeat_at or record.started_at
    return beat is None or utcnow() - beat > timedelta(seconds=3 * HEARTBEAT_SECONDS)


_stores: dict[int, object] = {}


def _job_store():
    """The job records, also for a worker whose library cannot be built (its models
    are missing, say): it must still be able to say so on the job."""
    try:
        return worker_library().jobs
    except Exception:  # noqa: BLE001 - fall back to the database alone
        from likeness.jobs.records import JobStore
        from likeness.settings import load_settings
        from likeness.storage import Database

        if os.getpid() not in _stores:
            settings = load_settings(os.environ.get("LIKENESS_CONFIG"))
            _stores[os.getpid()] = JobStore(Database(settings.sqlalchemy_url))
        return _stores[os.getpid()]


def _fail_from_worker(job_id: str, error: Exception) -> None:
    """Record on the job that this worker cannot run it (e.g. its models are
    missing): better a failed job than one queued forever."""
    try:
        message = getattr(error, "message", None) or str(error)
        _job_store().fail(job_id, "WORKER_UNUSABLE", f"A worker cannot run jobs: {message}")
    except Exception:  # noqa: BLE001 - nothing more to do than log
        log.exception("could not record the worker's failure", extra={"job_id": job_id})
