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


def _finite(value: float, worst: float) -> float:
    return value if math.isfinite(value) else worst


def transform(name: str, s: Signals) -> float:
    """The model's input ``name`` computed from the signals: monotone transforms that
    make each roughly linear in its effect on matching, clipped to the range real
    faces span (degenerate landmarks count as the worst pose, not as a huge one)."""
    if name == "det_score":
        return min(max(_finite(s.det_score, 0.0), 0.0), 1.0)
    if name == "log_face_size":
        return math.log(min(max(_finite(s.face_size, 1.0), 1.0), 4096.0))
    if name == "embedding_norm":
        return min(max(_finite(s.embedding_norm, 0.0), 0.0), 100.0)
    if name == "log_sharpness":
        return math.log1p(min(max(_finite(s.sharpness, 0.0), 0.0), 1e6))
    if name == "log_contrast":
        return math.log1p(min(max(_finite(s.contrast, 0.0), 0.0), 128.0))
    if name == "exposure_error":
        return min(abs(_finite(s.brightness, 0.0) - 128.0) / 128.0, 1.0)
    if name == "abs_yaw":
        return min(abs(_finite(s.yaw, 1.0)), 1.0)
    if name == "pitch_error":
        return min(abs(_finite(s.pitch, 1.5) - 0.5), 1.0)
    if name == "abs_roll":
        return min(abs(_finite(s.roll, 90.0)) / 45.0, 2.0)
    raise KeyError(name)


#: The direction each input may push the score (+1: more is better, -1: more is
#: worse). The fit is constrained to these signs, so a turned, badly exposed or
#: low-contrast face can never score higher for it.
SIGNS: dict[str, int] = {
    "det_score": 1,
    "log_face_size": 1,
    "embedding_norm": 1,
    "log_sharpness": 1,
    "log_contrast": 1,
    "exposure_error": -1,
    "abs_yaw": -1,
    "pitch_error": -1,
    "abs_roll": -1,
}


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
        numbers = np.concatenate([self.mean, self.scale, self.coef, [self.intercept]])
        if not np.isfinite(numbers).all() or (self.scale <= 0).any():
            raise ValueError("quality model holds a non-finite number or a zero scale")
        wrong = [n for n, c in zip(self.inputs, self.coef, strict=True) if c * SIGNS[n] < 0]
        if wrong:
            raise ValueError(f"quality model weighs {wrong} the wrong way")
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
