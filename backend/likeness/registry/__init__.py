"""Model versions (issue 15): the registry of recogniser versions, the active
model each process serves, and the switch that re-embeds the gallery."""

from likeness.registry.active import ActiveModel, Loaded
from likeness.registry.versions import ModelRegistry, ModelVersion

__all__ = ["ActiveModel", "Loaded", "ModelRegistry", "ModelVersion"]
