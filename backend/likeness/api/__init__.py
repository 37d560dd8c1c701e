"""The HTTP API: a Flask application factory."""

from __future__ import annotations

import contextlib
import logging

from flask import Flask, request
from flask_cors import CORS
from sqlalchemy.exc import IntegrityError
from werkzeug.middleware.proxy_fix import ProxyFix

from likeness.api import (
    auth,
    openapi,
    routes_clusters,
    routes_faces,
    routes_feedback,
    routes_gallery,
    routes_jobs,
    routes_models,
    routes_system,
    routes_thresholds,
    security,
)
from likeness.api.deadline import BodyDeadline
from likeness.api.errors import register_error_handlers
from likeness.api.logs import configure_logging, install_request_logging
from likeness.api.spa import register_spa
from likeness.api.state import DATABASE, MODEL, after_verify_hooks
from likeness.api.state import engine as engine_of
from likeness.auth import KeyStore
from likeness.engine import FaceEngine
from likeness.errors import ConfigError, LikenessError, NotFoundError
from likeness.registry import ActiveModel
from likeness.settings import Settings, get_settings
from likeness.storage import Database
from likeness.storage.verifications import VerificationStore

log = logging.getLogger("likeness.api")


def create_app(
    settings: Settings | None = None,
    engine: FaceEngine | None = None,
    migrate: bool = True,
) -> Flask:
    """Build the app; loads the models once (unless an engine is passed in) and
    brings the database schema up to date (unless ``migrate`` is false, as under
    Gunicorn, whose master migrates once before forking workers)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_json)
    app = Flask(__name__, static_folder=None)
    app.config["LIKENESS"] = settings
    # Two images, base64-inflated, plus form overhead.
    body_limit = 2 * (settings.max_upload_bytes * 4 // 3 + 4) + 64 * 1024
    app.config["MAX_CONTENT_LENGTH"] = body_limit
    app.config["MAX_FORM_MEMORY_SIZE"] = body_limit
    app.json.sort_keys = False
    if settings.cors_origins:
        CORS(app, resources={r"/api/*": {"origins": settings.cors_origins}})
    register_error_handlers(app)
    app.wsgi_app = BodyDeadline(app.wsgi_app, settings.body_seconds)
    if settings.trusted_proxies:  # the client's address and scheme from the proxy's headers
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies
        )
    security.install_guards(app)

    @app.before_request
    def _no_nul_in_paths():
        if "\x00" in request.path:  # no id holds one; PostgreSQL cannot even compare it
            raise NotFoundError("No such resource.")

    install_request_logging(app)
    app.register_blueprint(routes_system.bp)
    app.register_blueprint(routes_faces.bp)
    app.register_blueprint(openapi.bp)
    register_spa(app, settings.static_dir)
    database = Database(settings.sqlalchemy_url)
    if migrate:
        database.migrate()
    app.extensions[DATABASE] = database
    # the registry's active version (the official recogniser until one is activated)
    active = app.extensions[MODEL] = ActiveModel(database, settings, engine)
    checks = active.current.gate.info()
    log.info(
        "face checks",
        extra={
            "cartoon": "on" if checks["cartoon"]["on"] else "off (none for this recogniser)",
            "quality": checks["quality"]["model"],
            "liveness": checks["liveness"]["status"],
        },
    )
    with app.app_context():
        store = VerificationStore(database, settings.model_pack, lambda: engine_of().version)
        after_verify_hooks().append(store.record)
    keys = KeyStore(database)
    if settings.bootstrap_admin_key:
        with contextlib.suppress(IntegrityError):  # another worker made it just now
            try:
                made = keys.ensure("bootstrap", "admin", settings.bootstrap_admin_key)
            except LikenessError as error:  # a weak key: refuse to start with it
                raise ConfigError(f"LIKENESS_BOOTSTRAP_ADMIN_KEY: {error.message}") from None
            if made is None:
                logging.getLogger(__name__).warning(
                    "LIKENESS_BOOTSTRAP_ADMIN_KEY was revoked; it stays revoked (remove it)"
                )
    auth.install(app, keys)
    security.install_limits(app)
    routes_feedback.init_app(app)
    routes_gallery.init_app(app)
    app.register_blueprint(routes_jobs.bp)
    app.register_blueprint(routes_clusters.bp)
    app.register_blueprint(routes_thresholds.bp)
    app.register_blueprint(routes_models.bp)
    return app


def route_app(settings: Settings | None = None) -> Flask:
    """Every route of the API on a bare app (no models, no database), for the
    OpenAPI document without a server: the documentation site builds its HTTP
    reference from it. A test checks it documents what ``create_app`` serves."""
    app = Flask(__name__, static_folder=None)
    app.config["LIKENESS"] = settings or Settings()
    for blueprint in (
        routes_system.bp,
        routes_faces.bp,
        openapi.bp,
        routes_feedback.bp,
        routes_gallery.bp,
        routes_jobs.bp,
        routes_clusters.bp,
        routes_thresholds.bp,
        routes_models.bp,
    ):
        app.register_blueprint(blueprint)
    return app
