"""Text a database can store: valid Unicode (no lone surrogates) without NUL."""

from __future__ import annotations

from likeness.errors import InvalidTextError


def storable(value: str) -> bool:
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(value: str, field: str | None = None) -> str:
    """``value`` unless it holds NUL or lone surrogates (InvalidTextError)."""
    if not storable(value):
        where = f"'{field}'" if field else "A text field"
        raise InvalidTextError(
            f"{where} is not storable text (NUL or lone surrogates).", field=field
        )
    return value
