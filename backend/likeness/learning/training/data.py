"""Training data: an export folder (``likeness feedback export``) read into arrays,
and the augmentation applied to its crops."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from likeness.errors import ValidationError


@dataclass
class TrainingSet:
    """Faces with crops: ``identity`` and ``split`` per face, ``pairs`` (P, 2) face
    indices with ``genuine`` labels and their ``pair_split`` (listed by the export)."""

    keys: list[str]
    identity: np.ndarray
    split: np.ndarray
    crops: np.ndarray  # (N, S, S, 3) BGR uint8
    pairs: np.ndarray
    genuine: np.ndarray
    pair_split: np.ndarray
    dropped_without_crop: int = 0
    #: faces the base model scores this alike are never each other's negative: two
    #: faces no vote joined may still be one person (the export's ``same_person``)
    same_person: float | None = None

    def faces(self, side: str) -> np.ndarray:
        return np.flatnonzero(self.split == side)

    def summary(self) -> dict:
        return {
            side: {
                "faces": int((self.split == side).sum()),
                "identities": len(np.unique(self.identity[self.split == side])),
                "genuine_pairs": int((self.genuine & (self.pair_split == side)).sum()),
                "impostor_pairs": int((~self.genuine & (self.pair_split == side)).sum()),
            }
            for side in ("train", "val")
        } | {"dropped_without_crop": self.dropped_without_crop}


def data_hash(folder: str | os.PathLike[str]) -> str:
    """SHA-256 over every file of the folder (names and bytes, in name order)."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _rows(folder: Path) -> list[tuple[str, str, bool, str]]:
    """(a, b, genuine, split) of the listed pairs; a triplet gives two."""
    rows = []
    if (folder / "pairs.csv").is_file():
        with (folder / "pairs.csv").open(newline="", encoding="utf-8") as stream:
            for row in csv.DictReader(stream):
                rows.append((row["a"], row["b"], row["label"] == "genuine", row["split"]))
    elif (folder / "triplets.csv").is_file():
        with (folder / "triplets.csv").open(newline="", encoding="utf-8") as stream:
            for row in csv.DictReader(stream):
                rows.append((row["anchor"], row["positive"], True, row["split"]))
                rows.append((row["anchor"], row["negative"], False, row["split"]))
    else:
        raise ValidationError(f"{folder} holds neither pairs.csv nor triplets.csv")
    return rows


def load_export(folder: str | os.PathLike[str]) -> TrainingSet:
    """Read an export folder; faces without a stored crop cannot be trained on and
    are dropped (counted)."""
    folder = Path(folder)
    if not (folder / "faces.npz").is_file():
        raise ValidationError(f"{folder} is not a training export (no faces.npz)")
    try:
        with np.load(folder / "faces.npz") as data:
            keys = [str(k) for k in data["keys"]]
            identity, split = data["identity"], data["split"].astype(str)
        rows = _rows(folder)
        report = json.loads((folder / "report.json").read_text())
    except FileNotFoundError:
        report = {}
    except (KeyError, ValueError, OSError, csv.Error) as error:
        raise ValidationError(f"{folder} is not a readable training export: {error}") from None
    if len(identity) != len(keys) or len(split) != len(keys):
        raise ValidationError(f"{folder}/faces.npz: keys, identity and split differ in length")
    if not np.issubdtype(data_dtype := identity.dtype, np.integer):
        raise ValidationError(f"{folder}/faces.npz: identity must be integers, not {data_dtype}")
    if not set(split.tolist()) <= {"train", "val"}:
        raise ValidationError(f"{folder}/faces.npz: split holds values other than train, val")
    crops, kept = [], []
    for i, key in enumerate(keys):
        path = folder / "crops" / f"{key}.jpg"
        image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
        if image is not None:
            crops.append(image)
            kept.append(i)
    if not kept:
        raise ValidationError(f"{folder} has no face crops to train on")
    sizes = {c.shape for c in crops}
    if len(sizes) != 1:
        raise ValidationError(f"{folder} mixes crop sizes {sorted(sizes)}")
    where = {keys[i]: n for n, i in enumerate(kept)}
    pairs = [(where[a], where[b], g, s) for a, b, g, s in rows if a in where and b in where]
    kept_arr = np.array(kept)
    return TrainingSet(
        keys=[keys[i] for i in kept],
        identity=identity[kept_arr].astype(np.int64),
        split=split[kept_arr],
        crops=np.stack(crops),
        pairs=np.array([(a, b) for a, b, _, _ in pairs], np.int64).reshape(-1, 2),
        genuine=np.array([g for _, _, g, _ in pairs], bool),
        pair_split=np.array([s for _, _, _, s in pairs], dtype=str),
        dropped_without_crop=len(keys) - len(kept),
        same_person=_number(report.get("same_person")),
    )


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True)
class Augment:
    """Random flip, low resolution (down to ``low_res`` px and back up), blur and
    brightness, each with its probability."""

    flip: float = 0.5
    low_res: tuple[int, int] = (20, 40)
    low_res_p: float = 0.5
    blur_p: float = 0.2
    light_p: float = 0.3

    def __call__(self, crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        size = crop.shape[0]
        out = crop
        if rng.random() < self.flip:
            out = out[:, ::-1]
        if rng.random() < self.low_res_p:
            low = int(rng.integers(self.low_res[0], self.low_res[1] + 1))
            out = cv2.resize(out, (low, low), interpolation=cv2.INTER_AREA)
            out = cv2.resize(out, (size, size), interpolation=cv2.INTER_LINEAR)
        if rng.random() < self.blur_p:
            out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.5, 1.5)))
        if rng.random() < self.light_p:
            gain, bias = rng.uniform(0.6, 1.3), rng.uniform(-25, 25)
            out = np.clip(out.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(out)


def degrade_low_res(crop: np.ndarray, pixels: int) -> np.ndarray:
    """An aligned crop as a ``pixels``-wide face brought back to the crop size."""
    size = crop.shape[0]
    low = cv2.resize(crop, (pixels, pixels), interpolation=cv2.INTER_AREA)
    return cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR)
