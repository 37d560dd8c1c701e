"""Encoding small images we keep (aligned face crops) as JPEG."""

from __future__ import annotations

import cv2
import numpy as np

#: JPEG quality of stored face crops: a 112x112 crop is about 4 KB.
CROP_QUALITY = 90


def encode_crop(crop: np.ndarray, quality: int = CROP_QUALITY) -> bytes:
    """A BGR ``uint8`` crop as JPEG bytes."""
    ok, buffer = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding of a face crop failed")
    return buffer.tobytes()
