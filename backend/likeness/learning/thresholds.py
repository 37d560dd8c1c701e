"""Decision thresholds per model version, stored in the database with their
history (``../shared/ARCHITECTURE.md``: "Per model version").

The threshold in force for a model version is, in order:

1. an explicitly set override (``LIKENESS_MATCH_THRESHOLD`` /
   ``LIKENESS_SEARCH_THRESHOLD``, or the same keys in the YAML file);
2. the newest threshold set stored for this model version (``likeness calibrate
   --adopt``, ``likeness thresholds set``, ``POST /api/thresholds``);
3. the settings' per-pack defaults.

Sets are append-only: going back to an older one appends a copy of it, so the
history always reads old -> new. Every process re-reads the newest set at most
``threshold_refresh_seconds`` after it was stored: a running service adopts new
thresholds without a restart.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from likeness.errors import ThresholdSetNotFoundError, ValidationError
from likeness.gallery.store import MAX_ID
from likeness.settings import DEFAULT_GALLERY_THRESHOLDS, DEFAULT_THRESHOLDS, Settings
from likeness.storage.db import Database
from likeness.storage.models import ThresholdSetRow

log = logging.getLogger(__name__)

KINDS = ("verify", "search")
#: ``adopt(verify=KEEP)``: leave that threshold as it is in force now
KEEP: Any = object()
NOTE_MAX = 500
ADOPT_ATTEMPTS = 20  # writers racing for the same model version retry this often
clock = time.monotonic  # when the newest set was last read (tests move it)


@dataclass(frozen=True)
class ThresholdSet:
    """One stored set: its values (``None``: the settings' default) and provenance."""

    id: int
    model_pack: str
    model_version: str
    verify: float | None
    search: float | None
    source: dict = field(default_factory=dict)
    note: str | None = None
    restored_from: int | None = None
    created_by: str | None = None
    created_at: datetime | None = None

    @classmethod
    def from_row(cls, row: ThresholdSetRow) -> ThresholdSet:
        return cls(
            row.id,
            row.model_pack,
            row.model_version,
            row.verify,
            row.search,
            dict(row.source or {}),
            row.note,
            row.restored_from,
            row.created_by,
            row.created_at,
        )

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "model_pack": self.model_pack,
            "model_version": self.model_version,
            "verify": self.verify,
            "search": self.search,
            "source": self.source,
            "note": self.note,
            "restored_from": self.restored_from,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


@dataclass(frozen=True)
class InForce:
    """One threshold as it is applied: its value and where it comes from
    (``override``, ``database`` or ``default``)."""

    value: float
    origin: str
    set_id: int | None = None

    def as_dict(self) -> dict:
        return {"value": self.value, "origin": self.origin, "set_id": self.set_id}


def check_value(value: float | None, name: str) -> float | None:
    """A threshold must be a cosine similarity strictly between -1 and 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{name} must be a number.", field=name)
    value = float(value)
    if not math.isfinite(value) or not -1 < value < 1:
        raise ValidationError(f"{name} must lie between -1 and 1.", field=name)
    return value


class ThresholdBook:
    """The thresholds of one model version: what is in force, its history, and
    adopting or restoring a set. Thread-safe; cheap to ask (cached)."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        model_pack: str,
        model_version: str,
        refresh_seconds: float | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.model_pack = model_pack
        self.model_version = model_version
        self.refresh_seconds = (
            settings.threshold_refresh_seconds if refresh_seconds is None else refresh_seconds
        )
        self._lock = threading.Lock()
        self._cached: tuple[float, ThresholdSet | None] | None = None

    # -- what is in force ---------------------------------------------------------
    def verify(self) -> float:
        """The 1:1 threshold in force."""
        return self.in_force("verify").value

    def search(self) -> float:
        """The 1:N threshold in force."""
        return self.in_force("search").value

    def in_force(self, kind: str) -> InForce:
        override = (
            self.settings.match_threshold if kind == "verify" else self.settings.search_threshold
        )
        if override is not None:
            return InForce(float(override), "override")
        stored = self.latest()
        value = None if stored is None else getattr(stored, kind)
        if value is not None:
            return InForce(float(value), "database", stored.id)
        return InForce(self.default(kind), "default")

    def default(self, kind: str) -> float:
        """The settings' value for this pack."""
        if kind == "verify":
            table, fallback = self.settings.thresholds, DEFAULT_THRESHOLDS
        else:
            table, fallback = self.settings.gallery_thresholds, DEFAULT_GALLERY_THRESHOLDS
        return float(
            table.get(self.model_pack, fallback.get(self.model_pack, fallback["buffalo_l"]))
        )

    def describe(self) -> dict:
        """Both thresholds in force with their origins, and the stored set."""
        stored = self.latest()
        return {
            "model_pack": self.model_pack,
            "model_version": self.model_version,
            "verify": self.in_force("verify").as_dict(),
            "search": self.in_force("search").as_dict(),
            "defaults": {kind: self.default(kind) for kind in KINDS},
            "set": None if stored is None else stored.as_dict(),
        }

    def latest(self) -> ThresholdSet | None:
        """The newest stored set, re-read at most every ``refresh_seconds``. When
        the database cannot be read, the last known set stays in force."""
        cached = self._cached
        now = clock()
        if cached is not None and now - cached[0] < self.refresh_seconds:
            return cached[1]
        try:
            found = self._read_latest()
        except SQLAlchemyError:
            if cached is None:
                raise
            log.warning("thresholds: the database could not be read; the last set stays")
            return cached[1]
        self._cached = (now, found)
        return found

    def _read_latest(self) -> ThresholdSet | None:
        with self.database.session() as session:
            row = session.scalars(self._query().limit(1)).first()
            return None if row is None else ThresholdSet.from_row(row)

    def _query(self):
        return (
            select(ThresholdSetRow)
            .where(
                ThresholdSetRow.model_pack == self.model_pack,
                ThresholdSetRow.model_version == self.model_version,
            )
            .order_by(ThresholdSetRow.id.desc())
        )

    def forget(self) -> None:
        """Read the database again at the next question."""
        self._cached = None

    # -- history and changes -----------------------------------------------------
    def history(self, limit: int = 50) -> list[ThresholdSet]:
        """Stored sets of this model version, newest first."""
        with self.database.session() as session:
            rows = session.scalars(self._query().limit(limit)).all()
            return [ThresholdSet.from_row(row) for row in rows]

    def get(self, set_id: int) -> ThresholdSet:
        with self.database.session() as session:
            row = session.get(ThresholdSetRow, set_id) if 1 <= set_id <= MAX_ID else None
            if (
                row is None
                or row.model_pack != self.model_pack
                or row.model_version != self.model_version
            ):
                raise ThresholdSetNotFoundError(
                    f"No threshold set {set_id} for {self.model_pack} ({self.model_version[:12]})."
                )
            return ThresholdSet.from_row(row)

    def adopt(
        self,
        verify: float | None = KEEP,
        search: float | None = KEEP,
        *,
        source: dict | None = None,
        note: str | None = None,
        created_by: str | None = None,
        restored_from: int | None = None,
    ) -> ThresholdSet:
        """Store a new set and put it in force. ``KEEP`` keeps a threshold as the
        newest stored set has it; ``None`` returns it to the settings' default."""
        if verify is KEEP and search is KEEP:
            raise ValidationError("Give a verify or search threshold to change.")
        if note is not None and len(note) > NOTE_MAX:
            raise ValidationError(f"note is longer than {NOTE_MAX} characters.", field="note")
        given = {}
        for kind, value in (("verify", verify), ("search", search)):
            if value is not KEEP:
                given[kind] = check_value(value, kind)
        for attempt in range(ADOPT_ATTEMPTS):
            try:
                made = self._append(given, source or {}, note, created_by, restored_from)
                break
            except IntegrityError:  # another writer appended to the same set first
                if attempt == ADOPT_ATTEMPTS - 1:
                    raise
        self.forget()
        log.info(
            "thresholds adopted",
            extra={"set_id": made.id, "verify": made.verify, "search": made.search},
        )
        return made

    def _append(self, given: dict, source: dict, note, created_by, restored_from) -> ThresholdSet:
        """One attempt: the newest set with ``given`` changed, appended after it. The
        unique (model, previous set) pair makes a writer that raced another fail."""
        with self._lock, self.database.session() as session:
            self._writers_in_turn(session)
            previous = session.scalars(self._query().limit(1)).first()
            values, origins = dict(given), dict(source)
            for kind in KINDS:
                if kind not in given and previous is not None:
                    values[kind] = getattr(previous, kind)
                    if kind in (previous.source or {}):  # a kept value keeps its origin
                        origins.setdefault(kind, previous.source[kind])
            row = ThresholdSetRow(
                model_pack=self.model_pack,
                model_version=self.model_version,
                verify=values.get("verify"),
                search=values.get("search"),
                source=origins,
                note=note,
                restored_from=restored_from,
                previous_id=0 if previous is None else previous.id,
                created_by=created_by,
            )
            session.add(row)
            session.flush()
            return ThresholdSet.from_row(row)

    def _writers_in_turn(self, session) -> None:
        """Take the write lock before reading the newest set, so writers of several
        processes queue instead of racing (the unique previous set still guards)."""
        if session.get_bind().dialect.name == "postgresql":
            key = int.from_bytes(
                hashlib.sha256(f"thresholds:{self.model_version}".encode()).digest()[:8],
                "big",
                signed=True,
            )
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        elif session.get_bind().dialect.name == "sqlite":  # a write statement takes the lock
            session.execute(text("UPDATE threshold_sets SET id = id WHERE id < 0"))

    def restore(self, set_id: int, created_by: str | None = None) -> ThresholdSet:
        """Put an older set back in force (appended as a copy of it)."""
        old = self.get(set_id)
        return self.adopt(
            old.verify,
            old.search,
            source=old.source,
            note=f"restored set {old.id}",
            created_by=created_by,
            restored_from=old.id,
        )


def open_book(
    database: Database, settings: Settings, model_pack: str | None = None
) -> ThresholdBook:
    """The thresholds of a pack's active model version (the command line: no engine
    loaded): the registry's, else the recogniser file's SHA-256."""
    from likeness.engine.modelpack import resolve_pack
    from likeness.storage.models import ModelVersionRow

    pack = model_pack or settings.model_pack
    with database.session() as session:  # the registry's active version, if any
        active = session.scalar(
            select(ModelVersionRow.sha256).where(
                ModelVersionRow.model_pack == pack, ModelVersionRow.status == "active"
            )
        )
    version = active or resolve_pack(settings.model_root, pack, verify=False)[1].sha256
    return ThresholdBook(database, settings, pack, version, refresh_seconds=0)
