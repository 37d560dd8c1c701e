"""Robustness (issue 16): how verification holds up when one photo of a pair is
degraded, and across head pose.

* Pairs: a seeded sample of LFW View 2's genuine pairs whose two clean photos both
  show a face. The first photo stays clean (the enrolment); the second is degraded
  in code, then goes through the whole engine: detection, alignment, embedding.
* Impostors: every degraded second photo against ``IMPOSTORS_PER_PHOTO`` clean first
  photos of other people (the same ones under every condition), enough impostor
  pairs to resolve FMR 1e-3.
* A degraded photo in which the detector no longer finds a face scores -1: it can
  match nobody (a genuine pair lost, an impostor rightly refused), and is counted.
* Pose: a yaw estimate from the five landmarks of the clean photos (``yaw_degrees``)
  splits the clean pairs into frontal, semi-profile and profile by the larger yaw
  of the two photos.

Each condition is reported as AUC, accuracy at the operating 1:1 threshold (the
mean of the genuine and impostor success rates: both classes weigh the same) and
TAR at FAR 1e-3 (only with 10,000 impostor pairs or more: ten false matches), with
90% bootstrap intervals over the people of the pairs (an impostor pair goes with
the changed photo's person).
"""

from __future__ import annotations

import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
from likeness.engine import FaceEngine, choose_face
from likeness.imaging import decode_image
from likeness.quality.gate import FaceGate
from likeness.quality.signals import measure, pose
from tqdm import tqdm

from likeness_eval.embedding import POLICY
from likeness_eval.metrics import auc, fnmr_at_fmr
from likeness_eval.protocol import bootstrap, identity_of

#: name -> (what it does, the paper's AUC where it gave one)
CONDITIONS: dict[str, tuple[str, float | None]] = {
    "clean": ("no change", 0.99),
    "blur": ("Gaussian blur, sigma 1/40 of the face box (3 px on LFW)", None),
    "downscale_64": ("face downscaled to 64 px across, then back to full size", 0.89),
    "downscale_32": ("face downscaled to 32 px across, then back to full size", None),
    "jpeg_q10": ("JPEG at quality 10", None),
    "dark": ("brightness x0.15 with sensor noise (sd 2)", 0.96),
    "noise": ("Gaussian noise, sd 20 of 255", None),
    "occlude_lower_30": ("grey band over the lowest 30% of the face box", 0.95),
    "occlude_lower_50": ("grey band over the lowest 50% of the face box", 0.88),
    "occlude_eyes_30": ("grey band over 30% of the face box, centred on the eyes", 0.95),
    "occlude_eyes_50": ("grey band over 50% of the face box, centred on the eyes", 0.88),
}
#: (name, lowest yaw in degrees, the paper's AUC)
POSE_BINS = (("frontal", 0.0, 0.99), ("semi-profile", 15.0, 0.97), ("profile", 45.0, 0.94))
POSE_NOTE = (
    "Yaw is estimated from the five landmarks of each clean photo: the nose's sideways "
    "offset from the eye-mouth midline, in eye distances, taken as 0.5 tan(yaw) (the "
    "nose tip half an eye distance in front of the eyes and mouth). It is rough, a few "
    "degrees either way, and LFW holds few profiles: its photos were kept where a "
    "frontal face detector fired."
)
IMPOSTORS_PER_PHOTO = 100
MIN_BIN_PAIRS = 30  # genuine pairs a pose bin needs before it is rated
FAR = 1e-3
#: how far the nose tip stands in front of the eyes and mouth, in eye distances
NOSE_DEPTH = 0.5


def yaw_degrees(landmarks: np.ndarray) -> float:
    """A rough yaw from the five landmarks: the nose's sideways offset from the
    eye-mouth midline is ``NOSE_DEPTH * tan(yaw)`` eye distances."""
    ratio, _, _ = pose(landmarks)
    return math.degrees(math.atan(abs(ratio) / NOSE_DEPTH))


def _band(image: np.ndarray, x1: float, x2: float, top: float, bottom: float) -> np.ndarray:
    out = image.copy()
    h, w = image.shape[:2]
    left, right = max(0, int(round(x1))), min(w, int(round(x2)))
    top_, bottom_ = max(0, int(round(top))), min(h, int(round(bottom)))
    out[top_:bottom_, left:right] = 128
    return out


