"""What every answer and every request goes through: trusted host names, the
cross-site check of state-changing requests, rate limits per key and per address,
and security headers (a CSP, nosniff, frame-ancestors, Referrer-Policy, and
``Cache-Control: no-store`` on the API, whose answers carry personal data)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, g, request
from flask_limiter import Limiter
from werkzeug.sansio.utils import host_is_trusted

from likeness.api.auth import LOOPBACK, open_access, presented_token
from likeness.errors import ConfigError, ForbiddenError, UntrustedHostError

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
# The web app: its own scripts and styles, photos as blob:/data: URLs, the camera.
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def trusted_hosts(settings) -> list[str]:
    return list(settings.trusted_hosts or sorted(LOOPBACK))


def _same_origin(origin: str) -> bool:
    parts = urlsplit(origin)
    return (
        bool(parts.netloc)
        and parts.scheme == request.scheme
        and parts.netloc.lower() == request.host.lower()
    )


def _rate_key() -> str:
    key = g.get("api_key")
    return f"key:{key.key_id}" if key is not None else f"addr:{request.remote_addr or '-'}"


def install_guards(app: Flask) -> None:
    """Host and cross-site checks: the first hooks of every request."""
    settings = app.config["LIKENESS"]
    hosts = trusted_hosts(settings)
    origins = set(settings.cors_origins)
    if "*" in origins and not open_access(settings):
        raise ConfigError("LIKENESS_CORS_ORIGINS may not hold '*' while API keys are needed.")

    @app.before_request
    def _trusted_host():  # registered first: before any key is even looked at
        if not host_is_trusted(request.host, hosts):
            raise UntrustedHostError(
                f"Host {request.host!r} is not served here (LIKENESS_TRUSTED_HOSTS)."
            )

    @app.before_request
    def _cross_site():
        """A form post from any page needs no preflight: a state-changing request
        from a browser must come from this origin or an allowed one, unless it
        carries a key (which a foreign page cannot have)."""
        if request.method not in STATE_CHANGING or presented_token() is not None:
            return
        origin = request.headers.get("Origin")
        if origin is None:
            fetch_site = request.headers.get("Sec-Fetch-Site")
            if fetch_site in (None, "same-origin", "none"):
                return  # not a browser, or the browser says it is our own page
            raise ForbiddenError("Cross-site requests need an API key.")
        if origin in origins or _same_origin(origin):
            return
        raise ForbiddenError(f"Requests from {origin} need an API key (LIKENESS_CORS_ORIGINS).")

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Frame-Options", "DENY")
        if origins and "Origin" not in headers.get("Vary", ""):
            headers.add("Vary", "Origin")  # answers differ by Origin: caches must know
        if request.path.startswith("/api/docs"):  # a page: Swagger UI
            headers.setdefault("Content-Security-Policy", APP_CSP)
        elif request.path.startswith("/api/"):
            headers["Cache-Control"] = "no-store"
            headers.setdefault("Content-Security-Policy", API_CSP)
        else:
            headers.setdefault("Content-Security-Policy", APP_CSP)
        return response


def install_limits(app: Flask) -> Limiter:
    """Rate limits per key, or per address without one; after the key is known."""
    settings = app.config["LIKENESS"]
    limiter = Limiter(
        _rate_key,
        app=app,
        default_limits=[lambda: _limit(settings)],
        default_limits_exempt_when=lambda: _exempt(settings),
        storage_uri=settings.rate_limit_storage,
        headers_enabled=True,
        enabled=settings.rate_limits,
    )
    return limiter


def _limit(settings) -> str:
    return (
        settings.rate_limit_key if g.get("api_key") is not None else settings.rate_limit_anonymous
    )


def _exempt(settings) -> bool:
    """No limit for the machine's own user (open mode without a key), for the
    public routes and for the web app's files."""
    if not request.path.startswith("/api/") or request.path in ("/api/health", "/api/ready"):
        return True
    return g.get("api_key") is None and open_access(settings)
