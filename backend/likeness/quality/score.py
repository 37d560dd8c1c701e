"""The combined quality score: one number in [0, 1] from the face's signals.

A logistic model over a few transformed signals, fitted by
``python -m likeness_eval.facechecks`` on LFW and degraded copies of it: the
score estimates the probability that the face still matches other photos of the
same person at the operating threshold. Its weights are plain JSON in
``models/quality-<recogniser>.json`` (with the embedding norm, whose scale belongs
to one recogniser) and ``models/quality-generic.json`` (without it, for any
other recogniser).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from likeness.quality.signals import Signals

MODELS_DIR = Path(__file__).parent / "models"
GENERIC = "generic"


def transform(name: str, s: Signals) -> float:
    """The model's input ``name`` computed from the signals (monotone transforms that
    make each one roughly linear in its effect on matching)."""
    if name == "det_score":
        return s.det_score
    if name == "log_face_size":
        return math.log(max(s.face_size, 1.0))
    if name == "embedding_norm":
        return s.embedding_norm
    if name == "log_sharpness":
        return math.log1p(max(s.sharpness, 0.0))
    if name == "log_contrast":
        return math.log1p(max(s.contrast, 0.0))
    if name == "exposure_error":
        return abs(s.brightness - 128.0) / 128.0
    if name == "abs_yaw":
        return abs(s.yaw)
    if name == "pitch_error":
        return abs(s.pitch - 0.5)
    if name == "abs_roll":
        return abs(s.roll) / 45.0
    raise KeyError(name)


INPUTS = (
    "det_score",
    "log_face_size",
    "embedding_norm",
    "log_sharpness",
    "log_contrast",
    "exposure_error",
    "abs_yaw",
    "pitch_error",
    "abs_roll",
)


class QualityModel:
    """``score(signals) -> float`` in [0, 1]."""

    def __init__(self, spec: dict) -> None:
        self.inputs: list[str] = list(spec["inputs"])
        self.mean = np.asarray(spec["mean"], np.float64)
        self.scale = np.asarray(spec["scale"], np.float64)
        self.coef = np.asarray(spec["coef"], np.float64)
        self.intercept = float(spec["intercept"])
        if not (len(self.inputs) == len(self.mean) == len(self.scale) == len(self.coef)):
            raise ValueError("quality model arrays do not fit together")
        unknown = set(self.inputs) - set(INPUTS)
        if unknown:
            raise ValueError(f"quality model uses unknown inputs: {sorted(unknown)}")
        self.spec = spec

    @staticmethod
    def file_name(recogniser_sha256: str | None) -> str:
        return f"quality-{recogniser_sha256[:16] if recogniser_sha256 else GENERIC}.json"

    @classmethod
    def for_recogniser(cls, recogniser_sha256: str, folder: Path = MODELS_DIR) -> QualityModel:
        """The model fitted for this recogniser, else the generic one (no norm)."""
        for name in (cls.file_name(recogniser_sha256), cls.file_name(None)):
            path = folder / name
            if path.is_file():
                return cls(json.loads(path.read_text()))
        raise FileNotFoundError(f"no quality model in {folder}")

    @property
    def generic(self) -> bool:
        return "embedding_norm" not in self.inputs

    def vector(self, signals: Signals) -> np.ndarray:
        return np.array([transform(name, signals) for name in self.inputs], np.float64)

    def score_rows(self, rows: np.ndarray) -> np.ndarray:
        """Scores of rows already transformed (columns in ``inputs`` order)."""
        z = ((rows - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))

    def score(self, signals: Signals) -> float:
        return float(self.score_rows(self.vector(signals)[None])[0])
