"""The Celery tasks, all of them (``celery_app`` explains delivery and queues):

* ``likeness.run_job(job_id)``: any registered job kind (re-embedding, a model
  switch, a full clustering run), run on a worker with the worker's library as
  its context, exactly as the in-process runner would run it;
* ``likeness.index_batch(job_id, part, batch)``: one batch (about 32 files) of a
  distributed indexing job; the part that completes the job writes its result.

Each worker process builds one ``FaceRecognitionLibrary`` on its first task, from
the environment (``LIKENESS_*``), with ONNX Runtime at one thread unless
``LIKENESS_INTRA_OP_THREADS`` says otherwise: scale by worker processes."""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager

from celery import shared_task

from likeness.jobs.records import RUNNING
from likeness.jobs.runner import execute

log = logging.getLogger(__name__)

#: failures kept per part in the job's result (the rest are counted)
FAILURES_PER_PART = 20
HEARTBEAT_SECONDS = 30.0

_library = None
_library_pid = -1
_library_lock = threading.Lock()


def worker_library():
    """This process's library (built once per process, after the fork)."""
    global _library, _library_pid
    with _library_lock:
        if _library is None or _library_pid != os.getpid():
            from likeness.library import FaceRecognitionLibrary
            from likeness.settings import load_settings

            settings = load_settings(os.environ.get("LIKENESS_CONFIG"))
            if settings.intra_op_threads == 0:  # scale by processes, not threads
                settings = settings.model_copy(update={"intra_op_threads": 1})
            _library = FaceRecognitionLibrary(settings=settings, bulk_workers=1)
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


@shared_task(name="likeness.run_job")
def run_job(job_id: str) -> None:
    lib = worker_library()
    record = lib.jobs.get(job_id)
    if record.finished:  # delivered again after it finished: nothing to do
        return
    # delivered again after its worker died: run it again (tasks are idempotent)
    with _heartbeat(lib.jobs, job_id):
        execute(lib.jobs, lib, record, resume=record.state == RUNNING)


@shared_task(name="likeness.index_batch")
def index_batch(job_id: str, part: int, batch: dict) -> None:
    """Index ``batch["paths"]`` (with ``batch["persons"]``: person ids, one per
    path) and record the part; the last part finishes the job."""
    lib = worker_library()
    record = lib.jobs.get(job_id)
    if record.finished:
        return
    lib.jobs.start(job_id)  # the first part moves the job to running
    paths = batch["paths"]
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
    parts_done, files_done = lib.jobs.record_part(job_id, part, len(paths), result)
    if parts_done >= int(record.params.get("parts", 0)):
        lib.jobs.finish_parts(job_id)
