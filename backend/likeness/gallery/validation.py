"""Checks of caller-supplied values the gallery stores: names and metadata."""

from __future__ import annotations

import json
import unicodedata

from likeness.errors import InvalidTextError, MetadataTooLargeError, ValidationError
from likeness.text import check_text, storable

#: Metadata of a person or an image: a JSON object of at most this many bytes
#: (UTF-8, compact) and this many levels of nesting.
METADATA_MAX_BYTES = 16 * 1024
METADATA_MAX_DEPTH = 8
NAME_MAX_CHARS = 255


def check_consent(basis: str | None, settings, field: str = "consent_basis") -> str | None:
    """The consent basis, checked against ``settings.consent_bases`` when that lists
    the allowed wordings (empty: any text of up to 500 characters)."""
    if basis is None:
        return None
    basis = check_text(str(basis).strip(), field)
    allowed = list(getattr(settings, "consent_bases", []) or [])
    if allowed and basis not in allowed:
        raise ValidationError(f"consent_basis must be one of: {'; '.join(allowed)}.", field=field)
    if not basis or len(basis) > 500:
        raise ValidationError("consent_basis needs 1 to 500 characters.", field=field)
    return basis


#: Invisible characters that would make "Ada" and "Ada" two names: zero-width
#: space, word joiner, byte-order mark, bidi marks, embeddings and isolates (the
#: joiners ZWNJ/ZWJ stay: Persian and Indic names need them).
_INVISIBLE = frozenset(
    "\u200b\u200e\u200f\u2060\ufeff"
    + "".join(map(chr, range(0x202A, 0x202F)))
    + "".join(map(chr, range(0x2066, 0x206A)))
)


def normalise_name(name: str) -> str:
    """Unicode NFC, without invisible characters, single spaces, trimmed."""
    name = unicodedata.normalize("NFC", name)
    return " ".join("".join(ch for ch in name if ch not in _INVISIBLE).split())


def name_key(name: str | None) -> str | None:
    """What makes two names the same name (case and width aside); None for none."""
    if not name:
        return None
    key = unicodedata.normalize("NFKC", normalise_name(name)).casefold()
    return key or None


def check_name(name: str | None, field: str = "name") -> str:
    """A person's name as stored (``normalise_name``), checked."""
    if not isinstance(name, str):
        raise ValidationError("A person needs a name.", field=field)
    name = normalise_name(name)
    if not name:
        raise ValidationError("A person needs a name.", field=field)
    name = check_text(name, field)
    if len(name) > NAME_MAX_CHARS:
        raise ValidationError(f"A name has at most {NAME_MAX_CHARS} characters.", field=field)
    return name


def _strings(value):
    """Every string (keys too) in a JSON value, without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _depth(value, limit: int) -> int:
    """Nesting depth of a JSON value, without recursion; stops past ``limit``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def check_metadata(metadata, field: str = "metadata") -> dict | None:
    """A metadata object within the size and depth limits (None stays None)."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise ValidationError("Metadata must be a JSON object.", field=field)
    if _depth(metadata, METADATA_MAX_DEPTH) > METADATA_MAX_DEPTH:
        raise MetadataTooLargeError(
            f"Metadata may be nested at most {METADATA_MAX_DEPTH} levels deep.", field=field
        )
    if not all(storable(item) for item in _strings(metadata)):
        raise InvalidTextError("Metadata text must not hold NUL or lone surrogates.", field=field)
    try:
        text = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        size = len(text.encode())
    except (TypeError, ValueError, UnicodeEncodeError):
        raise ValidationError(
            "Metadata must be JSON: text, finite numbers, lists and objects.", field=field
        ) from None
    if size > METADATA_MAX_BYTES:
        raise MetadataTooLargeError(
            f"Metadata is {size} bytes; the limit is {METADATA_MAX_BYTES} bytes.", field=field
        )
    return metadata or None
