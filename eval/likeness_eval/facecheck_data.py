"""What the face checks are calibrated on: every LFW image, clean and in degraded
copies (``degrade.py``), run through the serving pipeline, with the embedding and
every quality signal of the face it chose (policy CENTRAL, as the evaluation).

One table per run, cached on disk (keyed by the engine's embedding settings, the
seed and this module's version) because it takes minutes to compute."""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from likeness.engine import FaceEngine, choose_face
from likeness.imaging import ImageLimits, load_image
from likeness.quality.cartoon import CROP_FEATURES, crop_features
from likeness.quality.signals import measure
from tqdm import tqdm

from likeness_eval.degrade import KINDS, degrade
from likeness_eval.embedding import POLICY

VERSION = 1
VARIANTS = ("clean", *KINDS)
SIGNALS = (
    "det_score",
    "face_width",
    "face_height",
    "face_area_ratio",
    "embedding_norm",
    "sharpness",
    "brightness",
    "contrast",
    "yaw",
    "pitch",
    "roll",
)


@dataclass
class FaceTable:
    """Row r = image ``r % n_images`` in variant ``VARIANTS[r // n_images]``."""

    images: list[str]
    variant: np.ndarray  # (R,) index into VARIANTS
    severity: np.ndarray  # (R,) 0..1 (0 for clean)
    found: np.ndarray  # (R,) bool: a face was detected
    embeddings: np.ndarray  # (R, D) unit vectors (zeros without a face)
    signals: np.ndarray  # (R, len(SIGNALS))
    crop_features: np.ndarray  # (R, len(CROP_FEATURES))

    def column(self, name: str) -> np.ndarray:
        return self.signals[:, SIGNALS.index(name)]

    @property
    def n_images(self) -> int:
        return len(self.images)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(
            tmp,
            images=np.array(self.images),
            variant=self.variant,
            severity=self.severity,
            found=self.found,
            embeddings=self.embeddings,
            signals=self.signals,
            crop_features=self.crop_features,
        )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> FaceTable:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                images=[str(s) for s in data["images"]],
                variant=data["variant"],
                severity=data["severity"],
                found=data["found"],
                embeddings=data["embeddings"],
                signals=data["signals"],
                crop_features=data["crop_features"],
            )


def severity_of(seed: int, image: int, variant: int) -> tuple[float, np.random.Generator]:
    rng = np.random.default_rng([seed, image, variant])
    return (0.0 if variant == 0 else float(rng.uniform())), rng


def measure_one(engine: FaceEngine, path: Path, variant: int, seed: int, index: int):
    data = path.read_bytes()
    image = load_image(data, ImageLimits(max_bytes=max(len(data), 1)))
    severity, rng = severity_of(seed, index, variant)
    if variant:
        image = degrade(image, VARIANTS[variant], severity, rng)
    faces = engine.detect(image)
    if not faces:
        return severity, False, None, None, None
    height, width = image.shape[:2]
    face = faces[choose_face(faces, width, height, POLICY)]
    crop = engine.align(image, face)
    unit, norms = engine.embed_aligned([crop])
    signals = measure(face, crop, float(norms[0]), (width, height))
    row = np.array([getattr(signals, name) for name in SIGNALS], np.float32)
    return severity, True, unit[0], row, crop_features(crop)


def build_table(
    engine: FaceEngine,
    root: Path,
    images: list[str],
    *,
    seed: int = 20261125,
    cache_dir: Path | None = None,
    workers: int = 0,
    progress: bool = True,
) -> FaceTable:
    """Measure every image in every variant (cached)."""
    key = json.dumps(
        {
            **engine.embedding_settings(),
            "version": VERSION,
            "seed": seed,
            "images": hashlib.sha256("\n".join(images).encode()).hexdigest(),
        },
        sort_keys=True,
    )
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"facechecks-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
        if path.is_file():
            return FaceTable.load(path)
    n, dim = len(images), engine.recognizer.dim
    rows = n * len(VARIANTS)
    table = FaceTable(
        images=list(images),
        variant=np.repeat(np.arange(len(VARIANTS)), n),
        severity=np.zeros(rows, np.float32),
        found=np.zeros(rows, bool),
        embeddings=np.zeros((rows, dim), np.float32),
        signals=np.zeros((rows, len(SIGNALS)), np.float32),
        crop_features=np.zeros((rows, len(CROP_FEATURES)), np.float32),
    )
    started = time.perf_counter()

    def work(row: int):
        variant, index = divmod(row, n)
        return row, measure_one(engine, root / images[index], variant, seed, index)

    with (
        ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool,
        tqdm(total=rows, desc="face checks data", unit="img", disable=not progress) as bar,
    ):
        for row, (severity, found, emb, signals, features) in pool.map(work, range(rows)):
            table.severity[row] = severity
            table.found[row] = found
            if found:
                table.embeddings[row] = emb
                table.signals[row] = signals
                table.crop_features[row] = features
            bar.update(1)
    if progress:
        print(f"measured {rows} images in {time.perf_counter() - started:.0f} s")
    if path is not None:
        table.save(path)
    return table