def degrade(image: np.ndarray, condition: str, face, rng: np.random.Generator) -> np.ndarray:
    """``image`` (BGR uint8) under ``condition``; ``face`` is the clean photo's
    detected face, whose box and landmarks place the face-relative changes."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; choose from {', '.join(CONDITIONS)}")
    x1, y1, x2, y2 = (float(v) for v in face.box[:4])
    side = max(x2 - x1, y2 - y1, 1.0)
    h, w = image.shape[:2]
    if condition == "clean":
        return image
    if condition == "blur":
        return cv2.GaussianBlur(image, (0, 0), side / 40)
    if condition.startswith("downscale_"):
        factor = int(condition.split("_")[1]) / side
        if factor >= 1:
            return image
        small = cv2.resize(image, (max(1, round(w * factor)), max(1, round(h * factor))),
                           interpolation=cv2.INTER_AREA)  # fmt: skip
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if condition == "jpeg_q10":
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 10])
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
            raise ValueError("JPEG encoding failed")
        return cv2.imdecode(data, cv2.IMREAD_COLOR)
    if condition == "dark":
        noisy = image.astype(np.float32) * 0.15 + rng.normal(0, 2.0, image.shape)
        return np.clip(noisy, 0, 255).astype(np.uint8)
    if condition == "noise":
        noisy = image.astype(np.float32) + rng.normal(0, 20.0, image.shape)
        return np.clip(noisy, 0, 255).astype(np.uint8)
    share = int(condition.rsplit("_", 1)[1]) / 100
    height = y2 - y1
    if condition.startswith("occlude_lower"):
        return _band(image, x1, x2, y2 - share * height, y2)
    eyes_y = float(np.mean(np.asarray(face.landmarks)[:2, 1]))
    return _band(image, x1, x2, eyes_y - share * height / 2, eyes_y + share * height / 2)


@dataclass
class Photos:
    """What the engine made of a list of photos (one condition)."""

    embeddings: np.ndarray  # (N, D) unit; zero rows where no face was found
    found: np.ndarray  # (N,) bool
    quality: np.ndarray  # (N,) the shipped quality score; -inf without a face
    yaw: np.ndarray  # (N,) degrees; nan without a face
    faces: list  # the chosen DetectedFace of each photo (None without)


def run_photos(engine: FaceEngine, gate: FaceGate, images: list[np.ndarray],
               progress: str | None = None) -> Photos:  # fmt: skip
    """Detect, align, embed (no flip, like the rest of the suite) and score quality."""

    def one(image: np.ndarray):
        faces = engine.detect(image)
        if not faces:
            return None
        face = faces[choose_face(faces, image.shape[1], image.shape[0], POLICY)]
        crop = engine.align(image, face)
        unit, norms = engine.embed_aligned([crop], flip=False)
        signals = measure(face, crop, float(norms[0]), (image.shape[1], image.shape[0]))
        return face, unit[0], gate.quality_model.score(signals)

    n = len(images)
    out = Photos(np.zeros((n, engine.recognizer.dim), np.float32), np.zeros(n, bool),
                 np.full(n, -np.inf), np.full(n, np.nan), [None] * n)  # fmt: skip
    bar = tqdm(total=n, desc=progress or "", unit="img",
               disable=not (progress and sys.stderr.isatty()))  # fmt: skip
    # ONNX Runtime lets go of the GIL: one photo per core (one intra-op thread each)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for i, result in enumerate(pool.map(one, images)):
            bar.update(1)
            if result is None:
                continue
            face, vector, quality = result
            out.embeddings[i], out.found[i], out.quality[i] = vector, True, quality
            out.yaw[i], out.faces[i] = yaw_degrees(face.landmarks), face
    bar.close()
    return out


def sample_pairs(pairset, count: int, seed: int) -> np.ndarray:
    """``count`` genuine View 2 pairs (rows of ``pairset.pairs``), seeded."""
    genuine = np.flatnonzero(pairset.issame)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(genuine, size=min(count, len(genuine)), replace=False))


def impostor_partners(people: np.ndarray, per_photo: int, seed: int) -> np.ndarray:
    """(N, k) indices of first photos of other people for each second photo."""
    rng = np.random.default_rng(seed + 1)
    n = len(people)
    _, counts = np.unique(people, return_counts=True)
    k = min(per_photo, n - int(counts.max())) if n else 0  # every photo gets as many
    out = np.zeros((n, k), int)
    for i in range(n):
        others = np.flatnonzero(people != people[i])
        out[i] = rng.choice(others, size=k, replace=False)
    return out


def measures(genuine: np.ndarray, impostor: np.ndarray, groups_gen, groups_imp,
             threshold: float, rounds: int, seed: int) -> dict:  # fmt: skip
    """AUC, accuracy at ``threshold`` and TAR at FAR 1e-3, with 90% intervals
    (people resampled: their genuine pairs and their photos' impostor pairs)."""
    scores = np.concatenate([genuine, impostor])
    labels = np.concatenate([np.ones(len(genuine), bool), np.zeros(len(impostor), bool)])
    groups = np.concatenate([groups_gen, groups_imp])

    resolvable = len(impostor) >= 10 / FAR  # ten false matches at FAR 1e-3

    def stats(idx: np.ndarray) -> np.ndarray:
        s, y = scores[idx], labels[idx]
        if y.all() or not y.any():
            return np.array([np.nan] * 3)
        accuracy = (np.mean(s[y] >= threshold) + np.mean(s[~y] < threshold)) / 2
        tar = 1.0 - fnmr_at_fmr(s, y, FAR).fnmr if resolvable else np.nan
        return np.array([auc(s, y), accuracy, tar])

    point = stats(np.arange(len(scores)))
    low, high = bootstrap(stats, len(scores), rounds=rounds, seed=seed, groups=groups)
    names = ("auc", "accuracy", "tar_at_far_1e-3")

    def value(v: float) -> float | None:
        return None if np.isnan(v) else float(v)

    return {
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        **{k: value(point[i]) for i, k in enumerate(names)},
        "interval_90": {k: [value(low[i]), value(high[i])] for i, k in enumerate(names)},
    }


@dataclass
class Robustness:
    report: dict
    # for the EDC: per genuine comparison (condition x pair) its score, the lower
    # quality of its two photos, and its person
    edc_scores: np.ndarray
    edc_quality: np.ndarray
    edc_people: np.ndarray


def robustness(engine: FaceEngine, pairset, *, pairs: int = 1000, seed: int = 0,
               rounds: int = 200, progress: bool = True,
               conditions: tuple[str, ...] = tuple(CONDITIONS)) -> Robustness:  # fmt: skip
    """Every condition (and the pose bins) on ``pairs`` genuine View 2 pairs."""
    gate = FaceGate(engine)
    threshold = float(engine.settings.threshold)
    chosen = sample_pairs(pairset, pairs, seed)
    first = [pairset.pairs[r, 0] for r in chosen]
    second = [pairset.pairs[r, 1] for r in chosen]
    load = lambda i: decode_image(pairset.path(i).read_bytes())  # noqa: E731
    clean_a = run_photos(engine, gate, [load(i) for i in first], "clean first photos" * progress)
    photos_b = [load(i) for i in second]
    clean_b = run_photos(engine, gate, photos_b, "clean second photos" * progress)
    keep = clean_a.found & clean_b.found
    people = np.array([identity_of(pairset.images[i]) for i in first])[keep]
    a_emb, a_q, a_yaw = clean_a.embeddings[keep], clean_a.quality[keep], clean_a.yaw[keep]
    photos_b = [p for p, k in zip(photos_b, keep, strict=True) if k]
    faces_b = [f for f, k in zip(clean_b.faces, keep, strict=True) if k]
    partners = impostor_partners(people, IMPOSTORS_PER_PHOTO, seed)
    if partners.shape[1] == 0:
        raise ValueError("robustness needs pairs of at least two people (raise --robust-pairs)")
    imp_groups = np.repeat(people, partners.shape[1])
    report: dict = {
        "sampled_pairs": len(chosen),
        "pairs": int(keep.sum()),
        "dropped_no_clean_face": int((~keep).sum()),
        "impostors_per_photo": int(partners.shape[1]),
        "threshold": threshold,
        "conditions": {},
    }
    edc_scores, edc_quality, edc_people = [], [], []
    for k, condition in enumerate(conditions):
        rng = np.random.default_rng(seed + 100 + k)
        if condition == "clean":
            b = _subset(clean_b, keep)
        else:
            degraded = [degrade(p, condition, f, rng) for p, f in zip(photos_b, faces_b,
                                                                       strict=True)]  # fmt: skip
            b = run_photos(engine, gate, degraded, condition * progress)
        genuine = np.where(b.found, np.sum(a_emb * b.embeddings, axis=1), -1.0)
        cross = np.einsum("nd,nkd->nk", b.embeddings, a_emb[partners])
        impostor = np.where(b.found[:, None], cross, -1.0)
        entry = measures(genuine, impostor.ravel(), people, imp_groups, threshold, rounds, seed)
        entry["lost_face"] = int((~b.found).sum())
        report["conditions"][condition] = entry
        edc_scores.append(genuine)
        edc_quality.append(np.minimum(a_q, b.quality))
        edc_people.append(people)
        if condition == "clean":
            report["pose"] = _pose(genuine, impostor, a_yaw, b.yaw, partners, people,
                                   threshold, rounds, seed)  # fmt: skip
    return Robustness(report, np.concatenate(edc_scores), np.concatenate(edc_quality),
                      np.concatenate(edc_people))  # fmt: skip


def _subset(photos: Photos, keep: np.ndarray) -> Photos:
    faces = [f for f, k in zip(photos.faces, keep, strict=True) if k]
    return Photos(photos.embeddings[keep], photos.found[keep], photos.quality[keep],
                  photos.yaw[keep], faces)  # fmt: skip


def _pose(genuine, impostor, a_yaw, b_yaw, partners, people, threshold, rounds, seed) -> dict:
    gen_yaw = np.maximum(a_yaw, b_yaw)
    imp_yaw = np.maximum(b_yaw[:, None], a_yaw[partners])
    out = {}
    edges = [low for _, low, _ in POSE_BINS] + [90.0 + 1e-9]
    for (name, low, _), high in zip(POSE_BINS, edges[1:], strict=True):
        g = (gen_yaw >= low) & (gen_yaw < high)
        i = (imp_yaw >= low) & (imp_yaw < high)
        if g.sum() < MIN_BIN_PAIRS:  # a handful of pairs: any rate would be noise
            out[name] = {"genuine_pairs": int(g.sum()), "impostor_pairs": int(i.sum())}
            continue
        groups_imp = np.broadcast_to(people[:, None], imp_yaw.shape)[i]
        out[name] = measures(genuine[g], impostor[i], people[g], groups_imp, threshold,
                             rounds, seed)  # fmt: skip
    return out
