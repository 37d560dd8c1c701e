"""Small data sets in the exact on-disk formats of LFW, CALFW, CPLFW and InsightFace .bin."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np


def tiny_jpeg(path: Path, seed: int, size: int = 32) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), rng.integers(0, 255, (size, size, 3), np.uint8))


def make_lfw(root: Path, folds: int = 2, per: int = 3, folder: str = "lfw") -> Path:
    """pairs.txt ('<folds>\\t<per>', per fold `per` genuine then `per` impostor lines) and
    the images under <folder>/Name/Name_NNNN.jpg."""
    lines = [f"{folds}\t{per}"]
    seed = 0
    for f in range(folds):
        for i in range(per):
            name = f"Person_G{f}{i}"
            lines.append(f"{name}\t1\t{i + 2}")
            for n in (1, i + 2):
                seed += 1
                tiny_jpeg(root / folder / name / f"{name}_{n:04d}.jpg", seed)
        for i in range(per):
            a, b = f"Person_A{f}{i}", f"Person_B{f}{i}"
            lines.append(f"{a}\t{i + 1}\t{b}\t1")
            seed += 1
            tiny_jpeg(root / folder / a / f"{a}_{i + 1:04d}.jpg", seed)
            tiny_jpeg(root / folder / b / f"{b}_0001.jpg", seed + 1000)
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    return root


def write_xlfw(root: Path, dataset: str, pairs: list[tuple[str, str, bool]], folder: str) -> Path:
    """A CALFW/CPLFW pair list (two lines per pair, label repeated) for images that
    already sit in root/folder."""
    name = {"calfw": "pairs_CALFW.txt", "cplfw": "pairs_CPLFW.txt"}[dataset]
    lines = []
    for a, b, same in pairs:
        label = "1" if same else "0"
        lines += [f"{a} {label}", f"{b} {label}"]
    (root / name).write_text("\n".join(lines) + "\n")
    return root


def make_xlfw(root: Path, dataset: str, n_pairs: int = 20, folder: str | None = None) -> Path:
    """Generated images (flat folder) and pair list: pairs alternate genuine/impostor,
    so each of the 10 consecutive folds holds both kinds."""
    folder = folder or {"calfw": "aligned images", "cplfw": "images"}[dataset]
    fmt = "{}_{:04d}.jpg" if dataset == "calfw" else "{}_{}.jpg"
    pairs = []
    for p in range(n_pairs):
        same = p % 2 == 0
        a = fmt.format(f"Person_{p}", 1)
        b = fmt.format(f"Person_{p}", 2) if same else fmt.format(f"Other_{p}", 1)
        for k, f in enumerate((a, b)):
            tiny_jpeg(root / folder / f, 10 * p + k)
        pairs.append((a, b, same))
    return write_xlfw(root, dataset, pairs, folder)


def write_bin(path: Path, images: list[np.ndarray], issame: list[bool]) -> Path:
    """InsightFace .bin: pickle of (encoded JPEG bytes, issame); pair i = images 2i, 2i+1."""
    bins = [cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes() for im in images]
    with path.open("wb") as f:
        pickle.dump((bins, list(issame)), f, protocol=pickle.HIGHEST_PROTOCOL)
    return path
