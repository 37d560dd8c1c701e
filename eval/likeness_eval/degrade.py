"""Degraded copies of face photos: downscaled, blurred, darkened, JPEG-compressed.

Each kind takes a severity in [0, 1] (0 barely changes the image, 1 is the worst
the kind produces); a seeded generator draws one per image so that a set of copies
spans the range from harmless to unmatchable."""

from __future__ import annotations

import cv2
import numpy as np

KINDS = ("downscale", "blur", "dark", "jpeg")


def downscale(image: np.ndarray, severity: float) -> np.ndarray:
    """Shrink to between 40% (severity 0) and 8% (severity 1) of each side."""
    factor = 0.40 - 0.32 * severity
    height, width = image.shape[:2]
    size = (max(8, round(width * factor)), max(8, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def blur(image: np.ndarray, severity: float) -> np.ndarray:
    """Gaussian blur, sigma from 1 to 7 pixels (of a 250-pixel LFW photo)."""
    sigma = 1.0 + 6.0 * severity
    return cv2.GaussianBlur(image, (0, 0), sigma)


def dark(image: np.ndarray, severity: float, rng: np.random.Generator) -> np.ndarray:
    """Underexposure: brightness scaled by 0.35 down to 0.04, with sensor noise."""
    gain = 0.35 - 0.31 * severity
    noisy = image.astype(np.float32) * gain + rng.normal(0, 2.0, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, severity: float) -> np.ndarray:
    """JPEG at quality 20 (severity 0) down to 2."""
    quality = round(20 - 18 * severity)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise ValueError("JPEG encoding failed")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)


def degrade(image: np.ndarray, kind: str, severity: float, rng: np.random.Generator):
    """``image`` (BGR uint8) degraded by ``kind`` at ``severity``."""
    if kind == "downscale":
        return downscale(image, severity)
    if kind == "blur":
        return blur(image, severity)
    if kind == "dark":
        return dark(image, severity, rng)
    if kind == "jpeg":
        return jpeg(image, severity)
    raise ValueError(f"unknown degradation {kind!r}; choose from {', '.join(KINDS)}")
