"""What alignment is worth (issue 16): the same recogniser on three crops of every
LFW View 2 image:

* aligned: the 5-landmark similarity transform onto the ArcFace template (what
  the engine does);
* box: the detector's box made square, cut out and resized, no alignment;
* centre: the central square of the photo, ``CENTRE_SHARE`` of its shorter side
  (about the face's size in an LFW photo), no detection at all.

LFW's deep-funneled photos are already roughly aligned as a whole, so "no
alignment" here is a milder handicap than it would be on raw photos. A photo
without a detected face gets its centre crop in every variant (counted)."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from likeness.engine import FaceEngine, choose_face
from likeness.imaging import decode_image
from likeness.settings import FacePolicy
from tqdm import tqdm

from likeness_eval.embedding import centre_crop
from likeness_eval.metrics import auc, eer, fnmr_at_fmr

VARIANTS = ("aligned", "box", "centre")
CHUNK = 128
#: the centre crop's side as a share of the photo's shorter side (LFW: the detector's
#: median box is 130 of 250 pixels)
CENTRE_SHARE = 0.5


def centre_square(image: np.ndarray, size: int, share: float = CENTRE_SHARE) -> np.ndarray:
    """The central ``share`` of the photo (a square), resized to ``size``."""
    height, width = image.shape[:2]
    side = max(1, int(round(min(height, width) * share)))
    top, left = (height - side) // 2, (width - side) // 2
    return centre_crop(image[top : top + side, left : left + side], size)


def box_crop(image: np.ndarray, box, size: int = 112) -> np.ndarray:
    """The detector's box, grown to a square about its centre, cut out (padded
    with black beyond the photo) and resized."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    side = max(int(round(side)), 1)
    padded = cv2.copyMakeBorder(image, side, side, side, side, cv2.BORDER_CONSTANT, value=0)
    square = padded[top + side : top + 2 * side, left + side : left + 2 * side]
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)


def crops_of(engine: FaceEngine, image: np.ndarray) -> tuple[dict[str, np.ndarray], bool]:
    """The three crops of one photo, and whether a face was found."""
    size = engine.recognizer.crop_size
    centre = centre_square(image, size)
    faces = engine.detect(image)
    if not faces:
        return dict.fromkeys(VARIANTS, centre), False
    face = faces[choose_face(faces, image.shape[1], image.shape[0], FacePolicy.CENTRAL)]
    return {
        "aligned": engine.align(image, face),
        "box": box_crop(image, face.box, size),
        "centre": centre,
    }, True


def embed_variants(engine: FaceEngine, paths: list, progress: bool = True):
    """(embeddings per variant (N, D), found (N,)) for every image path."""
    out = {v: [] for v in VARIANTS}
    found = np.zeros(len(paths), bool)
    pending = {v: [] for v in VARIANTS}

    def flush() -> None:
        for v in VARIANTS:
            if pending[v]:
                out[v].append(engine.embed_aligned(pending[v], flip=False)[0])
                pending[v] = []

    def read(path):
        return crops_of(engine, decode_image(path.read_bytes()))

    bar = tqdm(total=len(paths), desc="ablation", unit="img",
               disable=not (progress and sys.stderr.isatty()))  # fmt: skip
    # decoding and detection on every core (ONNX Runtime lets go of the GIL)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for i, (crops, ok) in enumerate(pool.map(read, paths)):
            found[i] = ok
            for v in VARIANTS:
                pending[v].append(crops[v])
            if len(pending["aligned"]) >= CHUNK:
                flush()
            bar.update(1)
    flush()
    bar.close()
    return {v: np.concatenate(out[v]) for v in VARIANTS}, found


def ablation(engine: FaceEngine, pairset, progress: bool = True) -> dict:
    """AUC, EER and TAR at FAR 1% of each crop over every pair of ``pairset``."""
    paths = [pairset.path(i) for i in range(len(pairset.images))]
    embeddings, found = embed_variants(engine, paths, progress)
    a, b = pairset.pairs[:, 0], pairset.pairs[:, 1]
    result = {"pairs": len(pairset.issame), "no_face": int((~found).sum())}
    for v in VARIANTS:
        x = embeddings[v]
        scores = np.sum(x[a] * x[b], axis=1)
        rate, _ = eer(scores, pairset.issame)
        result[v] = {
            "auc": float(auc(scores, pairset.issame)),
            "eer": float(rate),
            "tar_at_far_1pct": 1.0 - fnmr_at_fmr(scores, pairset.issame, 0.01).fnmr,
        }
    return result
