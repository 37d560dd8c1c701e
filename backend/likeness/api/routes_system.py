"""``/api/health`` and ``/api/ready`` (``/api/models``: ``routes_models``)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from likeness import __version__
from likeness.api.auth import PUBLIC, requires
from likeness.api.openapi import document
from likeness.api.schemas import HealthResponse, ReadyResponse
from likeness.api.state import MODEL

bp = Blueprint("system", __name__, url_prefix="/api")


@bp.get("/health")
@requires(PUBLIC)
@document(summary="The process is up", response=HealthResponse)
def health():
    """The process is up (no model work)."""
    return jsonify({"status": "ok", "version": __version__})


@bp.get("/ready")
@requires(PUBLIC)
@document(summary="Models are loaded", response=ReadyResponse, errors=(503,))
def ready():
    """Models are loaded and warmed up."""
    model = current_app.extensions.get(MODEL)
    if model is None:
        return jsonify({"status": "loading", "ready": False}), 503
    return jsonify({"status": "ready", "ready": True, "pack": model.settings.model_pack})
