"""API keys in the database. A key is shown once, at creation; only its SHA-256 is
stored (a key is 32 random bytes, so a fast hash is enough: nothing to brute-force).

A key reads ``lk_<id>_<secret>``: the id finds the row, the hash of the whole key
is compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select

from likeness.auth.scopes import SCOPES
from likeness.errors import NotFoundError, ValidationError
from likeness.storage import Database
from likeness.storage.models import ApiKeyRow, AuditEntry
from likeness.text import check_text

PREFIX = "lk_"
#: A key name: printable words, no brackets, newlines or bidirectional controls (it
#: is shown in audit entries and listings).
_NAME = re.compile(r"^[\w .,@:/+#-]{1,100}$")
#: A key given from outside (the bootstrap key) must have a secret this strong.
MIN_SECRET, MIN_DISTINCT = 32, 16
_SECRET = re.compile(r"^[A-Za-z0-9_-]+$")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A key as the server sees it (never the secret)."""

    key_id: str
    name: str
    scope: str
    created_at: datetime | None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict:
        def stamp(value):
            return value.isoformat() if value else None

        return {
            "id": self.key_id,
            "name": self.name,
            "scope": self.scope,
            "created_at": stamp(self.created_at),
            "revoked_at": stamp(self.revoked_at),
            "last_used_at": stamp(self.last_used_at),
        }


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    token: str  # shown once


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(row.key_id, row.name, row.scope, row.created_at, row.revoked_at, row.last_used_at)


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str, scope: str, token: str | None = None) -> NewKey:
        """A new key (``token`` given: that exact key, e.g. a bootstrap key from the
        environment; it must look like one and be long enough)."""
        if scope not in SCOPES:
            raise ValidationError(f"scope must be one of {', '.join(SCOPES)}.", field="scope")
        name = check_text((name or "").strip(), "name")
        if not _NAME.match(name):
            raise ValidationError(
                "A key needs a name of 1 to 100 letters, digits, spaces or . , @ : / + # -",
                field="name",
            )
        if token is None:
            key_id = secrets.token_hex(4)
            token = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        else:
            key_id = self._id_of(token)
            secret = token.split("_", 2)[-1] if key_id else ""
            if (
                key_id is None
                or len(secret) < MIN_SECRET
                or not _SECRET.match(secret)
                or len(set(secret)) < MIN_DISTINCT
            ):
                raise ValidationError(
                    f"A key must read {PREFIX}<id>_<secret>, the secret at least {MIN_SECRET} "
                    f"random characters (A-Z a-z 0-9 _ -), e.g. from `likeness keys create`.",
                    field="token",
                )
        with self.db.session() as session:
            if session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)) is not None:
                raise ValidationError("A key with this id exists already.", field="token")
            row = ApiKeyRow(key_id=key_id, name=name, scope=scope, digest=_digest(token))
            session.add(row)
            session.flush()
            session.add(
                AuditEntry(
                    actor="keys", action="key.create", target=key_id, details={"scope": scope}
                )
            )
            return NewKey(_key(row), token)

    def ensure(self, name: str, scope: str, token: str) -> ApiKey | None:
        """The key ``token`` exists (created if not): idempotent, for bootstrapping.
        None when a key of that id was revoked: a revoked key never comes back."""
        found = self.authenticate(token, touch=False)
        if found is not None:
            return found
        key_id = self._id_of(token)
        with self.db.session() as session:
            if key_id and session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id)):
                return None
        return self.create(name, scope, token).key

    @staticmethod
    def _id_of(token: str) -> str | None:
        if not token.startswith(PREFIX):
            return None
        key_id, _, secret = token[len(PREFIX) :].partition("_")
        return key_id if key_id and secret and key_id.isalnum() and len(key_id) <= 32 else None

    def authenticate(self, token: str, touch: bool = True) -> ApiKey | None:
        """The active key ``token`` is, or None."""
        key_id = self._id_of(token or "")
        if key_id is None:
            return None
        with self.db.session() as session:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id))
            if row is None or row.revoked_at is not None:
                return None
            if not hmac.compare_digest(row.digest, _digest(token)):
                return None
            if touch:
                row.last_used_at = datetime.now(timezone.utc)
            return _key(row)

    def list(self) -> list[ApiKey]:
        with self.db.session() as session:
            return [_key(r) for r in session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id))]

    def revoke(self, key_id: str) -> ApiKey:
        with self.db.session() as session:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id))
            if row is None:
                raise NotFoundError(f"No key with id {key_id!r}.")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(timezone.utc)
            return _key(row)
