"""Encoded test images made from real photos: every shape of input the API meets."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def jpeg(path: Path) -> bytes:
    return Path(path).read_bytes()


def truncated(path: Path, keep: float = 0.5) -> bytes:
    data = Path(path).read_bytes()
    return data[: int(len(data) * keep)]


def png_gray(path: Path) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
    return buf.tobytes()


def png_rgba(path: Path) -> bytes:
    bgr = cv2.imread(str(path))
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    bgra[:20, :20, 3] = 0  # some transparency
    ok, buf = cv2.imencode(".png", bgra)
    return buf.tobytes()


def png_16bit(path: Path) -> bytes:
    bgr16 = cv2.imread(str(path)).astype(np.uint16) * 257
    ok, buf = cv2.imencode(".png", bgr16)
    return buf.tobytes()


def gif(path: Path) -> bytes:
    out = io.BytesIO()
    Image.open(path).convert("P").save(out, "GIF")
    return out.getvalue()


def tiff(path: Path) -> bytes:
    out = io.BytesIO()
    Image.open(path).save(out, "TIFF")
    return out.getvalue()


def exif_rotated(path: Path, crop_height: int = 200) -> tuple[bytes, tuple[int, int]]:
    """A JPEG stored turned 90 degrees counter-clockwise with EXIF Orientation=6
    ("rotate 90 clockwise to display"), as phone cameras write them.

    Returns the bytes and the upright (width, height); the crop makes the image
    non-square so a missed rotation shows in the dimensions."""
    upright = Image.open(path).convert("RGB")
    upright = upright.crop((0, 0, upright.width, crop_height))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # Pillow: counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=95, exif=exif)
    return out.getvalue(), upright.size


def solid(width: int, height: int, value: int = 128) -> bytes:
    ok, buf = cv2.imencode(".png", np.full((height, width, 3), value, np.uint8))
    return buf.tobytes()


def noise(width: int = 320, height: int = 240, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    smooth = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (9, 9), 3)
    ok, buf = cv2.imencode(".jpg", smooth)
    return buf.tobytes()


def pixel_bomb(width: int = 8000, height: int = 8000) -> bytes:
    """A real, tiny PNG of a huge blank image (64 MP by default)."""
    ok, buf = cv2.imencode(
        ".png", np.zeros((height, width), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9]
    )
    return buf.tobytes()


def forged_png_header(width: int = 100_000, height: int = 100_000) -> bytes:
    """A small valid PNG whose IHDR claims enormous dimensions."""
    data = bytearray(solid(16, 16))
    ihdr = 8 + 8  # signature, length + type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr + 13])) & 0xFFFFFFFF
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)
