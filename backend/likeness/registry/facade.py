"""The library's model-version methods, mixed into ``FaceRecognitionLibrary``
(which provides ``model``, ``store``, ``templates``, ``jobs`` and ``runner``): the
engine, face checks and thresholds of the version in force, and switching."""

from __future__ import annotations

from likeness.engine import FaceEngine
from likeness.jobs import JobRecord, follow
from likeness.learning.thresholds import ThresholdBook
from likeness.quality import FaceGate
from likeness.registry import tasks as registry_tasks
from likeness.registry.versions import ModelVersion


class ModelsMixin:
    @property
    def engine(self) -> FaceEngine:
        """The engine of the model version in force (``likeness.registry.active``)."""
        return self.model.current.engine

    @property
    def gate(self) -> FaceGate:
        """The face checks of the model version in force."""
        return self.model.current.gate

    @property
    def thresholds(self) -> ThresholdBook:
        """The decision thresholds in force for the model version in use."""
        return self.model.current.thresholds

    def _follow_version(self, loaded) -> None:
        """A swap of model version (no call is running): stamp and search with it."""
        self.store.model_version = self.templates.version = loaded.engine.version

    def list_models(self) -> list[ModelVersion]:
        """Every registered version of the pack, oldest first."""
        return self.model.registry.list()

    def get_model(self, version_id: str) -> ModelVersion:
        """One registered version (``ModelVersionNotFoundError`` if none)."""
        return self.model.registry.get(version_id)

    def activate_model(
        self,
        version_id: str,
        *,
        force: bool = False,
        wait: bool = True,
        progress_bar: bool = False,
        created_by: str | None = None,
    ) -> JobRecord:
        """Re-embed the gallery under ``version_id`` and switch to it, as a job (one
        gallery job at a time: it shares clustering's lock). A candidate the gate
        did not pass needs ``force``."""
        registry = self.model.registry
        registry.check_activatable(registry.get(version_id), force)
        lock = f"cluster:{self.store.instance() or 'gallery'}"
        record = self.runner.submit(
            registry_tasks.KIND, {"version_id": version_id, "force": force},
            lock=lock, created_by=created_by,
        )  # fmt: skip
        if not wait:
            return record
        if progress_bar:
            return follow(self.jobs, record.id)
        return self.runner.wait(record.id)

    def rollback_model(self, **options) -> JobRecord:
        """Switch back to the version active before this one (instant while its
        embeddings are kept; faces added since are embedded from their crops)."""
        target = self.model.registry.rollback_target()
        return self.activate_model(target.id, force=True, **options)
