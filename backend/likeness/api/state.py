"""Per-process objects the routes use, kept in ``app.extensions``."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app

from likeness.engine import FaceEngine
from likeness.errors import ModelsNotReadyError
from likeness.imaging import ImageLimits
from likeness.learning import ThresholdBook
from likeness.quality import FaceGate
from likeness.storage import Database

ENGINE = "likeness.engine"
AFTER_VERIFY = "likeness.after_verify"
DATABASE = "likeness.database"
GATE = "likeness.gate"
THRESHOLDS = "likeness.thresholds"


def engine() -> FaceEngine:
    found = current_app.extensions.get(ENGINE)
    if found is None:
        raise ModelsNotReadyError()
    return found


def gate() -> FaceGate:
    """The face checks, built on first use (they need the engine's recogniser)."""
    found = current_app.extensions.get(GATE)
    if found is None:
        found = current_app.extensions[GATE] = FaceGate(engine())
    return found


def database() -> Database:
    return current_app.extensions[DATABASE]


def thresholds() -> ThresholdBook:
    """This process's thresholds of the loaded model version (in force, history)."""
    return current_app.extensions[THRESHOLDS]


def image_limits() -> ImageLimits:
    return ImageLimits.from_settings(current_app.config["LIKENESS"])


def after_verify_hooks() -> list[Callable]:
    """Callbacks run with each successful verification (e.g. to store it)."""
    return current_app.extensions.setdefault(AFTER_VERIFY, [])
