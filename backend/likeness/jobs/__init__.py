"""Long work as jobs: a record in the database (state, progress, result, error),
one runner interface (in-process threads by default), and ``follow`` to show a job's
progress as a bar. See ``../shared/ARCHITECTURE.md`` "One way to run long work"."""

from likeness.jobs.records import (
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    JobRecord,
    JobStore,
)
from likeness.jobs.runner import TASKS, InProcessRunner, Progress, follow, task

__all__ = [
    "FAILED",
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "TASKS",
    "InProcessRunner",
    "JobRecord",
    "JobStore",
    "Progress",
    "follow",
    "task",
]
