"""Per-process objects the routes use, kept in ``app.extensions``.

The model (engine, thresholds, face checks) is the ``ActiveModel``'s: a request
takes the version in force when it first needs one (``g.model``) and keeps it to
the end, so a hot swap never changes the model under a request."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, g, has_request_context

from likeness.engine import FaceEngine
from likeness.errors import ModelsNotReadyError
from likeness.imaging import ImageLimits
from likeness.learning import ThresholdBook
from likeness.quality import FaceGate
from likeness.registry import ActiveModel, Loaded
from likeness.storage import Database

MODEL = "likeness.model"
AFTER_VERIFY = "likeness.after_verify"
DATABASE = "likeness.database"


def model() -> ActiveModel:
    found = current_app.extensions.get(MODEL)
    if found is None:
        raise ModelsNotReadyError()
    return found


def loaded() -> Loaded:
    """The model version of this request (taken when it started)."""
    if has_request_context():
        if "model" not in g:
            g.model = model().follow()
        return g.model
    return model().current


def engine() -> FaceEngine:
    return loaded().engine


def gate() -> FaceGate:
    return loaded().gate


def database() -> Database:
    return current_app.extensions[DATABASE]


def thresholds() -> ThresholdBook:
    """This request's thresholds: of the model version it runs on (in force, history)."""
    return loaded().thresholds


def image_limits() -> ImageLimits:
    return ImageLimits.from_settings(current_app.config["LIKENESS"])


def after_verify_hooks() -> list[Callable]:
    """Callbacks run with each successful verification (e.g. to store it)."""
    return current_app.extensions.setdefault(AFTER_VERIFY, [])
