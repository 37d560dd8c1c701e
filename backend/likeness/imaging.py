"""Turning untrusted bytes into a BGR ``uint8`` image, safely.

Pillow reads the header first (format, size) so limits are enforced before any
pixels are decoded, detects truncated files, and applies EXIF orientation.

Decoding time and memory are bounded before any pixel is decoded:

* pixels: ``max_image_pixels`` (default 25 Mpx: a 6000x4000 camera photo);
* progressive JPEG scans: each scan is a pass over the whole image, so a small
  file of thousands of empty scans takes minutes; the scans are counted from the
  markers first and more than ``max_jpeg_scans`` are refused;
* concurrency: decodes above ``LARGE_DECODE_PIXELS`` take one of
  ``max_large_decodes`` slots per process, so parallel requests cannot multiply
  the peak memory of a large image.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import threading
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
    ImageTooComplexError,
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


#: Decodes above this many pixels wait for a large-decode slot.
LARGE_DECODE_PIXELS = 4_000_000
_large_decodes = threading.BoundedSemaphore(1)
_large_decodes_size = 1


def set_large_decodes(slots: int) -> None:
    """How many large images one process may decode at once (settings)."""
    global _large_decodes, _large_decodes_size
    slots = max(1, int(slots))
    if slots != _large_decodes_size:
        _large_decodes, _large_decodes_size = threading.BoundedSemaphore(slots), slots


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 25_000_000
    min_side: int = 16
    max_jpeg_scans: int = 64

    @classmethod
    def from_settings(cls, settings) -> ImageLimits:
        set_large_decodes(settings.max_large_decodes)
        return cls(
            settings.max_upload_bytes,
            settings.max_image_pixels,
            settings.min_image_side,
            settings.max_jpeg_scans,
        )


# A marker inside entropy-coded JPEG data: 0xFF (fill bytes allowed) followed by
# anything but a stuffed zero or a restart marker.
_JPEG_MARKER = re.compile(rb"\xff+([^\x00\xd0-\xd7\xff])")
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def count_jpeg_scans(data: bytes, stop_after: int | None = None) -> int:
    """Start-of-scan segments of a JPEG, found by walking its markers (segment
    lengths are honoured, so bytes inside metadata never count)."""
    scans, pos, end = 0, 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:  # entropy-coded data: jump to the next real marker
            found = _JPEG_MARKER.search(data, pos)
            if found is None:
                break
            pos = found.start(1) - 1
            continue
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xD9:  # end of image
            break
        if marker in _STANDALONE:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:
            scans += 1
            if stop_after is not None and scans > stop_after:
                break
        pos += 2 + max(length, 2)
    return scans


def decode_base64(text: str) -> bytes:
    """Bytes of a base64 string, with or without a ``data:...;base64,`` prefix."""
    payload = _DATA_URL.sub("", text.strip(), count=1)
    payload = "".join(payload.split())
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidBase64Error() from exc


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Pixel values of any numeric type -> ``uint8``, by their real range: integers
    by the bit depth their largest value needs (12-bit data in a 16-bit container is
    scaled by 4095, not shifted by 8), floats as 0..1 when they stay within it,
    else as 0..255."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.integer):
        high = int(array.max()) if array.size else 0
        if int(array.min() if array.size else 0) < 0:
            raise ImageLoadError("Pixel values must not be negative.")
        bits = max(8, high.bit_length())
        scale = 255.0 / float((1 << bits) - 1)
        return np.clip(np.rint(array.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise ImageLoadError("Pixel values must be finite numbers.")
        scale = 255.0 if array.size and float(array.max()) <= 1.0 else 1.0
        return np.clip(np.rint(array.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    raise ImageLoadError(f"Pixel values of type {array.dtype} are not supported.")


def _white_background(rgba: np.ndarray) -> np.ndarray:
    """RGBA (uint8) over white -> RGB, in place on the colour channels."""
    alpha = rgba[..., 3:4].astype(np.uint16)
    rgb = rgba[..., :3]
    rgb[...] = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
    return np.ascontiguousarray(rgb)


def _to_rgb(pil: Image.Image) -> np.ndarray:
    """Any Pillow mode (L, LA, P, RGBA, CMYK, I;16, I, F) -> RGB uint8 array."""
    if pil.mode.startswith("I;16") or pil.mode in ("I", "F"):
        gray = to_uint8(np.asarray(pil))
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=-1))
    if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
        rgba = np.array(pil.convert("RGBA") if pil.mode != "RGBA" else pil)
        return _white_background(rgba)
    if pil.mode != "RGB":
        pil = pil.convert("RGB")
    return np.asarray(pil)


def _png_16bit(data: bytes) -> bool:
    """A PNG whose IHDR says 16 bits per sample (Pillow would keep only 8 of them)."""
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 25 and data[24] == 16


def _decode_png_16bit(data: bytes) -> np.ndarray:
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise TruncatedImageError()
    return load_image(array)


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
        if pil.format == "JPEG":
            scans = count_jpeg_scans(data, stop_after=limits.max_jpeg_scans)
            if scans > limits.max_jpeg_scans:
                raise ImageTooComplexError(
                    f"The JPEG has more than {limits.max_jpeg_scans} scans; "
                    "re-save it as a baseline or ordinary progressive JPEG."
                )
        large = width * height > LARGE_DECODE_PIXELS
        slots = _large_decodes
        if large:
            slots.acquire()
        try:
            if pil.format == "PNG" and _png_16bit(data):
                return _decode_png_16bit(data)
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
            try:
                return cv2.cvtColor(_to_rgb(upright), cv2.COLOR_RGB2BGR)
            except (cv2.error, ValueError, MemoryError) as exc:
                raise ImageDecodeError() from exc
        finally:
            if large:
                slots.release()


def array_to_bgr(array: np.ndarray, limits: ImageLimits | None = None) -> np.ndarray:
    """A BGR ``uint8`` image from an array taken as gray (H, W), (H, W, 1), BGR or
    BGRA, of any numeric type (normalised by its real range: ``to_uint8``)."""
    limits = limits or ImageLimits()
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageLoadError(
            f"Unsupported array shape {array.shape}: give (H, W), (H, W, 3) BGR or (H, W, 4)."
        )
    height, width = array.shape[:2]
    if height * width > limits.max_pixels:
        raise ImageTooManyPixelsError(
            f"The image is {width}x{height} pixels; the limit is {limits.max_pixels} pixels."
        )
    if min(height, width) < limits.min_side:
        raise ImageTooSmallError(
            f"The image is {width}x{height} pixels; each side must be at least "
            f"{limits.min_side} pixels."
        )
    pixels = to_uint8(array)
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    if pixels.shape[2] == 4:
        rgba = np.ascontiguousarray(pixels)
        bgr = _white_background(rgba.copy() if rgba is array else rgba)
        return np.ascontiguousarray(bgr)
    return np.ascontiguousarray(pixels)


def load_image(source: str | Path | bytes | np.ndarray, limits: ImageLimits | None = None):
    """A BGR image from a path, raw bytes or an array (arrays are taken as BGR)."""
    if isinstance(source, np.ndarray):
        return array_to_bgr(source, limits)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_image(bytes(source), limits)
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageLoadError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    return decode_image(data, limits or ImageLimits(max_bytes=max(len(data), 1)))
