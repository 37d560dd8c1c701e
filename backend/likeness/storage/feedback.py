"""Feedback on verifications: a vote (up/down) and an optional comment per
verification, with the score, decision, model and both embeddings copied from the
verification, and optionally the two aligned face crops.

Export formats (``GET /api/feedback/export?format=...``, ``likeness feedback export``),
one record per vote, oldest first, the same fields in both. ``kind`` says what was
voted on: ``verify`` (a 1:1 verification: ``verification_id``, the two faces'
embeddings) or ``search`` (a search result: ``search_id``, ``face_index``, the
``person_id`` and ``face_id`` shown; ``embedding1`` the query face's, ``embedding2``
the shown face's, ``similarity`` the score shown; see ``search_feedback``):

* ``jsonl``: one JSON object per line; ``embedding1``/``embedding2`` are lists of
  floats (the stored float32 values), ``crop1_jpeg``/``crop2_jpeg`` base64 JPEG or null.
* ``csv``: a header row, then one row per record; ``embedding1``/``embedding2`` are
  base64 of the little-endian float32 bytes (``numpy.frombuffer(base64.b64decode(s),
  "<f4")``), crops base64 JPEG or empty, ``comment`` empty when there is none.

Timestamps are ISO 8601 in UTC. Images are never stored unless
``store_feedback_crops`` is on (then only the 112x112 aligned crops).
"""

from __future__ import annotations

import base64
import csv
import heapq
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TextIO

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from likeness.errors import ValidationError, VerificationNotFoundError
from likeness.storage.db import Database
from likeness.storage.models import (
    Feedback,
    SearchFeedback,
    Verification,
    VerificationCrops,
    utcnow,
)
from likeness.storage.search_feedback import SearchRecords

VOTES = ("up", "down")
FORMATS = ("csv", "jsonl")
EXPORT_FIELDS = (
    "kind",
    "id",
    "verification_id",
    "search_id",
    "face_index",
    "person_id",
    "face_id",
    "created_at",
    "updated_at",
    "model_pack",
    "model_version",
    "similarity",
    "threshold",
    "is_match",
    "face_policy",
    "vote",
    "comment",
    "embedding1",
    "embedding2",
    "crop1_jpeg",
    "crop2_jpeg",
)
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
_BATCH = 200

#: Marks "field not sent" (keep the stored comment) apart from None (clear it).
KEEP = object()


@dataclass
class FeedbackResult:
    record: Feedback
    created: bool


def _utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive datetimes: they are UTC
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


