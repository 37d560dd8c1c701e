"""The audit log: who erased, exported or changed access, and when. Entries name
what was touched (ids, counts), never biometric data."""

from __future__ import annotations

from sqlalchemy import select

from likeness.storage.db import Database
from likeness.storage.models import AuditEntry


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self, actor: str, action: str, target: str | None = None, details: dict | None = None
    ) -> None:
        with self.db.session() as session:
            session.add(
                AuditEntry(
                    actor=actor[:128],
                    action=action[:64],
                    target=None if target is None else str(target)[:255],
                    details=details or None,
                )
            )

    def entries(self, limit: int = 100) -> list[dict]:
        """The newest entries first."""
        with self.db.session() as session:
            rows = session.scalars(
                select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            ).all()
            return [
                {
                    "id": r.id,
                    "at": r.at.isoformat() if r.at else None,
                    "actor": r.actor,
                    "action": r.action,
                    "target": r.target,
                    "details": r.details,
                }
                for r in rows
            ]
