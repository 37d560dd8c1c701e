"""How much one image may cost: bytes, pixels, scans, seconds, and how many large
decodes one process runs at once."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass

#: Decodes above this many pixels wait for a large-decode slot.
LARGE_DECODE_PIXELS = 4_000_000

_slots = threading.BoundedSemaphore(1)
_slot_count = 1


def set_large_decodes(slots: int) -> None:
    """How many large images one process may decode at once (settings)."""
    global _slots, _slot_count
    slots = max(1, int(slots))
    if slots != _slot_count:
        _slots, _slot_count = threading.BoundedSemaphore(slots), slots


@contextmanager
def decode_slot(pixels: int):
    """Held while decoding an image of ``pixels``; waits only for large ones."""
    if pixels <= LARGE_DECODE_PIXELS:
        yield
        return
    slots = _slots
    with slots:
        yield


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 25_000_000
    min_side: int = 16
    max_jpeg_scans: int = 64
    max_decode_seconds: float = 10.0  # CPU seconds of a watched decode

    @classmethod
    def from_settings(cls, settings) -> ImageLimits:
        set_large_decodes(settings.max_large_decodes)
        return cls(
            settings.max_upload_bytes,
            settings.max_image_pixels,
            settings.min_image_side,
            settings.max_jpeg_scans,
            settings.max_decode_seconds,
        )
