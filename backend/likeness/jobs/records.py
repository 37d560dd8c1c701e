"""The job record and its store: one row per piece of long work, in the gallery's
database (SQLite or PostgreSQL), so every process, worker and replica sees the same
state and progress."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from likeness.errors import JobNotFoundError, JobRunningError
from likeness.storage import Database
from likeness.storage.models import Job, JobPart, utcnow

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
ACTIVE = (QUEUED, RUNNING)
JOB_ID = re.compile(r"[0-9a-f]{32}")


def storable(text: str) -> str:
    """Text any database keeps (PostgreSQL refuses NUL)."""
    return text.replace("\x00", "")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: str
    state: str
    done: int
    total: int | None
    message: str | None
    result: dict | None
    error: dict | None
    params: dict | None
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None = None  # last sign of life of whoever runs it

    @classmethod
    def of(cls, row: Job) -> JobRecord:
        return cls(
            row.id,
            row.kind,
            row.state,
            int(row.done or 0),
            row.total,
            row.message,
            row.result,
            row.error,
            row.params,
            row.created_by,
            row.created_at,
            row.started_at,
            row.finished_at,
            row.heartbeat_at,
        )

    @property
    def finished(self) -> bool:
        return self.state not in ACTIVE

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return 1.0 if self.state == SUCCEEDED else None
        return min(self.done / self.total, 1.0)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "progress": {"done": self.done, "total": self.total, "fraction": self.fraction},
            "message": self.message,
            "result": self.result,
            "error": self.error,
            "params": self.params,
            "created_by": self.created_by,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }


class JobStore:
    """Create, advance and read job records."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        kind: str,
        params: dict | None = None,
        *,
        lock: str | None = None,
        created_by: str | None = None,
    ) -> JobRecord:
        """A queued job. With ``lock``, ``JobRunningError`` when another queued or
        running job holds it (the database's partial unique index decides, so two
        processes cannot both win)."""
        row = Job(
            id=uuid.uuid4().hex,
            kind=kind,
            state=QUEUED,
            lock=lock,
            params=params,
            done=0,
            created_by=created_by,
            created_at=utcnow(),
        )
        row.heartbeat_at = row.created_at
        try:
            with self.db.session() as session:
                session.add(row)
                session.flush()
                return JobRecord.of(row)
        except IntegrityError:
            holder = self.holder(lock) if lock else None
            raise JobRunningError(
                f"A {kind} job is already queued or running"
                + (f" (job {holder.id})." if holder else "."),
                job_id=holder.id if holder else None,
            ) from None

    def holder(self, lock: str) -> JobRecord | None:
        with self.db.session() as session:
            row = session.scalars(
                select(Job).where(Job.lock == lock, Job.state.in_(ACTIVE))
            ).first()
            return None if row is None else JobRecord.of(row)

    def get(self, job_id: str) -> JobRecord:
        if not JOB_ID.fullmatch(str(job_id)):
            raise JobNotFoundError(f"No job {str(job_id)[:40]!r}.")
        with self.db.session() as session:
            row = session.get(Job, str(job_id))
            if row is None:
                raise JobNotFoundError(f"No job {job_id!r}.")
            return JobRecord.of(row)

    def list(self, kind: str | None = None, limit: int = 50) -> list[JobRecord]:
        query = select(Job).order_by(Job.created_at.desc()).limit(limit)
        if kind is not None:
            query = query.where(Job.kind == kind)
        with self.db.session() as session:
            return [JobRecord.of(row) for row in session.scalars(query)]

    def _set(self, job_id: str, states: tuple[str, ...], **values) -> bool:
        """Update a job only while it is in one of ``states`` (a finished job never
        comes back); True when it was."""
        with self.db.session() as session:
            done = session.execute(
                update(Job).where(Job.id == job_id, Job.state.in_(states)).values(**values)
            )
            return bool(done.rowcount)

    def start(self, job_id: str) -> bool:
        now = utcnow()
        return self._set(job_id, (QUEUED,), state=RUNNING, started_at=now, heartbeat_at=now)

    def progress(
        self, job_id: str, done: int, total: int | None = None, message: str | None = None
    ) -> None:
        values = {"done": int(done), "heartbeat_at": utcnow()}
        if total is not None:
            values["total"] = int(total)
        if message is not None:
            values["message"] = storable(str(message))[:255]
        self._set(job_id, (RUNNING,), **values)

    def progress_total(self, job_id: str, total: int) -> None:
        """Set the total of a queued or running job (known before any work)."""
        self._set(job_id, ACTIVE, total=int(total))

    def beat(self, job_ids: list[str]) -> None:
        """Mark these jobs as still cared for by a live process (nothing else)."""
        if job_ids:
            with self.db.session() as session:
                session.execute(
                    update(Job)
                    .where(Job.id.in_(job_ids), Job.state.in_(ACTIVE))
                    .values(heartbeat_at=utcnow())
                )

    def succeed(self, job_id: str, result: dict | None) -> bool:
        return self._set(
            job_id, ACTIVE, state=SUCCEEDED, result=result, finished_at=utcnow(), lock=None
        )

    def fail(self, job_id: str, code: str, message: str) -> bool:
        error = {"code": code, "message": storable(message)[:1000]}
        return self._set(job_id, ACTIVE, state=FAILED, error=error, finished_at=utcnow(), lock=None)

    # -- jobs split in parts (distributed indexing) ---------------------------------
    def record_part(self, job_id: str, part: int, done: int, result: dict) -> tuple[int, int]:
        """Store a finished part (a part that ran twice is stored once: the last
        run wins) and move the job's progress on; returns (parts finished, items
        done over them)."""
        for attempt in range(3):
            try:
                with self.db.session() as session:
                    row = session.get(JobPart, (job_id, int(part)))
                    if row is None:
                        session.add(JobPart(job_id=job_id, part=int(part), done=int(done),
                                            result=result, finished_at=utcnow()))  # fmt: skip
                    else:
                        row.done, row.result, row.finished_at = int(done), result, utcnow()
                break
            except IntegrityError:  # the same part, stored by another delivery meanwhile
                if attempt == 2:
                    raise
        with self.db.session() as session:
            parts, items = session.execute(
                select(func.count(), func.coalesce(func.sum(JobPart.done), 0)).where(
                    JobPart.job_id == job_id
                )
            ).one()
        self._set(job_id, ACTIVE, done=int(items), heartbeat_at=utcnow())
        return int(parts), int(items)

    def parts(self, job_id: str) -> list[dict]:
        """The results of a job's finished parts, in part order."""
        with self.db.session() as session:
            rows = session.scalars(
                select(JobPart).where(JobPart.job_id == job_id).order_by(JobPart.part)
            )
            return [dict(row.result or {}, part=row.part) for row in rows]

    def finish_parts(self, job_id: str) -> bool:
        """Succeed a job split in parts with the sum of its parts' counts (and the
        first failures of each); True for the one call that finished it."""
        parts = self.parts(job_id)
        total: dict = {"parts": len(parts)}
        failures: list = []
        for result in parts:
            for key, value in result.items():
                if key == "failures":
                    failures.extend(value)
                elif key != "part" and isinstance(value, (int, float)):
                    total[key] = round(total.get(key, 0) + value, 3)
        total["failures"] = failures[:200]
        return self.succeed(job_id, total)

    def fail_stale(self, older_than: timedelta, kinds: list[str] | None = None) -> int:
        """Mark as failed (``INTERRUPTED``) the queued or running jobs that no live
        process has cared for in ``older_than`` (runners beat every job they hold):
        a stopped process must not hold a lock forever. One statement: a job that
        finishes meanwhile is left alone."""
        cutoff = utcnow() - older_than
        error = {"code": "INTERRUPTED", "message": "The process running this job stopped."}
        stale = [Job.state.in_(ACTIVE), Job.heartbeat_at < cutoff]
        if kinds is not None:  # only jobs such a runner could have run
            stale.append(Job.kind.in_(kinds))
        with self.db.session() as session:
            done = session.execute(
                update(Job)
                .where(*stale)
                .values(state=FAILED, error=error, finished_at=utcnow(), lock=None)
            )
            return int(done.rowcount or 0)
