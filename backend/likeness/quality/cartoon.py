"""Cartoon rejection: is this face drawn rather than photographed?

A small classifier over what the pipeline already computes: the recogniser's unit
embedding (ArcFace embeddings of drawings sit apart from those of photos) plus a
few colour and texture statistics of the aligned crop (drawings have flat regions,
few distinct colours and hard edges). The weights are plain arrays in
``models/cartoon-<recogniser>.npz`` (no pickle), built from the shared
cartoon-or-real set by ``likeness-eval build-cartoon`` with the data's hash and the
held-out metrics beside them in ``.json``. A classifier is only valid for the
recogniser it was trained on: another recogniser gets no cartoon check (and says
so) until one is built for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

MODELS_DIR = Path(__file__).parent / "models"

#: Names of the colour and texture statistics, in order.
CROP_FEATURES = (
    "saturation_mean",
    "saturation_std",
    "value_std",
    "vivid_fraction",
    "colour_count",
    "edge_density",
    "flat_fraction",
    "gradient_mean",
    "channel_spread",
)


def crop_features(crop: np.ndarray) -> np.ndarray:
    """Colour and texture statistics of an aligned BGR crop (float32, CROP_FEATURES).
    A grey image has zero saturation, which is a photo's as often as a drawing's."""
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    pixels = crop.shape[0] * crop.shape[1]
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
    saturation, value = hsv[:, :, 1], hsv[:, :, 2]
    sat_mean, sat_std = (float(v[0][0]) / 255.0 for v in cv2.meanStdDev(saturation))
    value_std = float(cv2.meanStdDev(value)[1][0][0]) / 255.0
    vivid = cv2.countNonZero(cv2.compare(saturation, 0.6 * 255, cv2.CMP_GT)) / pixels
    quantised = (crop >> 4).astype(np.int32)
    codes = (quantised[:, :, 0] << 8) | (quantised[:, :, 1] << 4) | quantised[:, :, 2]
    colour_count = np.count_nonzero(np.bincount(codes.ravel(), minlength=4096)) / pixels
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = cv2.magnitude(gx, gy)  # grey levels per pixel
    flat = cv2.countNonZero(cv2.compare(magnitude, 0.02 * 255, cv2.CMP_LT)) / pixels
    edges = cv2.countNonZero(cv2.Canny(grey, 80, 160)) / pixels
    blue, green, red = cv2.split(crop)
    spread = cv2.subtract(cv2.max(cv2.max(blue, green), red), cv2.min(cv2.min(blue, green), red))
    return np.array(
        [
            sat_mean,
            sat_std,
            value_std,
            vivid,
            colour_count,
            edges,
            flat,
            float(cv2.mean(magnitude)[0]) / 255.0,
            float(cv2.mean(spread)[0]) / 255.0,
        ],
        np.float32,
    )


class CartoonModel:
    """Standardise, then dense layers (ReLU between, logistic at the end):
    ``probability(embedding, features)`` is the probability of a drawing."""

    def __init__(self, arrays: dict[str, np.ndarray], threshold: float = 0.5) -> None:
        self.mean = np.asarray(arrays["mean"], np.float32)
        self.scale = np.asarray(arrays["scale"], np.float32)
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        i = 0
        while f"w{i}" in arrays:
            if f"b{i}" not in arrays:
                raise ValueError(f"cartoon model has w{i} but no b{i}")
            self.layers.append(
                (np.asarray(arrays[f"w{i}"], np.float32), np.asarray(arrays[f"b{i}"], np.float32))
            )
            i += 1
        if not self.layers or self.layers[0][0].shape[0] != self.mean.shape[0]:
            raise ValueError("cartoon model arrays do not fit together")
        for (w, b), (w_next, _) in zip(self.layers, self.layers[1:] + [(None, None)], strict=True):
            wanted = 1 if w_next is None else w_next.shape[0]
            if w.ndim != 2 or b.shape != (w.shape[1],) or w.shape[1] != wanted:
                raise ValueError("cartoon model layers do not fit together")
        arrays_ok = [self.mean, self.scale, *(a for layer in self.layers for a in layer)]
        if not all(np.isfinite(a).all() for a in arrays_ok) or (self.scale <= 0).any():
            raise ValueError("cartoon model holds a non-finite number or a zero scale")
        self.threshold = threshold
        self.info: dict = {}

    @staticmethod
    def file_stem(recogniser_sha256: str) -> str:
        return f"cartoon-{recogniser_sha256[:16]}"

    @classmethod
    def for_recogniser(
        cls, recogniser_sha256: str, threshold: float = 0.5, folder: Path = MODELS_DIR
    ) -> CartoonModel | None:
        """The classifier built for this recogniser, or None when there is none."""
        stem = folder / cls.file_stem(recogniser_sha256)
        if not stem.with_suffix(".npz").is_file():
            return None
        with np.load(stem.with_suffix(".npz"), allow_pickle=False) as data:
            model = cls({key: data[key] for key in data.files}, threshold)
        meta = stem.with_suffix(".json")
        if meta.is_file():
            model.info = json.loads(meta.read_text())
        return model

    def probability_batch(self, x: np.ndarray) -> np.ndarray:
        """Rows of [embedding, crop features] -> cartoon probabilities."""
        h = (np.asarray(x, np.float32) - self.mean) / self.scale
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return (1.0 / (1.0 + np.exp(-np.clip(h[:, 0], -60, 60)))).astype(np.float64)

    def probability(self, embedding: np.ndarray, features: np.ndarray) -> float:
        row = np.concatenate([np.asarray(embedding, np.float32).reshape(-1), features])
        return float(self.probability_batch(row[None])[0])


@dataclass(frozen=True)
class CartoonResult:
    is_cartoon: bool
    probability: float
