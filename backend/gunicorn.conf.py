"""Gunicorn settings, all from Likeness settings (LIKENESS_* environment).

Each worker imports ``likeness.api.wsgi`` itself (no preload), so every worker
loads the models exactly once, after the fork; ONNX Runtime sessions are never
shared across processes. A worker that dies is replaced by the arbiter; SIGHUP
reloads workers gracefully.
"""

from likeness.settings import get_settings

_settings = get_settings()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
threads = _settings.threads
# Threads: a slow client holds a thread, not the worker; every client socket has a
# read timeout (likeness.api.gworker), and a body a deadline (likeness.api.deadline).
worker_class = "likeness.api.gworker.ReadTimeoutWorker" if _settings.threads > 1 else "sync"
timeout = _settings.timeout
graceful_timeout = 30
keepalive = 5
preload_app = False
# Guards against slow memory growth: recycle a worker now and then, staggered.
max_requests = 5000
max_requests_jitter = 500
# Request size is bounded by Flask (MAX_CONTENT_LENGTH); these bound the headers.
limit_request_line = 8190
limit_request_fields = 100
accesslog = None  # the app logs each request as structured JSON
errorlog = "-"
loglevel = _settings.log_level.lower()
proc_name = "likeness"
# Gunicorn 27's control socket is one path per user (~/.gunicorn): two servers on a
# machine (tests, CI) would take it from each other. Nothing here uses it.
control_socket_disable = True


def post_worker_init(worker):  # noqa: ARG001
    worker.log.info("worker ready (models loaded)")


def on_starting(server):
    """Migrate the schema once, in the master, before any worker starts."""
    import os

    from likeness.storage import Database

    database = Database(_settings.sqlalchemy_url)
    database.migrate()
    _check_active_model(server, database)
    database.dispose()
    os.environ["LIKENESS_SKIP_MIGRATE"] = "1"
    server.log.info("database ready: %s", database.backend)


def _check_active_model(server, database):
    """The registry's active model version must load (its file present, its hash
    the registered one) before any worker starts: else one clear line and exit,
    rather than workers that fail one after another."""
    import sys

    from likeness.engine.modelpack import resolve_pack
    from likeness.errors import ModelError
    from likeness.registry import ModelRegistry

    registry = ModelRegistry(database, _settings)
    try:
        active = registry.active()
        resolve_pack(_settings.model_root, _settings.model_pack, _settings.verify_model_hashes)
        registry.resolve(active)
    except ModelError as error:
        server.log.error("likeness: %s: %s", error.code, error.message.splitlines()[0])
        server.log.error(
            "likeness: `likeness models list` shows the versions; `likeness models rollback` "
            "or `likeness models activate ID` switches to one that loads"
        )
        database.dispose()
        sys.exit(1)
