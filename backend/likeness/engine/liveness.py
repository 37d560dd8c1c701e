"""Passive liveness on one image: Silent-Face's two MiniFASNet models (ONNX).

Each model looks at the face box enlarged by its own scale (2.7x and 4.0x, kept
inside the image), resized to 80x80, BGR with raw 0-255 values; their softmax
outputs are averaged and class 1 is "live". Single-frame passive liveness reduces
the risk of a photo held up to a camera; it is not proof of presence.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from likeness.engine.types import DetectedFace

INPUT_SIZE = 80
LIVE = 1  # class index of a live face


@dataclass(frozen=True)
class LivenessResult:
    is_live: bool
    score: float  # averaged probability of "live"

    def as_dict(self) -> dict:
        return {"is_live": self.is_live, "liveness_score": round(self.score, 4)}


def crop_box(width: int, height: int, box, scale: float) -> tuple[int, int, int, int]:
    """The face box scaled about its centre, shifted (not cut) to stay inside the
    image, as Silent-Face crops: (x1, y1, x2, y2), inclusive."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    box_w, box_h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    scale = min((height - 1) / box_h, (width - 1) / box_w, scale)
    new_w, new_h = box_w * scale, box_h * scale
    cx, cy = x1 + box_w / 2, y1 + box_h / 2
    left, top, right, bottom = cx - new_w / 2, cy - new_h / 2, cx + new_w / 2, cy + new_h / 2
    if left < 0:
        right, left = right - left, 0.0
    if top < 0:
        bottom, top = bottom - top, 0.0
    if right > width - 1:
        left, right = left - (right - width + 1), width - 1.0
    if bottom > height - 1:
        top, bottom = top - (bottom - height + 1), height - 1.0
    return int(max(left, 0)), int(max(top, 0)), int(right), int(bottom)


class LivenessModel:
    """``check(image, face) -> LivenessResult``; sessions made by the engine."""

    def __init__(self, sessions: list[tuple[float, object]], threshold: float = 0.5) -> None:
        self.models = sessions  # (crop scale, onnxruntime session)
        self.threshold = threshold
        self._inputs = [s.get_inputs()[0].name for _, s in sessions]

    def crops(self, image: np.ndarray, face: DetectedFace) -> list[np.ndarray]:
        height, width = image.shape[:2]
        out = []
        for scale, _ in self.models:
            x1, y1, x2, y2 = crop_box(width, height, face.box, scale)
            patch = image[y1 : y2 + 1, x1 : x2 + 1]
            out.append(cv2.resize(patch, (INPUT_SIZE, INPUT_SIZE)))
        return out

    def check(self, image: np.ndarray, face: DetectedFace) -> LivenessResult:
        total = np.zeros(3, np.float64)
        for (_, session), name, crop in zip(
            self.models, self._inputs, self.crops(image, face), strict=True
        ):
            batch = crop.transpose(2, 0, 1)[None].astype(np.float32)  # raw 0-255 BGR
            logits = session.run(None, {name: batch})[0][0].astype(np.float64)
            exp = np.exp(logits - logits.max())
            total += exp / exp.sum()
        score = float(total[LIVE] / len(self.models))
        return LivenessResult(score >= self.threshold, score)
