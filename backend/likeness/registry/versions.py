"""The model registry: every recogniser version of the pack, where its file is,
what it was trained on, how it measured, and which one is active.

Files live under the model root: the official recogniser where it always was
(``<root>/<pack>/w600k_mbf.onnx``), a fine-tuned version in
``<root>/<pack>/versions/<id>/recognizer.onnx`` beside its ``card.md`` and
``metrics.json``. The rows live in the database (``model_versions``), so every
worker and replica sees the same active version. A registered file is verified
against the SHA-256 recorded at registration whenever it is loaded."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from likeness.engine.modelpack import ResolvedFile, pack_spec, resolve_version, sha256_of
from likeness.errors import (
    ConflictError,
    ModelNotActivatableError,
    ModelVersionNotFoundError,
    ValidationError,
)
from likeness.registry.card import render_card
from likeness.settings import Settings
from likeness.storage.db import Database
from likeness.storage.models import ModelVersionRow

STATUSES = ("candidate", "active", "retired")
VERSIONS_FOLDER = "versions"
FILE_NAME = "recognizer.onnx"


@dataclass
class ModelVersion:
    id: str
    pack: str
    parent_id: str | None
    origin: str
    file: str
    sha256: str
    data_sha256: str | None
    metrics: dict
    gate: str
    status: str
    created_at: datetime
    activated_at: datetime | None
    previous_id: str | None
    created_by: str | None

    @classmethod
    def of(cls, row: ModelVersionRow) -> ModelVersion:
        return cls(
            row.id, row.model_pack, row.parent_id, row.origin, row.file, row.sha256,
            row.data_sha256, dict(row.metrics or {}), row.gate, row.status, row.created_at,
            row.activated_at, row.previous_id, row.created_by,
        )  # fmt: skip

    def as_dict(self, metrics: bool = True) -> dict:
        out = {
            "id": self.id,
            "pack": self.pack,
            "parent_id": self.parent_id,
            "origin": self.origin,
            "sha256": self.sha256,
            "data_sha256": self.data_sha256,
            "gate": self.gate,
            "status": self.status,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "activated_at": self.activated_at.isoformat() if self.activated_at else None,
            "previous_id": self.previous_id,
            "created_by": self.created_by,
        }
        if metrics:
            out["metrics"] = self.metrics
        return out


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ModelRegistry:
    """Versions of ``settings.model_pack`` under ``settings.model_root``."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.pack = settings.model_pack
        self.folder = Path(settings.model_root).expanduser() / self.pack

    # -- reading -----------------------------------------------------------------
    def ensure_base(self) -> None:
        """Register the official recogniser (active when nothing else is)."""
        spec = pack_spec(self.pack).recognizer
        with self.db.session() as session:
            rows = session.scalars(
                select(ModelVersionRow).where(ModelVersionRow.model_pack == self.pack)
            ).all()
            if any(r.origin == "base" for r in rows):
                return
            active = any(r.status == "active" for r in rows)
            session.add(
                ModelVersionRow(
                    id=f"{self.pack}-base", model_pack=self.pack, parent_id=None, origin="base",
                    file=spec.name, sha256=spec.sha256, data_sha256=None,
                    metrics={"note": "the official InsightFace release"}, gate="none",
                    status="retired" if active else "active",
                    activated_at=None if active else _now(), created_by="registry",
                )
            )  # fmt: skip

    def list(self) -> list[ModelVersion]:
        self._ensure()
        with self.db.session() as session:
            rows = session.scalars(
                select(ModelVersionRow)
                .where(ModelVersionRow.model_pack == self.pack)
                .order_by(ModelVersionRow.created_at, ModelVersionRow.id)
            ).all()
            return [ModelVersion.of(r) for r in rows]

    def get(self, version_id: str) -> ModelVersion:
        self._ensure()
        with self.db.session() as session:
            row = session.get(ModelVersionRow, str(version_id)[:64])
            if row is None or row.model_pack != self.pack:
                raise ModelVersionNotFoundError(
                    f"No model version {version_id!r} of {self.pack} (`likeness models list`)."
                )
            return ModelVersion.of(row)

    def active(self) -> ModelVersion:
        self._ensure()
        with self.db.session() as session:
            row = session.scalars(
                select(ModelVersionRow).where(
                    ModelVersionRow.model_pack == self.pack, ModelVersionRow.status == "active"
                )
            ).first()
            return ModelVersion.of(row)

    def by_sha(self, sha256: str) -> ModelVersion | None:
        self._ensure()
        with self.db.session() as session:
            row = session.scalars(
                select(ModelVersionRow).where(
                    ModelVersionRow.model_pack == self.pack, ModelVersionRow.sha256 == sha256
                )
            ).first()
            return None if row is None else ModelVersion.of(row)

    def _ensure(self) -> None:
        # another process may register the base at the same moment
        with contextlib.suppress(IntegrityError):
            self.ensure_base()

    def resolve(self, version: ModelVersion) -> ResolvedFile | None:
        """The version's file, hash checked; None for the official file (the engine
        resolves and checks that one itself)."""
        if version.origin == "base":
            return None
        return resolve_version(
            self.settings.model_root, self.pack, version.file, version.sha256,
            self.settings.verify_model_hashes,
        )  # fmt: skip

    def path(self, version: ModelVersion) -> Path:
        return self.folder / version.file

    def card(self, version: ModelVersion) -> str:
        card = self.folder / VERSIONS_FOLDER / version.id / "card.md"
        if version.origin != "base" and card.is_file():
            return card.read_text(encoding="utf-8")
        return render_card(version, None)

    # -- writing -----------------------------------------------------------------
    def register(
        self,
        onnx_path: str | os.PathLike[str],
        *,
        parent: ModelVersion,
        data_sha256: str | None,
        metrics: dict,
        gate: str,
        created_by: str | None = None,
    ) -> ModelVersion:
        """Copy a trained recogniser into the pack's ``versions`` folder with its
        card and metrics, and register it as a candidate."""
        if gate not in ("passed", "refused", "none"):
            raise ValidationError(f"gate is passed, refused or none, not {gate!r}")
        source = Path(onnx_path)
        sha = sha256_of(source)
        existing = self.by_sha(sha)
        if existing is not None:
            raise ConflictError(f"This file is registered already, as {existing.id}.")
        stamp = _now()
        version_id = f"{self.pack}-{stamp:%Y%m%d-%H%M%S}-{sha[:8]}"
        relative = f"{VERSIONS_FOLDER}/{version_id}/{FILE_NAME}"
        version = ModelVersion(
            version_id, self.pack, parent.id, "fine-tuned", relative, sha, data_sha256,
            metrics, gate, "candidate", stamp, None, None, created_by,
        )  # fmt: skip
        target = self.folder / VERSIONS_FOLDER / version_id
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version_id}.", dir=target.parent))
        try:
            shutil.copyfile(source, staging / FILE_NAME)
            if sha256_of(staging / FILE_NAME) != sha:
                raise ConflictError("The model file changed while it was copied.")
            (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
            (staging / "card.md").write_text(render_card(version, parent), encoding="utf-8")
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        try:
            with self.db.session() as session:
                session.add(
                    ModelVersionRow(
                        id=version_id, model_pack=self.pack, parent_id=parent.id,
                        origin="fine-tuned", file=relative, sha256=sha, data_sha256=data_sha256,
                        metrics=metrics, gate=gate, status="candidate", created_at=stamp,
                        created_by=created_by,
                    )
                )  # fmt: skip
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return version

    def record_gate(self, version: ModelVersion, gate: dict) -> ModelVersion:
        """Give a registered version the gate's verdict and metrics (a version
        trained without ``--lfw-dir`` and gated afterwards)."""
        verdict = "passed" if gate.get("passed") else "refused"
        metrics = {**version.metrics, "gate": gate}
        with self.db.session() as session:
            row = session.get(ModelVersionRow, version.id)
            row.gate, row.metrics = verdict, metrics
        updated = self.get(version.id)
        folder = self.folder / VERSIONS_FOLDER / version.id
        if version.origin != "base" and folder.is_dir():
            parent = self.get(version.parent_id) if version.parent_id else None
            (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
            (folder / "card.md").write_text(render_card(updated, parent), encoding="utf-8")
        return updated

    def check_activatable(self, version: ModelVersion, force: bool = False) -> None:
        if version.status == "active":
            raise ModelNotActivatableError(f"{version.id} is the active version already.")
        if version.origin != "base" and version.gate != "passed" and not force:
            said = "refused it" if version.gate == "refused" else "did not run"
            raise ModelNotActivatableError(
                f"The gate {said} ({version.id}): it may be worse than its base. "
                "Activate it anyway with --force (the CLI) or force=true (the API)."
            )

    def mark_active(self, session: Session, version_id: str) -> None:
        """Inside the switch's transaction: ``version_id`` becomes the active
        version, the one before it retired and remembered for a rollback."""
        rows = session.scalars(
            select(ModelVersionRow).where(ModelVersionRow.model_pack == self.pack).with_for_update()
        ).all()
        new = next((r for r in rows if r.id == version_id), None)
        if new is None:
            raise ModelVersionNotFoundError(f"No model version {version_id!r} of {self.pack}.")
        for row in rows:
            if row.status == "active" and row.id != version_id:
                row.status = "retired"
                new.previous_id = row.id
        new.status = "active"
        new.activated_at = _now()

    def rollback_target(self) -> ModelVersion:
        """The version to roll back to: the one active before the active one."""
        active = self.active()
        if not active.previous_id:
            raise ModelNotActivatableError(f"{active.id} has no earlier version to roll back to.")
        return self.get(active.previous_id)
