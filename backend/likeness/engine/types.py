"""Plain result types of the engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class DetectedFace:
    """One face: box (x1, y1, x2, y2), five landmarks (eyes, nose, mouth corners)
    in image pixels, and the detector's confidence."""

    box: np.ndarray
    landmarks: np.ndarray
    score: float

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))

    @property
    def center(self) -> tuple[float, float]:
        return float(self.box[0] + self.box[2]) / 2, float(self.box[1] + self.box[3]) / 2

    def as_dict(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
            "score": round(float(self.score), 4),
        }


@dataclass
class FaceEmbedding:
    """The embedding of the face chosen in an image, with what led to it."""

    faces: list[DetectedFace]
    index: int
    embedding: np.ndarray  # (D,) float32, L2-normalised
    norm: float  # raw norm before normalisation: a quality signal
    image_size: tuple[int, int]  # (width, height)
    timings_ms: dict[str, float] = field(default_factory=dict)
    crop: np.ndarray | None = None  # the aligned crop the embedding came from

    @property
    def face(self) -> DetectedFace:
        return self.faces[self.index]


@dataclass(frozen=True)
class Comparison:
    similarity: float
    threshold: float
    is_match: bool
