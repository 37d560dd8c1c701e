"""What a key may do. Each scope includes the ones before it:

* ``verify``: detect, verify and search (reads the gallery's answers, not its data);
* ``write``: enrol persons and faces, send feedback;
* ``admin``: erase, export, set thresholds, see models, force enrolments, manage keys.
"""

from __future__ import annotations

SCOPES = ("verify", "write", "admin")


def covers(granted: str | list[str] | tuple[str, ...], needed: str) -> bool:
    """Whether the granted scope(s) include ``needed``."""
    if needed not in SCOPES:
        raise ValueError(f"unknown scope {needed!r}")
    granted = [granted] if isinstance(granted, str) else list(granted)
    rank = SCOPES.index(needed)
    return any(g in SCOPES and SCOPES.index(g) >= rank for g in granted)
