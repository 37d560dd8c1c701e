"""Structured (JSON lines) logging with a request id per request. Image bytes are
never logged: only method, path, status, sizes and timings."""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid

from flask import Flask, g, request

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    root = logging.getLogger()
    if getattr(root, "_likeness_configured", False):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if as_json else logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    )
    root.handlers = [handler]
    root.setLevel(level.upper())
    root._likeness_configured = True  # type: ignore[attr-defined]


def install_request_logging(app: Flask) -> None:
    log = logging.getLogger("likeness.request")

    @app.before_request
    def _start():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if 0 < len(incoming) <= 64 else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        duration = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        log.info(
            "request",
            extra={
                "request_id": g.get("request_id"),
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(duration, 2),
                "request_bytes": request.content_length,
                "error_code": g.get("error_code"),
                "timings_ms": {k: round(v, 2) for k, v in g.get("timings", {}).items()} or None,
            },
        )
        return response
