"""Serving the built web app (``settings.static_dir``, e.g. ``frontend/dist``) at
``/``: files as they are, any other path falls back to ``index.html`` so the
client-side app handles it. ``/api/*`` never falls back: an unknown API path is
a JSON 404 like every other API error."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

from flask import Blueprint, Flask, abort, send_from_directory
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.security import safe_join

from likeness.errors import ConfigError

#: Vite puts content-hashed files under assets/: safe to cache for a year.
_ASSETS = "assets/"
_YEAR = 365 * 24 * 3600


def _api_miss(app: Flask, path: str) -> NoReturn:
    """An API path this catch-all matched: 405 (with ``Allow``) when an API route
    has the path for other methods, as without the web app; else 404."""
    adapter = app.url_map.bind("localhost")
    allowed = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            rule, _ = adapter.match(path, method=method, return_rule=True)
        except HTTPException:
            continue
        if not rule.endpoint.startswith("spa."):
            allowed.append(method)
    if allowed:
        raise MethodNotAllowed(valid_methods=allowed)
    abort(404)


def register_spa(app: Flask, static_dir: Path | None) -> None:
    """Serve ``static_dir`` at ``/`` if it is set; fail fast if it holds no app."""
    if static_dir is None:
        return
    root = Path(static_dir).expanduser().resolve()
    if not (root / "index.html").is_file():
        raise ConfigError(f"static_dir {root} has no index.html (build the web app first)")
    bp = Blueprint("spa", __name__)

    def _index():
        response = send_from_directory(root, "index.html", max_age=0)
        response.headers["Cache-Control"] = "no-cache"
        return response

    @bp.get("/")
    def index():
        return _index()

    @bp.route("/api", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    @bp.route("/api/<path:path>", methods=["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    def api_miss(path: str = ""):
        """Other methods on unknown API paths: 404 (or 405), as without the web app."""
        _api_miss(app, "/api/" + path if path else "/api")

    @bp.get("/<path:path>", provide_automatic_options=False)  # OPTIONS: api_miss
    def file_or_index(path: str):
        if path == "api" or path.startswith("api/"):
            _api_miss(app, "/" + path)
        target = safe_join(str(root), path)  # None if the path would leave root
        if target is None:
            abort(404)
        if Path(target).is_file():
            max_age = _YEAR if path.startswith(_ASSETS) else 0
            return send_from_directory(root, path, max_age=max_age)
        return _index()

    app.register_blueprint(bp)
