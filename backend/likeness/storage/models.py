"""Tables. Each change of schema comes with a migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from likeness.storage.db import Base


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Verification(Base):
    """One answered ``/api/verify`` call: score, decision and the two embeddings
    (float32 bytes). Images are not kept."""

    __tablename__ = "verifications"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    model_pack: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))  # recogniser file SHA-256
    similarity: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    is_match: Mapped[bool] = mapped_column(Boolean)
    face_policy: Mapped[str] = mapped_column(String(16))
    embedding1: Mapped[bytes] = mapped_column(LargeBinary)
    embedding2: Mapped[bytes] = mapped_column(LargeBinary)


class VerificationCrops(Base):
    """The two aligned 112x112 face crops (JPEG) of a verification; kept only when
    ``store_feedback_crops`` is on. Deleted with their verification."""

    __tablename__ = "verification_crops"

    verification_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("verifications.id", ondelete="CASCADE"), primary_key=True
    )
    crop1: Mapped[bytes] = mapped_column(LargeBinary)
    crop2: Mapped[bytes] = mapped_column(LargeBinary)


class Feedback(Base):
    """A user's vote (up/down) on one verification, at most one per verification.
    Score, decision, model and embeddings are copied from the verification so the
    record stands alone; the link is cleared if the verification is deleted."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    verification_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("verifications.id", ondelete="SET NULL"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    model_pack: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(64))
    similarity: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    is_match: Mapped[bool] = mapped_column(Boolean)
    face_policy: Mapped[str] = mapped_column(String(16))
    vote: Mapped[str] = mapped_column(String(8))  # "up" | "down"
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    embedding1: Mapped[bytes] = mapped_column(LargeBinary)
    embedding2: Mapped[bytes] = mapped_column(LargeBinary)
    crop1: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    crop2: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
