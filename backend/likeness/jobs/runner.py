"""Running jobs: a registry of task kinds, the ``Progress`` handed to a task, and the
in-process runner (the embedded default: a background thread of this process).
A Celery runner (scale-out) implements the same ``submit``.

A task is ``fn(context, params, progress) -> result dict``: ``context`` is what the
runner was built with (the library), ``params`` plain JSON, and ``progress(done,
total, message)`` reports how far it got. Tasks must be idempotent: a retried job
must not duplicate work."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from likeness.errors import LikenessError, ValidationError
from likeness.jobs.records import JobRecord, JobStore

log = logging.getLogger(__name__)

Task = Callable[[Any, dict, "Progress"], "dict | None"]
TASKS: dict[str, Task] = {}


def task(kind: str) -> Callable[[Task], Task]:
    """Register ``fn`` as the task that runs jobs of ``kind``."""

    def register(fn: Task) -> Task:
        TASKS[kind] = fn
        return fn

    return register


class Progress:
    """``progress(done, total=None, message=None)``: stored at most every
    ``interval`` seconds (and by ``flush``), so a tight loop may call it freely."""

    def __init__(self, store: JobStore, job_id: str, interval: float = 0.5) -> None:
        self.store, self.job_id, self.interval = store, job_id, interval
        self._last = 0.0
        self._pending: tuple | None = None

    def __call__(self, done: int, total: int | None = None, message: str | None = None) -> None:
        self._pending = (done, total, message)
        if time.monotonic() - self._last >= self.interval:
            self.flush()

    def flush(self) -> None:
        if self._pending is not None:
            self.store.progress(self.job_id, *self._pending)
            self._pending = None
            self._last = time.monotonic()


def execute(store: JobStore, context: Any, record: JobRecord, *, resume: bool = False) -> None:
    """Run one job to its end and store the outcome (any runner, any process). A job
    no longer queued (failed as stale meanwhile) is not run, unless ``resume``: a
    queue delivered it again after the worker running it died."""
    progress = Progress(store, record.id)
    outcome: tuple = ("INTERNAL_ERROR", "The job failed; see the server log.")
    try:
        if not store.start(record.id) and not resume:
            return
        result = TASKS[record.kind](context, dict(record.params or {}), progress)
        if result is not None and not isinstance(result, dict):
            raise TypeError(f"job result is a {type(result).__name__}, not a dict")
        json.dumps(result)  # stored as JSON: check before the state changes
        outcome = (result,)
    except LikenessError as error:
        outcome = (error.code, error.message)
    except Exception:  # noqa: BLE001 - a job's bug must not kill the runner
        log.exception("job failed", extra={"job_id": record.id, "kind": record.kind})
    try:
        try:
            progress.flush()
        except Exception:  # noqa: BLE001 - the verdict matters more than progress
            log.exception("job progress not stored", extra={"job_id": record.id})
        if len(outcome) == 1:
            store.succeed(record.id, outcome[0])
        else:
            store.fail(record.id, *outcome)
    except Exception:  # noqa: BLE001 - the database failed: the stale check frees it
        log.exception("job outcome not stored", extra={"job_id": record.id})


class InProcessRunner:
    """Runs jobs on ``workers`` background threads of this process. On start, jobs
    left active by a process that stopped beating are marked ``INTERRUPTED``; while
    a job runs, a heartbeat keeps it from looking stale to other processes."""

    def __init__(
        self,
        store: JobStore,
        context: Any = None,
        *,
        workers: int = 1,
        stale_after: timedelta = timedelta(minutes=5),
        heartbeat_seconds: float = 30.0,
    ) -> None:
        self.store = store
        self.context = context
        self.heartbeat_seconds = heartbeat_seconds
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="likeness-job")
        self._futures: dict[str, Future] = {}
        self._held: set[str] = set()  # queued or running here: kept alive by the heartbeat
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # distributed indexing jobs are Celery's alone: never taken for abandoned here
        interrupted = store.fail_stale(stale_after, sorted(TASKS))
        if interrupted:
            log.warning("jobs interrupted by a stopped process", extra={"jobs": interrupted})
        self._beat = threading.Thread(target=self._heartbeat, daemon=True, name="job-heartbeat")
        self._beat.start()

    def submit(
        self,
        kind: str,
        params: dict | None = None,
        *,
        lock: str | None = None,
        created_by: str | None = None,
    ) -> JobRecord:
        """Queue a job of a registered ``kind``; returns its record at once."""
        if kind not in TASKS:
            raise ValidationError(f"Unknown job kind {kind!r}.", field="kind")
        record = self.store.create(kind, params or {}, lock=lock, created_by=created_by)
        with self._lock:
            self._held.add(record.id)
            try:
                self._futures[record.id] = self._pool.submit(self._run, record)
            except RuntimeError:  # shut down: the job must not hold its lock
                self._held.discard(record.id)
                self.store.fail(record.id, "INTERRUPTED", "The runner was shut down.")
                raise
        return record

    def _run(self, record: JobRecord) -> None:
        try:
            execute(self.store, self.context, record)
        finally:
            with self._lock:
                self._held.discard(record.id)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            with self._lock:
                held = list(self._held)
            try:
                self.store.beat(held)
            except Exception:  # noqa: BLE001 - keep beating; the next beat may work
                log.exception("job heartbeat failed")

    def wait(self, job_id: str, timeout: float | None = None) -> JobRecord:
        """Block until a job submitted here has finished; returns its record."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout)
        return self.store.get(job_id)

    def shutdown(self, wait: bool = True) -> None:
        self._stop.set()
        self._pool.shutdown(wait=wait)


def follow(store: JobStore, job_id: str, *, bar: bool = True, poll: float = 0.5) -> JobRecord:
    """Poll a job until it finishes, drawing its progress as a bar (any runner,
    any process)."""
    from tqdm import tqdm

    record = store.get(job_id)
    with tqdm(total=record.total, desc=record.kind, unit="", disable=not bar) as shown:
        while True:
            record = store.get(job_id)
            if record.total is not None and shown.total != record.total:
                shown.total = record.total
            shown.n = record.done
            if record.message:
                shown.set_postfix_str(record.message, refresh=False)
            shown.refresh()
            if record.finished:
                return record
            time.sleep(poll)
