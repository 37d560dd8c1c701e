"""``/api/health``, ``/api/ready`` and ``/api/models``."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from likeness import __version__
from likeness.api.auth import PUBLIC, requires
from likeness.api.state import ENGINE, engine

bp = Blueprint("system", __name__, url_prefix="/api")


@bp.get("/health")
@requires(PUBLIC)
def health():
    """The process is up (no model work)."""
    return jsonify({"status": "ok", "version": __version__})


@bp.get("/ready")
@requires(PUBLIC)
def ready():
    """Models are loaded and warmed up."""
    loaded = current_app.extensions.get(ENGINE)
    if loaded is None:
        return jsonify({"status": "loading", "ready": False}), 503
    return jsonify({"status": "ready", "ready": True, "pack": loaded.settings.model_pack})


@bp.get("/models")
@requires("admin")
def models():
    """Model pack, files with hashes, threshold, providers (no server paths)."""
    return jsonify(engine().info(public=True))
