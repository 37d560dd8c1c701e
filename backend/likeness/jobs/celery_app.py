"""Scale-out: the Celery application and the runner that sends jobs to it.

With ``LIKENESS_BROKER_URL`` set (Redis: ``redis://host:6379/0``), jobs go to Celery
workers (``likeness worker``) instead of threads of the submitting process; the job
record, its progress and its result stay in the shared database, so every API
replica and CLI sees them the same way. Without a broker nothing here is used.

Delivery: late acknowledgement (a task is acknowledged when it has finished), a
task of a worker that died is rejected back to the queue (``task_reject_on_worker
_lost``), and Redis hands an unacknowledged task to another worker once the
visibility timeout has passed (a whole machine lost). One task at a time per worker
process (prefetch 1). Tasks must therefore be idempotent, and they are: indexing
skips content already in the gallery (by hash), a job that has finished is not
run again.

Queues: ``index`` (batches of a distributed indexing job), ``jobs`` (re-embedding,
model switches and other jobs), ``cluster`` (full clustering runs: give it one
worker process, ``likeness worker --queues cluster --concurrency 1``).
"""

from __future__ import annotations

import logging
from functools import lru_cache

from celery import Celery

from likeness.jobs.records import JobRecord, JobStore
from likeness.jobs.runner import TASKS
from likeness.settings import Settings

log = logging.getLogger(__name__)

INDEX_QUEUE, JOBS_QUEUE, CLUSTER_QUEUE = "index", "jobs", "cluster"
QUEUES = (INDEX_QUEUE, JOBS_QUEUE, CLUSTER_QUEUE)
#: job kinds that have a queue of their own
QUEUE_OF_KIND = {"cluster": CLUSTER_QUEUE}


def make_celery(settings: Settings) -> Celery:
    """The Celery app for ``settings.broker_url`` (tasks in ``celery_tasks``)."""
    app = Celery("likeness", broker=settings.broker_url, include=["likeness.jobs.celery_tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # results live in the job records
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=JOBS_QUEUE,
        task_routes={"likeness.index_batch": {"queue": INDEX_QUEUE}},
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout,
            # look for tasks of lost workers every few seconds (kombu's default sweep
            # is every 100 s), so one comes back soon after its visibility timeout
            "unacked_restore_interval": max(1, min(10, settings.broker_visibility_timeout // 3)),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=True,
    )
    return app


@lru_cache(maxsize=4)
def celery_for(broker_url: str, visibility_timeout: int) -> Celery:
    """One app per broker in a process (cached)."""
    return make_celery(
        Settings(broker_url=broker_url, broker_visibility_timeout=visibility_timeout)
    )


class CeleryRunner:
    """The runner of a process with a broker configured: ``submit`` stores the job
    record (queued) and sends ``likeness.run_job`` to the kind's queue."""

    def __init__(self, store: JobStore, settings: Settings) -> None:
        self.store = store
        self.app = celery_for(settings.broker_url, settings.broker_visibility_timeout)

    def submit(self, kind: str, params: dict | None = None, *, lock: str | None = None,
               created_by: str | None = None) -> JobRecord:  # fmt: skip
        from likeness.errors import ValidationError

        if kind not in TASKS:
            raise ValidationError(f"Unknown job kind {kind!r}.", field="kind")
        record = self.store.create(kind, params or {}, lock=lock, created_by=created_by)
        try:
            self.app.send_task(
                "likeness.run_job", args=[record.id], queue=QUEUE_OF_KIND.get(kind, JOBS_QUEUE)
            )
        except Exception as error:  # noqa: BLE001 - the broker is down: say so, free the lock
            self.store.fail(
                record.id, "BROKER_UNAVAILABLE", f"The job queue is unreachable: {error}"
            )
            raise
        return record

    def send_batches(self, job_id: str, batches: list[dict]) -> None:
        """Queue the parts of a distributed indexing job (one task per batch)."""
        for part, batch in enumerate(batches):
            self.app.send_task("likeness.index_batch", args=[job_id, part, batch],
                               queue=INDEX_QUEUE)  # fmt: skip

    def wait(self, job_id: str, timeout: float | None = None) -> JobRecord:
        """Poll the job record until it has finished (``TimeoutError`` after
        ``timeout`` seconds)."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self.store.get(job_id)
            if record.finished:
                return record
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {record.state}")
            time.sleep(0.2)

    def shutdown(self, wait: bool = True) -> None:  # nothing runs here
        return None
