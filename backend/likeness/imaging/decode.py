"""Bytes, paths and arrays -> an upright BGR ``uint8`` image, within the limits."""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
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
    InvalidBase64Error,
    TruncatedImageError,
    UnsupportedFormatError,
)
from likeness.imaging.jpeg import inspect_jpeg
from likeness.imaging.limits import ImageLimits, decode_slot
from likeness.imaging.pixels import array_to_bgr, check_size, to_uint8
from likeness.imaging.watchdog import decode_with_deadline

#: Formats accepted from clients (Pillow format names; MPO is a JPEG with a second
#: image appended, as many phones and cameras write them: the first is used).
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP"})
#: Segments before the first JPEG scan, chunks before the first PNG image data:
#: Pillow parses each in Python; ordinary files have a few dozen.
MAX_HEADER_PARTS = 1000
#: JPEGs of several scans cost scans x pixels; above this budget they are decoded in
#: a child process under a CPU-time limit (below it, about a second at most here).
WATCHED_SCAN_PIXELS = 100_000_000

_DATA_URL = re.compile(r"^data:[\w/+.-]*;base64,", re.IGNORECASE)
_PNG = b"\x89PNG\r\n\x1a\n"
ORIENTATION = 0x0112  # the EXIF tag


def decode_base64(text: str) -> bytes:
    """Bytes of a base64 string, with or without a ``data:...;base64,`` prefix."""
    payload = _DATA_URL.sub("", text.strip(), count=1)
    payload = "".join(payload.split())
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidBase64Error() from exc


def _png_info(data: bytes) -> tuple[int, int | None]:
    """(bit depth, significant bits from the sBIT chunk or None) of a PNG; refuses
    one with more than ``MAX_HEADER_PARTS`` chunks before its image data."""
    depth = data[24] if len(data) > 25 else 8
    pos, significant = 8, None
    for _ in range(MAX_HEADER_PARTS):
        if pos + 8 > len(data):
            break
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind == b"sBIT":
            bits = data[pos + 8 : pos + 8 + min(length, 3)]
            significant = max(bits) if bits else None
        if kind in (b"IDAT", b"IEND"):
            return depth, significant
        pos += 12 + length
    else:
        raise ImageTooComplexError(
            f"The PNG has more than {MAX_HEADER_PARTS} chunks before its image data."
        )
    return depth, significant


def _rgb(pil: Image.Image) -> np.ndarray:
    """Any Pillow mode (L, LA, P, RGBA, CMYK, I;16, I, F) -> RGB uint8 array."""
    if pil.mode.startswith("I;16") or pil.mode in ("I", "F"):
        gray = to_uint8(np.asarray(pil))
        return np.repeat(gray[..., None], 3, axis=-1)
    if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
        rgba = pil.convert("RGBA") if pil.mode != "RGBA" else pil
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))  # in C, no RGBA-sized copies
        return np.array(white)
    if pil.mode != "RGB":
        pil = pil.convert("RGB")
    return np.array(pil)  # writable: turned into BGR in place


def _pillow_rgb(data: bytes) -> np.ndarray:
    """Decode with Pillow, upright (EXIF), as RGB uint8. Pillow and numpy only (it
    also runs in the deadline child)."""
    pil = Image.open(io.BytesIO(data))
    with pil:
        try:
            pil.load()
        except OSError as exc:
            raise TruncatedImageError() from exc
        except Exception as exc:
            raise ImageDecodeError() from exc
        try:  # exif_transpose copies even an upright image: only call it when needed
            turned = pil.getexif().get(ORIENTATION, 1) not in (1, None)
            upright = ImageOps.exif_transpose(pil) if turned else pil
        except Exception:  # a broken EXIF block must not reject an otherwise fine image
            upright = pil
        return _rgb(upright)


def _png_high_depth(data: bytes, significant: int | None, limits: ImageLimits) -> np.ndarray:
    """16-bit PNGs through OpenCV, which keeps all 16 bits (Pillow keeps 8)."""
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise TruncatedImageError()
    return array_to_bgr(array, limits, significant)


def decode_image(data: bytes, limits: ImageLimits | None = None) -> np.ndarray:
    """Decode untrusted image bytes into an upright BGR ``uint8`` array (H, W, 3).

    Raises a subclass of :class:`ImageLoadError` with a stable code for every way
    the bytes can be unusable or too costly.
    """
    limits = limits or ImageLimits()
    if not data:
        raise EmptyImageError()
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(
            f"The image is {len(data)} bytes; the limit is {limits.max_bytes} bytes."
        )
    scans, png = 1, None
    if data[:2] == b"\xff\xd8":  # before Pillow parses the header segments in Python
        shape = inspect_jpeg(data, limits.max_jpeg_scans, MAX_HEADER_PARTS)
        if shape.header_segments > MAX_HEADER_PARTS:
            raise ImageTooComplexError(
                f"The JPEG has more than {MAX_HEADER_PARTS} segments before its image data."
            )
        if shape.scans > limits.max_jpeg_scans:
            raise ImageTooComplexError(
                f"The JPEG has more than {limits.max_jpeg_scans} scans; "
                "re-save it as a baseline or ordinary progressive JPEG."
            )
        scans = max(1, shape.scans)
    elif data[:8] == _PNG:
        png = _png_info(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as pil:
                image_format, (width, height) = pil.format, pil.size
    except UnidentifiedImageError as exc:
        raise ImageDecodeError("The file is not a recognised image.") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooManyPixelsError() from exc
    except Exception as exc:  # Pillow raises many types on hostile headers
        raise ImageDecodeError() from exc
    if image_format not in SUPPORTED_FORMATS:
        raise UnsupportedFormatError(
            f"Format {image_format or 'unknown'} is not supported; "
            f"send {', '.join(sorted(SUPPORTED_FORMATS))}."
        )
    check_size(width, height, limits)
    with decode_slot(width * height):
        try:
            if png is not None and png[0] == 16:
                return _png_high_depth(data, png[1], limits)
            if scans * width * height > WATCHED_SCAN_PIXELS:  # each scan: a pass over it
                rgb = decode_with_deadline(
                    lambda: _pillow_rgb(data), width * height, limits.max_decode_seconds
                )
            else:
                rgb = _pillow_rgb(data)
            if rgb.flags.writeable and rgb.flags.c_contiguous:
                return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR, dst=rgb)  # no second copy
            return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        except (cv2.error, ValueError, MemoryError) as exc:
            raise ImageDecodeError() from exc


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
