"""Recording verifications so feedback can refer to them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from likeness.storage.db import Database
from likeness.storage.models import Verification
from likeness.verification import Verification as VerificationResult


class VerificationStore:
    """``model_version``: the recogniser's SHA-256, or a callable giving the one the
    current request ran on (the model can be swapped while the service runs)."""

    def __init__(self, db: Database, model_pack: str, model_version: str | Callable[[], str]):
        self.db = db
        self.model_pack = model_pack
        self._version = model_version

    @property
    def model_version(self) -> str:
        return self._version() if callable(self._version) else self._version

    def record(self, result: VerificationResult) -> None:
        first, second = result.embeddings.values()
        row = Verification(
            id=result.id,
            model_pack=self.model_pack,
            model_version=self.model_version,
            similarity=float(result.comparison.similarity),
            threshold=float(result.comparison.threshold),
            is_match=bool(result.is_match),  # a spoof is stored as no match
            face_policy=result.policy.value,
            embedding1=np.asarray(first.embedding, np.float32).tobytes(),
            embedding2=np.asarray(second.embedding, np.float32).tobytes(),
            refusals={name: list(check.reasons) for name, check in result.checks.items()}
            if len(result.checks) == 2
            else None,
        )
        with self.db.session() as session:
            session.add(row)

    def get(self, verification_id: str) -> Verification | None:
        with self.db.session() as session:
            return session.get(Verification, verification_id)
