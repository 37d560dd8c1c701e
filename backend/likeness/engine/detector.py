"""Face detection with insightface's SCRFD, at an input size chosen per image.

SCRFD misses faces that fill the frame once a small image is upscaled to a
640x640 input (19 of the 7,701 LFW images at 250x250). We therefore run the
detector near the image's own resolution (a multiple of 32, clamped to
``[det_min_size, det_max_size]``, aspect ratio kept) and, if nothing is found,
retry at half and then at twice that size.
"""

from __future__ import annotations

import math

import numpy as np
from insightface.model_zoo.scrfd import SCRFD

from likeness.engine.types import DetectedFace

STRIDE = 32


def _ceil_to(value: float, step: int = STRIDE) -> int:
    return max(step, int(math.ceil(value / step)) * step)


class FaceDetector:
    """SCRFD wrapper: ``detect(image) -> [DetectedFace]`` sorted by score."""

    def __init__(
        self,
        session,
        model_file: str,
        *,
        det_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        min_size: int = 128,
        max_size: int = 640,
        max_faces: int = 100,
    ) -> None:
        self.model = SCRFD(model_file=model_file, session=session, static_shape_sessions=False)
        self.model.prepare(0, det_thresh=det_threshold, nms_thresh=nms_threshold)
        self.min_size = min_size
        self.max_size = max_size
        self.max_faces = max_faces

    def input_size_for(self, width: int, height: int, long_side: int | None = None) -> tuple:
        """Detector input (w, h): both multiples of 32, long side near the image's own."""
        longest = max(width, height)
        if long_side is None:
            long_side = min(max(_ceil_to(longest), self.min_size), self.max_size)
        scale = long_side / longest
        return _ceil_to(width * scale), _ceil_to(height * scale)

    def scales_for(self, width: int, height: int) -> list[tuple[int, int]]:
        """The first input size, then the retry sizes (half, then double)."""
        first = self.input_size_for(width, height)
        long_side = max(first)
        sizes = [first]
        for retry in (long_side // 2, min(long_side * 2, self.max_size)):
            if retry >= 2 * STRIDE:
                size = self.input_size_for(width, height, _ceil_to(retry))
                if size not in sizes:
                    sizes.append(size)
        return sizes

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        height, width = image.shape[:2]
        for size in self.scales_for(width, height):
            boxes, kps = self.model.detect(image, input_size=size)
            if len(boxes):
                break
        faces = [
            DetectedFace(
                box=b[:4].astype(np.float32), landmarks=k.astype(np.float32), score=float(b[4])
            )
            for b, k in zip(boxes, kps, strict=True)
        ]
        faces.sort(key=lambda f: f.score, reverse=True)
        return faces[: self.max_faces]
