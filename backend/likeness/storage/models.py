"""Tables. Each change of schema comes with a migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Boolean, DateTime, Float, LargeBinary, String
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
