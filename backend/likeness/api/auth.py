"""Who may call what. Every route declares the scope it needs (``requires``); one
``before_request`` hook checks the key against it, so a route added later without
a declaration is refused to everyone but an admin key (never silently open).

* Open mode: the server listens only on loopback and ``LIKENESS_AUTH_REQUIRED`` is
  off: the machine's own user may do anything without a key (``make run``).
* Otherwise a key is needed (``Authorization: Bearer lk_...`` or ``X-API-Key``),
  except for the routes marked ``anonymous`` (detect and verify, unless
  ``LIKENESS_ANONYMOUS_VERIFY`` is off), which are rate-limited per address.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app, g, request

from likeness.auth import ApiKey, KeyStore, covers
from likeness.errors import ForbiddenError, UnauthenticatedError

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
PUBLIC = "public"  # health and readiness: no key, ever


def requires(scope: str, anonymous: bool = False) -> Callable:
    """Declare the scope a route needs (``PUBLIC`` for none); ``anonymous``: callers
    without a key are let through when anonymous use is on."""

    def mark(view: Callable) -> Callable:
        view.likeness_scope = scope
        view.likeness_anonymous = anonymous
        return view

    return mark


def open_access(settings) -> bool:
    return not settings.auth_required and settings.host in LOOPBACK


def presented_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("X-API-Key", "").strip() or None


def current_key() -> ApiKey | None:
    return g.get("api_key")


def actor() -> str:
    """Who the audit log names for this request."""
    key = current_key()
    if key is not None:
        return f"key:{key.key_id} ({key.name})"
    return f"open:{request.remote_addr or '-'}"


def may(scope: str) -> bool:
    """Whether this request may act with ``scope`` (for finer checks in a route)."""
    key = current_key()
    if key is not None:
        return covers(key.scope, scope)
    return open_access(current_app.config["LIKENESS"])


def install(app: Flask, keys: KeyStore) -> None:
    settings = app.config["LIKENESS"]

    @app.before_request
    def _authorise():
        view = app.view_functions.get(request.endpoint or "")
        if view is None:
            return  # 404/405 answered by Flask; the SPA's files are public
        scope = getattr(view, "likeness_scope", None)
        if scope == PUBLIC or (scope is None and not request.path.startswith("/api/")):
            return
        token = presented_token()
        if token is not None:
            key = keys.authenticate(token)
            if key is None:
                raise UnauthenticatedError("The API key is unknown or revoked.")
            g.api_key = key
            if not covers(key.scope, scope or "admin"):
                raise ForbiddenError(f"This key's scope ({key.scope}) does not allow that.")
            return
        if open_access(settings):
            return
        if getattr(view, "likeness_anonymous", False) and settings.anonymous_verify:
            return
        raise UnauthenticatedError(
            "An API key is needed (Authorization: Bearer lk_... or X-API-Key)."
        )
