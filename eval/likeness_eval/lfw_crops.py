"""Aligned LFW face crops for fine-tuning and its gate: detect on the original
photo, align to the recogniser's crop (one face per photo, the one nearest the
centre, as the evaluation does), cached by detector and crop settings.

Also writes a set of crops as a training folder in the export format of
``likeness feedback export`` (pairs.csv, faces.npz, crops/), so LFW trains
through the same code as the votes."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from likeness.engine import FaceEngine
from likeness.errors import FaceError
from likeness.imaging import decode_image
from likeness.settings import FacePolicy
from tqdm import tqdm

from likeness_eval.protocol import identity_of

CACHE_VERSION = 1


@dataclass
class FaceCrops:
    images: list[str]  # paths relative to the LFW image folder
    crops: np.ndarray  # (N, S, S, 3) BGR uint8
    found: np.ndarray  # (N,) bool: a face was detected (else a centre crop stands in)

    @property
    def identities(self) -> np.ndarray:
        return np.array([identity_of(i) for i in self.images])

    def take(self, mask: np.ndarray) -> FaceCrops:
        return FaceCrops([i for i, m in zip(self.images, mask, strict=True) if m],
                         self.crops[mask], self.found[mask])  # fmt: skip


def lfw_images(lfw_dir: Path) -> tuple[Path, list[str], list[int]]:
    """The image folder, every image of the pair list, and each image's fold (0-9):
    LFW View 2's folds share no people."""
    from likeness_eval.datasets import load_lfw

    pairset = load_lfw(lfw_dir)
    fold_of: dict[str, int] = {}
    for (a, b), fold in zip(pairset.pairs, pairset.folds, strict=True):
        for index in (a, b):
            fold_of.setdefault(identity_of(pairset.images[index]), int(fold))
    images = sorted(pairset.images)
    return pairset.image_root, images, [fold_of[identity_of(i)] for i in images]


def _cache_path(engine: FaceEngine, cache_dir: Path, images: list[str]) -> Path:
    """Keyed by what finds and aligns the faces: crops do not depend on the
    recogniser (a fine-tuned version uses the same cache as its base)."""
    settings = engine.embedding_settings()
    for unrelated in ("recognizer_sha256", "flip_tta"):
        settings.pop(unrelated, None)
    key = json.dumps({"v": CACHE_VERSION, "engine": settings, "images": images}, sort_keys=True)
    return cache_dir / f"crops-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def align_all(
    engine: FaceEngine, root: Path, images: list[str], cache_dir: Path | None = None
) -> FaceCrops:
    """Crops of every image (cached); a photo without a face gets its centre crop
    (counted in ``found``), as the evaluation treats it."""
    path = None if cache_dir is None else _cache_path(engine, Path(cache_dir), images)
    if path is not None and path.is_file():
        with np.load(path) as data:
            return FaceCrops(list(images), data["crops"], data["found"])
    size = engine.recognizer.crop_size
    crops = np.zeros((len(images), size, size, 3), np.uint8)
    found = np.zeros(len(images), bool)
    bar = tqdm(images, desc="aligning", unit="img", leave=False, disable=not sys.stderr.isatty())
    for i, name in enumerate(bar):
        image = decode_image((root / name).read_bytes())
        try:
            face = engine.embed(image, policy=FacePolicy.CENTRAL)
            crops[i], found[i] = face.crop, True
        except FaceError:
            h, w = image.shape[:2]
            side = min(h, w)
            y, x = (h - side) // 2, (w - side) // 2
            crops[i] = cv2.resize(image[y : y + side, x : x + side], (size, size))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(tmp, crops=crops, found=found)
        os.replace(tmp, path)
    return FaceCrops(list(images), crops, found)


def write_training_folder(
    faces: FaceCrops, out: Path, val_share: float = 0.1, seed: int = 0
) -> dict:
    """``faces`` as an export folder: identities split train/val by a seeded draw,
    every same-identity pair listed as genuine (the trainer takes its negatives from
    the other identities of each batch)."""
    out = Path(out)
    (out / "crops").mkdir(parents=True)
    names, ids = np.unique(faces.identities, return_inverse=True)
    rng = np.random.default_rng(seed)
    val = rng.random(len(names)) < val_share
    split = np.where(val[ids], "val", "train")
    keys = [f"lfw{i:05d}" for i in range(len(faces.images))]
    for key, crop in zip(keys, faces.crops, strict=True):
        ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
        (out / "crops" / f"{key}.jpg").write_bytes(jpeg.tobytes())
    np.savez(out / "faces.npz", keys=np.array(keys), embeddings=np.zeros((len(keys), 0)),
             identity=ids.astype(np.int64), split=split)  # fmt: skip
    rows = 0
    with (out / "pairs.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["split", "label", "a", "b", "score", "source"])
        for person in range(len(names)):
            members = np.flatnonzero(ids == person)
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    a, b = members[x], members[y]
                    writer.writerow([split[a], "genuine", keys[a], keys[b], "", "lfw"])
                    rows += 1
    report = {"format": "pairs", "source": "lfw", "faces": len(keys), "identities": len(names),
              "genuine_pairs": rows, "val_identities": int(val.sum())}  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report
