"""How long biometric data is kept (issue 10), and the purge that enforces it.

* An unvoted verification keeps its two embeddings ``verification_embedding_hours``
  (24 by default): long enough to vote on it; then they are cleared, and any face
  crops kept with it (``store_feedback_crops``) are deleted. A vote copies what it
  needs into its own record. A search's record (its query embeddings) is deleted
  after the same time.
* Verification records, and the crops of votes, are deleted after their maximum
  age; votes (on verifications and on search results) after ``feedback_max_days``
  (kept by default: they are the training and calibration data), except a search
  vote that taught a person's template: it holds no more than the template does,
  and goes with the person or the face it was on.

``likeness purge`` runs it (Compose runs it daily); every purge is audited.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select, update

from likeness.storage.audit import AuditLog
from likeness.storage.db import Database
from likeness.storage.models import (
    Feedback,
    PersonExemplar,
    Search,
    SearchFeedback,
    Verification,
    VerificationCrops,
)

#: What a cleared embedding holds.
CLEARED = b""


@dataclass
class PurgeReport:
    embeddings_cleared: int = 0
    verifications_deleted: int = 0
    searches_deleted: int = 0
    crops_deleted: int = 0
    votes_deleted: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def purge(db: Database, settings, now: datetime | None = None, actor: str = "purge") -> PurgeReport:
    """Apply the retention settings once; returns what was removed."""
    now = now or datetime.now(timezone.utc)
    report = PurgeReport()
    voted = select(Feedback.verification_id).where(Feedback.verification_id.is_not(None))
    with db.session() as session:
        if settings.verification_embedding_hours is not None:
            cutoff = now - timedelta(hours=settings.verification_embedding_hours)
            result = session.execute(
                update(Verification)
                .where(Verification.created_at < cutoff)
                .where(Verification.embedding1 != CLEARED)
                .where(Verification.id.not_in(voted))
                .values(embedding1=CLEARED, embedding2=CLEARED)
            )
            report.embeddings_cleared = int(result.rowcount or 0)
            # the faces themselves: past the voting window, a vote has its own copy
            old = select(Verification.id).where(Verification.created_at < cutoff)
            result = session.execute(
                delete(VerificationCrops).where(VerificationCrops.verification_id.in_(old))
            )
            report.crops_deleted += int(result.rowcount or 0)
        # a search is kept only to be voted on (a vote copies what it needs): for
        # the voting window, and never past the records' maximum age
        cutoffs = [
            now - timedelta(hours=settings.verification_embedding_hours)
            if settings.verification_embedding_hours is not None
            else None,
            now - timedelta(days=settings.verification_max_days)
            if settings.verification_max_days is not None
            else None,
        ]
        cutoffs = [c for c in cutoffs if c is not None]
        if cutoffs:
            cutoff = max(cutoffs)  # the shorter retention
            result = session.execute(delete(Search).where(Search.created_at < cutoff))
            report.searches_deleted = int(result.rowcount or 0)
        if settings.feedback_crops_max_days is not None:
            cutoff = now - timedelta(days=settings.feedback_crops_max_days)
            old = select(Verification.id).where(Verification.created_at < cutoff)
            result = session.execute(
                delete(VerificationCrops).where(VerificationCrops.verification_id.in_(old))
            )
            report.crops_deleted += int(result.rowcount or 0)
            result = session.execute(
                update(Feedback)
                .where(Feedback.created_at < cutoff)
                .where(Feedback.crop1.is_not(None))
                .values(crop1=None, crop2=None)
            )
            report.crops_deleted += int(result.rowcount or 0)
        if settings.verification_max_days is not None:
            cutoff = now - timedelta(days=settings.verification_max_days)
            session.execute(
                delete(VerificationCrops).where(
                    VerificationCrops.verification_id.in_(
                        select(Verification.id).where(Verification.created_at < cutoff)
                    )
                )
            )
            result = session.execute(delete(Verification).where(Verification.created_at < cutoff))
            report.verifications_deleted = int(result.rowcount or 0)
        if getattr(settings, "feedback_max_days", None) is not None:
            cutoff = now - timedelta(days=settings.feedback_max_days)
            result = session.execute(delete(Feedback).where(Feedback.created_at < cutoff))
            report.votes_deleted = int(result.rowcount or 0)
            # A search vote that taught a person's template stays: its query embedding
            # is the template's face anyway, and it links that face to the gallery face
            # shown, so erasing either (or the person) still takes the face along.
            taught = select(PersonExemplar.vote_id).where(PersonExemplar.vote_id.is_not(None))
            result = session.execute(
                delete(SearchFeedback)
                .where(SearchFeedback.created_at < cutoff)
                .where(SearchFeedback.id.not_in(taught))
            )
            report.votes_deleted += int(result.rowcount or 0)
    if any(asdict(report).values()):
        AuditLog(db).record(actor, "retention.purge", None, report.as_dict())
    return report
