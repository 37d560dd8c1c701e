"""Quality signals of one detected face, measured from what the pipeline already has:
the detection (box, 5 landmarks, score), the aligned 112x112 crop and the raw
embedding norm. Each is cheap (well under a millisecond)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from likeness.engine import DetectedFace

#: The centre of the aligned crop (the face without hair and background).
_INNER = slice(16, 96)


@dataclass(frozen=True)
class Signals:
    det_score: float
    face_width: float
    face_height: float
    face_area_ratio: float  # box area / image area
    embedding_norm: float  # raw norm of the recogniser's output
    sharpness: float  # variance of the Laplacian of the crop's centre (grey levels^2)
    brightness: float  # mean grey level of the crop's centre, 0-255
    contrast: float  # standard deviation of the grey levels there
    yaw: float  # nose offset from the eye-mouth midline / eye distance (0 frontal)
    pitch: float  # nose height between eyes (0) and mouth (1); about 0.5 frontal
    roll: float  # eye-line angle, degrees

    @property
    def face_size(self) -> float:
        """The shorter side of the face box, pixels."""
        return min(self.face_width, self.face_height)

    def as_dict(self) -> dict:
        return {
            "det_score": _round(self.det_score, 4),
            "face_size": [int(_round(self.face_width, 0)), int(_round(self.face_height, 0))],
            "face_area_ratio": _round(self.face_area_ratio, 4),
            "embedding_norm": _round(self.embedding_norm, 3),
            "sharpness": _round(self.sharpness, 1),
            "brightness": _round(self.brightness, 1),
            "contrast": _round(self.contrast, 1),
            "pose": {
                "yaw": _round(self.yaw, 3),
                "pitch": _round(self.pitch, 3),
                "roll": _round(self.roll, 1),
            },
        }


def _round(value: float, digits: int) -> float:
    """Rounded for JSON; a non-finite value (never from real detections) becomes 0."""
    return round(value, digits) if math.isfinite(value) else 0.0


def pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) proxies from the five landmarks (eyes, nose, mouth corners):
    unitless yaw and pitch ratios and roll in degrees."""
    points = np.asarray(landmarks, np.float64).reshape(5, 2)
    left_eye, right_eye, nose, left_mouth, right_mouth = points
    dx, dy = right_eye - left_eye
    roll = math.degrees(math.atan2(dy, dx))
    eye_distance = max(math.hypot(dx, dy), 1e-6)
    # Undo the roll so that "sideways" and "up" are the face's own axes.
    c, s = math.cos(-math.radians(roll)), math.sin(-math.radians(roll))
    rotate = np.array([[c, -s], [s, c]])
    p = (points - points.mean(axis=0)) @ rotate.T
    eyes_mid = (p[0] + p[1]) / 2
    mouth_mid = (p[3] + p[4]) / 2
    yaw = (p[2, 0] - (eyes_mid[0] + mouth_mid[0]) / 2) / eye_distance
    span = mouth_mid[1] - eyes_mid[1]
    pitch = (p[2, 1] - eyes_mid[1]) / span if abs(span) > 1e-6 else 0.0
    return float(yaw), float(pitch), float(roll)


def crop_statistics(crop: np.ndarray) -> tuple[float, float, float]:
    """(sharpness, brightness, contrast) of an aligned BGR crop's centre."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    inner = np.ascontiguousarray(grey[_INNER, _INNER])
    sharpness = float(cv2.meanStdDev(cv2.Laplacian(inner, cv2.CV_32F))[1][0][0]) ** 2
    mean, std = cv2.meanStdDev(inner)
    return sharpness, float(mean[0][0]), float(std[0][0])


def measure(
    face: DetectedFace, crop: np.ndarray, norm: float, image_size: tuple[int, int]
) -> Signals:
    """Every signal of one face; ``image_size`` is (width, height)."""
    x1, y1, x2, y2 = (float(v) for v in face.box[:4])
    width, height = max(x2 - x1, 0.0), max(y2 - y1, 0.0)
    image_area = max(float(image_size[0]) * float(image_size[1]), 1.0)
    sharpness, brightness, contrast = crop_statistics(crop)
    yaw, pitch, roll = pose(face.landmarks)
    return Signals(
        det_score=float(face.score),
        face_width=width,
        face_height=height,
        face_area_ratio=min(width * height / image_area, 1.0),
        embedding_norm=float(norm),
        sharpness=sharpness,
        brightness=brightness,
        contrast=contrast,
        yaw=yaw,
        pitch=pitch,
        roll=roll,
    )
