"""``/api/health``, ``/api/ready`` and ``/api/models``."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from likeness import __version__
from likeness.api.auth import PUBLIC, requires
from likeness.api.openapi import document
from likeness.api.schemas import HealthResponse, ModelsResponse, ReadyResponse
from likeness.api.state import ENGINE, engine, gate, thresholds

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
    loaded = current_app.extensions.get(ENGINE)
    if loaded is None:
        return jsonify({"status": "loading", "ready": False}), 503
    return jsonify({"status": "ready", "ready": True, "pack": loaded.settings.model_pack})


@bp.get("/models")
@requires("admin")
@document(summary="Model pack, files, thresholds, providers", response=ModelsResponse)
def models():
    """Model pack, files with hashes, threshold, providers, and which face checks
    run with what thresholds (no server paths)."""
    book = thresholds()
    info = {**engine().info(public=True), "face_checks": gate().info()}
    info.update(threshold=book.verify(), search_threshold=book.search())
    return jsonify(info)
