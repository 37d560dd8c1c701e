"""Turning untrusted bytes into a BGR ``uint8`` image, safely.

Pillow reads the header first (format, size) so limits are enforced before any
pixels are decoded, detects truncated files, and applies EXIF orientation.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from likeness.errors import (
    EmptyImageError,
    ImageDecodeError,
    ImageLoadError,
    ImageTooLargeError,
    ImageTooManyPixelsError,
    ImageTooSmallError,
    InvalidBase64Error,
    TruncatedImageError,
    UnsupportedFormatError,
)

#: Formats accepted from clients (Pillow format names).
SUPPORTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP"})

_DATA_URL = re.compile(r"^data:[\w/+.-]*;base64,", re.IGNORECASE)


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    min_side: int = 16

    @classmethod
    def from_settings(cls, settings) -> ImageLimits:
        return cls(settings.max_upload_bytes, settings.max_image_pixels, settings.min_image_side)


def decode_base64(text: str) -> bytes:
    """Bytes of a base64 string, with or without a ``data:...;base64,`` prefix."""
    payload = _DATA_URL.sub("", text.strip(), count=1)
    payload = "".join(payload.split())
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidBase64Error() from exc


def _to_uint8(pil: Image.Image) -> np.ndarray:
    """Any Pillow mode (L, LA, P, RGBA, CMYK, I;16, I, F) -> RGB uint8 array."""
    if pil.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(pil)
        if pil.mode.startswith("I;16"):
            arr8 = (arr.astype(np.uint32) >> 8).astype(np.uint8)
        else:
            lo, hi = float(arr.min()), float(arr.max())
            scale = 255.0 / (hi - lo) if hi > lo else 0.0
            arr8 = ((arr.astype(np.float32) - lo) * scale).astype(np.uint8)
        return np.ascontiguousarray(np.stack([arr8] * 3, axis=-1))
    if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
        rgba = pil.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        pil = Image.alpha_composite(background, rgba)
    if pil.mode != "RGB":
        pil = pil.convert("RGB")
    return np.asarray(pil)


def decode_image(data: bytes, limits: ImageLimits | None = None) -> np.ndarray:
    """Decode untrusted image bytes into an upright BGR ``uint8`` array (H, W, 3).

    Raises a subclass of :class:`ImageLoadError` with a stable code for every way
    the bytes can be unusable.
    """
    limits = limits or ImageLimits()
    if not data:
        raise EmptyImageError()
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(
            f"The image is {len(data)} bytes; the limit is {limits.max_bytes} bytes."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            pil = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("The file is not a recognised image.") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooManyPixelsError() from exc
    except Exception as exc:  # Pillow raises many types on hostile headers
        raise ImageDecodeError() from exc
    with pil:
        if pil.format not in SUPPORTED_FORMATS:
            raise UnsupportedFormatError(
                f"Format {pil.format or 'unknown'} is not supported; "
                f"send {', '.join(sorted(SUPPORTED_FORMATS))}."
            )
        width, height = pil.size
        if width * height > limits.max_pixels:
            raise ImageTooManyPixelsError(
                f"The image is {width}x{height} pixels; the limit is {limits.max_pixels} pixels."
            )
        if min(width, height) < limits.min_side:
            raise ImageTooSmallError(
                f"The image is {width}x{height} pixels; each side must be at least "
                f"{limits.min_side} pixels."
            )
        try:
            pil.load()
        except OSError as exc:
            raise TruncatedImageError() from exc
        except Exception as exc:
            raise ImageDecodeError() from exc
        try:
            upright = ImageOps.exif_transpose(pil)
        except Exception:  # a broken EXIF block must not reject an otherwise fine image
            upright = pil
        rgb = _to_uint8(upright)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def load_image(source: str | Path | bytes | np.ndarray, limits: ImageLimits | None = None):
    """A BGR image from a path, raw bytes or an array (arrays are taken as BGR)."""
    if isinstance(source, np.ndarray):
        if source.ndim == 2:
            return cv2.cvtColor(source, cv2.COLOR_GRAY2BGR)
        if source.ndim == 3 and source.shape[2] == 4:
            return cv2.cvtColor(source, cv2.COLOR_BGRA2BGR)
        if source.ndim == 3 and source.shape[2] == 3 and source.dtype == np.uint8:
            return source
        raise ImageLoadError(f"Unsupported array shape {source.shape} / dtype {source.dtype}.")
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_image(bytes(source), limits)
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageLoadError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    return decode_image(data, limits or ImageLimits(max_bytes=max(len(data), 1)))
