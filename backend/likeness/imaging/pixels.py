"""Pixel values of any type and layout -> BGR ``uint8``."""

from __future__ import annotations

import cv2
import numpy as np

from likeness.errors import ImageLoadError, ImageTooManyPixelsError, ImageTooSmallError
from likeness.imaging.limits import ImageLimits

#: Bit depths integer data is assumed to use: the smallest that holds its largest
#: value (12-bit data in a 16-bit container is scaled by 4095, not shifted by 8).
DEPTHS = (8, 10, 12, 14, 16, 32)


def bit_depth(array: np.ndarray, significant: int | None = None) -> int:
    """The bit depth of integer samples: ``significant`` when the file says so (PNG
    sBIT), else the smallest of ``DEPTHS`` that holds the largest value."""
    if significant:
        return int(significant)
    high = int(array.max()) if array.size else 0
    return next(d for d in DEPTHS if high < (1 << d))


def _scale_integer(array: np.ndarray, depth: int) -> np.ndarray:
    """Integer samples of ``depth`` bits -> uint8, without a float copy of the image
    (a lookup table for 16-bit data)."""
    top = float((1 << depth) - 1)
    if array.dtype in (np.uint8, np.uint16):
        size = 256 if array.dtype == np.uint8 else 65536
        table = np.clip(np.rint(np.arange(size) * (255.0 / top)), 0, 255).astype(np.uint8)
        return table[array]
    return np.clip(np.rint(array.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)


def to_uint8(array: np.ndarray, significant: int | None = None) -> np.ndarray:
    """Samples of any numeric type -> ``uint8`` by their real range: integers by their
    bit depth (``bit_depth``), floats as 0..1 when they stay within it, else 0..255."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.integer):
        if array.size and int(array.min()) < 0:
            raise ImageLoadError("Pixel values must not be negative.")
        return _scale_integer(array, bit_depth(array, significant))
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise ImageLoadError("Pixel values must be finite numbers.")
        scale = 255.0 if array.size and float(array.max()) <= 1.0 else 1.0
        return np.clip(np.rint(array * scale), 0, 255).astype(np.uint8)
    raise ImageLoadError(f"Pixel values of type {array.dtype} are not supported.")


def over_white(rgba: np.ndarray) -> np.ndarray:
    """Colour and alpha (uint8, 4 channels) composited over white -> 3 channels."""
    alpha = rgba[..., 3:4].astype(np.uint16)
    colour = rgba[..., :3].astype(np.uint16)
    return ((colour * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def check_size(width: int, height: int, limits: ImageLimits) -> None:
    if width * height > limits.max_pixels:
        raise ImageTooManyPixelsError(
            f"The image is {width}x{height} pixels; the limit is {limits.max_pixels} pixels."
        )
    if min(width, height) < limits.min_side:
        raise ImageTooSmallError(
            f"The image is {width}x{height} pixels; each side must be at least "
            f"{limits.min_side} pixels."
        )


def array_to_bgr(
    array: np.ndarray, limits: ImageLimits | None = None, significant: int | None = None
) -> np.ndarray:
    """A BGR ``uint8`` image from an array taken as gray (H, W), (H, W, 1), BGR or
    BGRA, of any numeric type. Colour is scaled by the colour channels' own depth
    (alpha does not count towards it), alpha by its own."""
    limits = limits or ImageLimits()
    if not isinstance(array, np.ndarray) or array.dtype == object:
        raise ImageLoadError("An image array must be a numeric numpy array.")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageLoadError(
            f"Unsupported array shape {array.shape}: give (H, W), (H, W, 3) BGR or (H, W, 4)."
        )
    check_size(array.shape[1], array.shape[0], limits)
    if array.ndim == 2:
        return cv2.cvtColor(to_uint8(array, significant), cv2.COLOR_GRAY2BGR)
    if array.shape[2] == 3:
        return np.ascontiguousarray(to_uint8(array, significant))
    colour = to_uint8(array[..., :3], significant)
    alpha = array[..., 3:4]
    if np.issubdtype(alpha.dtype, np.integer):  # opacity is relative to the container
        alpha = to_uint8(alpha, significant or alpha.dtype.itemsize * 8)
    else:
        alpha = to_uint8(alpha)
    return over_white(np.concatenate([colour, alpha], axis=2))
