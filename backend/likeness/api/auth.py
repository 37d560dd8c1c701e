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

import threading
import time
from collections import deque
from collections.abc import Callable

from flask import Flask, current_app, g, request

from likeness.auth import ApiKey, KeyStore, covers
from likeness.errors import ForbiddenError, RateLimitedError, UnauthenticatedError

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


class FailureCounter:
    """Refused keys (and key-less calls to key-only routes) per address, in a sliding
    minute: past the limit, 429 before any key is even looked up, so guessing keys
    costs a minute per few tries. Per process."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque:
        times = self._seen.setdefault(address, deque())
        while times and now - times[0] > 60:
            times.popleft()
        if not times:
            self._seen.pop(address, None)
            times = self._seen.setdefault(address, deque())
        return times

    def check(self, address: str) -> None:
        with self._lock:
            if len(self._recent(address, time.monotonic())) >= self.per_minute:
                raise RateLimitedError("Too many refused API keys from here; wait a minute.")

    def fail(self, address: str) -> None:
        with self._lock:
            self._recent(address, time.monotonic()).append(time.monotonic())
            if len(self._seen) > 100_000:  # bounded memory under a flood of addresses
                self._seen.clear()


def install(app: Flask, keys: KeyStore) -> None:
    settings = app.config["LIKENESS"]
    failures = FailureCounter(settings.auth_failures_per_minute)

    @app.before_request
    def _authorise():
        view = app.view_functions.get(request.endpoint or "")
        if view is None or request.method == "OPTIONS":
            return  # 404/405 by Flask; CORS preflights (no key is sent with them)
        scope = getattr(view, "likeness_scope", None)
        if scope == PUBLIC or (scope is None and not request.path.startswith("/api/")):
            return
        token = presented_token()
        address = request.remote_addr or "-"
        if token is not None:
            failures.check(address)
            key = keys.authenticate(token)
            if key is None:
                failures.fail(address)
                raise UnauthenticatedError("The API key is unknown or revoked.")
            g.api_key = key
            if not covers(key.scope, scope or "admin"):
                raise ForbiddenError(f"This key's scope ({key.scope}) does not allow that.")
            return
        if open_access(settings):
            return
        if getattr(view, "likeness_anonymous", False) and settings.anonymous_verify:
            return
        failures.check(address)
        failures.fail(address)
        raise UnauthenticatedError(
            "An API key is needed (Authorization: Bearer lk_... or X-API-Key)."
        )
