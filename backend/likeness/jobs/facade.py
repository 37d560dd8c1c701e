"""The library's job methods, mixed into ``FaceRecognitionLibrary`` (which provides
``settings``, ``jobs`` and ``_runner``): which runner runs jobs, and distributed
indexing. Kept here so the facade stays small."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from likeness.errors import ValidationError
from likeness.jobs.records import JobRecord
from likeness.jobs.runner import InProcessRunner

#: the kind of a distributed indexing job (its parts run as ``likeness.index_batch``)
INDEX_KIND = "index"


class JobsMixin:
    @property
    def runner(self):
        """This library's job runner, made on first use: Celery workers when a broker
        is configured (``LIKENESS_BROKER_URL``), else threads of this process."""
        if self._runner is None:
            if self.settings.broker_url:
                from likeness.jobs.celery_app import CeleryRunner

                self._runner = CeleryRunner(self.jobs, self.settings)
            else:
                self._runner = InProcessRunner(self.jobs, self)
        return self._runner

    def index_distributed(
        self,
        files: Sequence[Path],
        persons: Sequence[str] | None = None,
        *,
        source: str | None = None,
        created_by: str | None = None,
        batch_size: int | None = None,
    ) -> JobRecord:
        """Queue ``files`` for the Celery workers in batches of
        ``settings.index_batch_size``; returns the job at once (``follow`` it). The
        files must be readable at the same paths on every worker (a shared volume).
        ``persons``: a name per file, resolved to people here, once."""
        if not self.settings.broker_url:
            raise ValidationError(
                "Distributed indexing needs a job queue: set LIKENESS_BROKER_URL "
                "(e.g. redis://127.0.0.1:6379/0) and start workers (likeness worker)."
            )
        paths = [str(Path(f).resolve()) for f in files]
        person_ids = self._resolve_persons(persons) if persons is not None else None
        size = batch_size or self.settings.index_batch_size
        batches = []
        for start in range(0, len(paths), size):
            batch: dict = {"paths": paths[start : start + size]}
            if person_ids is not None:
                batch["persons"] = person_ids[start : start + size]
            batches.append(batch)
        runner = self.runner
        record = self.jobs.create(INDEX_KIND, {"source": source, "files": len(paths),
                                               "parts": len(batches), "batch": size},
                                  created_by=created_by)  # fmt: skip
        self.jobs.progress_total(record.id, len(paths))
        if not batches:
            self.jobs.finish_parts(record.id)
            return self.jobs.get(record.id)
        try:
            runner.send_batches(record.id, batches)
        except Exception as error:  # noqa: BLE001 - the broker is down: the job cannot run
            self.jobs.fail(
                record.id, "BROKER_UNAVAILABLE", f"The job queue is unreachable: {error}"
            )
            raise
        return self.jobs.get(record.id)