#: Base64 columns: never neutralised (an apostrophe would break decoding; their
#: content is model output, not text a client chose).
BASE64_FIELDS = frozenset({"embedding1", "embedding2", "crop1_jpeg", "crop2_jpeg"})
#: A spreadsheet runs a cell that begins with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A CSV cell that a spreadsheet shows as text: a string that would start a
    formula gets a leading apostrophe (OWASP's advice; strip it to read the value)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def record_dict(row: Feedback) -> dict:
    """The public description of a record (no embeddings, no crops)."""
    return {
        "id": row.id,
        "verification_id": row.verification_id,
        "vote": row.vote,
        "comment": row.comment,
        "created_at": _utc(row.created_at),
        "updated_at": _utc(row.updated_at),
        "model_pack": row.model_pack,
        "model_version": row.model_version,
        "similarity": row.similarity,
        "threshold": row.threshold,
        "is_match": row.is_match,
        "face_policy": row.face_policy,
        "has_crops": row.crop1 is not None,
    }


def export_dict(row: Feedback, fmt: str) -> dict:
    """Every exported field of a record (``EXPORT_FIELDS`` order): the public fields
    plus embeddings as float lists (jsonl) or base64, and crops as base64 JPEG."""
    if fmt == "jsonl":
        emb1 = np.frombuffer(row.embedding1, "<f4").tolist()
        emb2 = np.frombuffer(row.embedding2, "<f4").tolist()
    else:
        emb1, emb2 = _b64(row.embedding1), _b64(row.embedding2)
    values = {
        **record_dict(row),
        "kind": "verify",
        "search_id": None,
        "face_index": None,
        "person_id": None,
        "face_id": None,
        "embedding1": emb1,
        "embedding2": emb2,
        "crop1_jpeg": _b64(row.crop1),
        "crop2_jpeg": _b64(row.crop2),
    }
    return {name: values[name] for name in EXPORT_FIELDS}


def search_export_dict(row: SearchFeedback, fmt: str) -> dict:
    """A vote on a search result in the export's columns: ``embedding1`` is the
    query face's, ``embedding2`` the gallery face's shown for the result;
    ``similarity`` the score shown (their cosine), ``is_match`` what was shown."""
    if fmt == "jsonl":
        emb1 = np.frombuffer(row.query_embedding, "<f4").tolist()
        emb2 = np.frombuffer(row.result_embedding, "<f4").tolist()
    else:
        emb1, emb2 = _b64(row.query_embedding), _b64(row.result_embedding)
    values = {
        "kind": "search",
        "id": row.id,
        "verification_id": None,
        "search_id": row.search_id,
        "face_index": row.face_index,
        "person_id": row.person_id,
        "face_id": row.face_id,
        "created_at": _utc(row.created_at),
        "updated_at": _utc(row.updated_at),
        "model_pack": row.model_pack,
        "model_version": row.model_version,
        "similarity": row.score,
        "threshold": row.threshold,
        "is_match": row.score >= row.threshold,
        "face_policy": None,
        "vote": row.vote,
        "comment": None,
        "embedding1": emb1,
        "embedding2": emb2,
        "crop1_jpeg": None,
        "crop2_jpeg": None,
    }
    return {name: values[name] for name in EXPORT_FIELDS}


def _created(record: dict) -> str:
    return record["created_at"] or ""


class FeedbackStore:
    """Votes on recorded verifications, and their export."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def submit(self, verification_id: str, vote: str, comment: str | None | object = KEEP):
        """Record a vote (``created``) or change the existing one. ``comment``: a new
        comment, None or "" to clear it, ``KEEP`` (not sent) to leave it as it is."""
        if vote not in VOTES:
            raise ValidationError(f"vote must be one of {', '.join(VOTES)}.", field="vote")
        if comment == "":
            comment = None
        for attempt in range(2):
            try:
                return self._submit(verification_id, vote, comment)
            except IntegrityError:
                # Two first votes raced on the unique verification_id: the loser
                # retries and finds the winner's row to update.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _submit(self, verification_id: str, vote: str, comment) -> FeedbackResult:
        with self.db.session() as session:
            existing = session.scalars(
                select(Feedback).where(Feedback.verification_id == verification_id)
            ).one_or_none()
            if existing is not None:
                existing.vote = vote
                if comment is not KEEP:
                    existing.comment = comment
                existing.updated_at = utcnow()
                session.flush()
                return FeedbackResult(existing, created=False)
            verification = session.get(Verification, verification_id)
            if verification is None:
                raise VerificationNotFoundError(
                    f"No verification with id '{verification_id}' was recorded.",
                    field="verification_id",
                )
            if not verification.embedding1:  # cleared by the retention purge
                raise VerificationNotFoundError(
                    f"Verification '{verification_id}' is too old to vote on: its "
                    "embeddings were deleted (LIKENESS_VERIFICATION_EMBEDDING_HOURS).",
                    field="verification_id",
                )
            crops = session.get(VerificationCrops, verification_id)
            now = utcnow()
            row = Feedback(
                verification_id=verification_id,
                created_at=now,
                updated_at=now,
                model_pack=verification.model_pack,
                model_version=verification.model_version,
                similarity=verification.similarity,
                threshold=verification.threshold,
                is_match=verification.is_match,
                face_policy=verification.face_policy,
                vote=vote,
                comment=None if comment is KEEP else comment,
                embedding1=verification.embedding1,
                embedding2=verification.embedding2,
                crop1=crops.crop1 if crops else None,
                crop2=crops.crop2 if crops else None,
                refusals=verification.refusals,
            )
            session.add(row)
            session.flush()
            return FeedbackResult(row, created=True)

    def get(self, verification_id: str) -> Feedback | None:
        with self.db.session() as session:
            return session.scalars(
                select(Feedback).where(Feedback.verification_id == verification_id)
            ).one_or_none()

    def count(self) -> int:
        with self.db.session() as session:
            return session.scalar(select(func.count()).select_from(Feedback)) or 0

    def iter_records(self) -> Iterator[Feedback]:
        """Every record, oldest first, fetched in batches (constant memory)."""
        return self.db.iter_rows(Feedback, _BATCH)

    def iter_export(self, fmt: str) -> Iterator[str]:
        """The export as text chunks (one per record, after a CSV header)."""
        if fmt not in FORMATS:
            raise ValidationError(f"format must be one of {', '.join(FORMATS)}.", field="format")
        records = heapq.merge(
            (export_dict(row, fmt) for row in self.iter_records()),
            (search_export_dict(row, fmt) for row in SearchRecords(self.db).iter_votes()),
            key=_created,
        )
        if fmt == "jsonl":
            for record in records:
                yield json.dumps(record, separators=(",", ":")) + "\n"
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        yield buffer.getvalue()
        for record in records:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow(
                {k: v if k in BASE64_FIELDS else csv_cell(v) for k, v in record.items()}
            )
            yield buffer.getvalue()


def export_feedback(db: Database, fmt: str, out: TextIO) -> int:
    """Write every feedback record to ``out`` as ``csv`` or ``jsonl``; returns the count
    of records (the hook behind ``likeness feedback export``)."""
    chunks = 0
    for chunk in FeedbackStore(db).iter_export(fmt):
        out.write(chunk)
        chunks += 1
    return chunks - 1 if fmt == "csv" else chunks  # CSV: the header is one chunk


# --- face crops (opt-in) ------------------------------------------------------
def save_crops(db: Database, verification_id: str, crop1: bytes, crop2: bytes) -> None:
    with db.session() as session:
        session.merge(VerificationCrops(verification_id=verification_id, crop1=crop1, crop2=crop2))
