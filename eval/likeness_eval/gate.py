"""The fine-tuning gate (issue 15): is a candidate recogniser at least as good as
its base on people neither was trained on?

On LFW View 2 folds 6-10 (their people never train: folds share no people), with
the shared protocol (``likeness_eval.protocol``):

* **FNMR at FMR 1e-3** over every genuine pair and every cross-identity impostor
  pair, each model at its own threshold for that FMR. The difference (candidate -
  base) gets a *paired* bootstrap interval: both models see the same resampled
  identities each round. Refused when the whole interval lies above 0 (worse
  beyond the interval).
* **Accuracy** on the View 2 pairs of those folds, each model at its own calibrated
  threshold (the one for FMR 1e-3 above); paired bootstrap over the pairs; refused
  when the whole interval lies below 0.
* **Low resolution**: the same faces degraded after alignment to 24, 28 and 32 px
  and brought back to the crop size: AUC on the View 2 pairs and FNMR at FMR 1e-3
  over every pair, before and after (reported, not gated).
* **Thresholds for the candidate**: each of the base's thresholds in force is
  moved to the candidate's score with the same FMR on these pairs, so a switch of
  model keeps the operating points (``thresholds``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from likeness.engine.recognizer import open_recognizer
from likeness.learning.training.data import degrade_low_res
from sklearn.metrics import roc_auc_score

from likeness_eval.lfw_crops import FaceCrops
from likeness_eval.protocol import Pairs, every_pair

TARGET_FMR = 1e-3
LOW_RES = (24, 28, 32)
#: impostor pairs listed from this FMR up (the base's thresholds must lie above it)
FLOOR_FMR = 0.05


@dataclass
class GateResult:
    passed: bool
    reasons: list[str]
    metrics: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"passed": self.passed, "reasons": self.reasons, **self.metrics}


def embed_crops(onnx_path: Path, crops: np.ndarray, flip: bool = False) -> np.ndarray:
    recognizer = open_recognizer(onnx_path, flip=flip)
    unit, _ = recognizer.embed_crops(list(crops))
    return unit


def _paired(statistic, n_units: int, rounds: int, seed: int) -> tuple[float, float]:
    """90% interval of ``statistic(weights)`` under Poisson(1) unit weights."""
    rng = np.random.default_rng(seed)
    values = [statistic(rng.poisson(1.0, n_units).astype(np.float64)) for _ in range(rounds)]
    return float(np.percentile(values, 5)), float(np.percentile(values, 95))


def fnmr_at_fmr(pairs: Pairs, fmr: float, weights: np.ndarray | None = None) -> float:
    return pairs.fnmr_at(pairs.threshold_at(fmr, weights), weights)


def _view2(faces: FaceCrops, view2: list[tuple[str, str, bool]]):
    where = {name: i for i, name in enumerate(faces.images)}
    rows = [(where[a], where[b], same) for a, b, same in view2 if a in where and b in where]
    idx = np.array([(a, b) for a, b, _ in rows], np.int64).reshape(-1, 2)
    return idx, np.array([same for _, _, same in rows], bool)


def _pair_scores(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.sum(x[idx[:, 0]] * x[idx[:, 1]], axis=1)


def _low_res(base: Path, candidate: Path, faces: FaceCrops, idx, same, flip: bool) -> dict:
    identities = faces.identities
    out = {}
    for px in LOW_RES:
        crops = np.stack([degrade_low_res(c, px) for c in faces.crops])
        row = {}
        for name, path in (("base", base), ("candidate", candidate)):
            x = embed_crops(path, crops, flip)
            pairs = every_pair(x, identities, floor_fmr=20 * TARGET_FMR)
            row[name] = {
                "auc": float(roc_auc_score(same, _pair_scores(x, idx))),
                "fnmr_at_fmr_1e-3": fnmr_at_fmr(pairs, TARGET_FMR),
            }
        out[f"{px}px"] = row
    return out


def _impostors_descending(pairs: Pairs) -> np.ndarray:
    return np.sort(pairs.scores[~pairs.genuine])[::-1]


def map_thresholds(base: Pairs, candidate: Pairs, thresholds: dict[str, float]) -> dict:
    """Each base threshold -> the candidate's score at the same rank among the
    impostor pairs (the same FMR here), interpolated between neighbouring pairs so
    a model mapped onto itself keeps its thresholds exactly; rounded up to 4
    decimals. Both sets hold the same faces, so the same impostor pairs."""
    b, c = _impostors_descending(base), _impostors_descending(candidate)
    n = min(len(b), len(c))
    b, c = b[:n], c[:n]
    ranks = np.arange(n, dtype=np.float64)
    mapped = {}
    for name, value in thresholds.items():
        if n < 2 or value < b[-1]:  # below the listed impostors: FMR unknown here
            mapped[name] = {"base": value, "fmr": None, "candidate": None}
            continue
        rank = float(np.interp(-value, -b, ranks))  # fractional rank of the threshold
        moved = float(np.interp(rank, ranks, c)) + (value - b[0] if value > b[0] else 0.0)
        mapped[name] = {
            "base": value,
            "fmr": base.fmr_at(value),
            "candidate": math.ceil(round(moved, 9) * 1e4) / 1e4,
        }
    return mapped


def run_gate(
    base: Path,
    candidate: Path,
    faces: FaceCrops,
    view2: list[tuple[str, str, bool]],
    thresholds: dict[str, float] | None = None,
    *,
    rounds: int = 200,
    seed: int = 0,
    flip: bool = False,
    low_res: bool = True,
) -> GateResult:
    """Gate ``candidate`` against ``base`` on ``faces`` (people never trained on)
    and their View 2 pairs ``view2`` (image, image, same)."""
    identities = faces.identities
    xb, xc = embed_crops(base, faces.crops, flip), embed_crops(candidate, faces.crops, flip)
    pb = every_pair(xb, identities, floor_fmr=FLOOR_FMR)
    pc = every_pair(xc, identities, floor_fmr=FLOOR_FMR)
    assert pb.n_units == pc.n_units  # the same identities in the same order
    tb, tc = pb.threshold_at(TARGET_FMR), pc.threshold_at(TARGET_FMR)
    fnmr_b, fnmr_c = pb.fnmr_at(tb), pc.fnmr_at(tc)
    diff = _paired(
        lambda w: fnmr_at_fmr(pc, TARGET_FMR, w) - fnmr_at_fmr(pb, TARGET_FMR, w),
        pb.n_units, rounds, seed,
    )  # fmt: skip
    idx, same = _view2(faces, view2)
    correct_b = (_pair_scores(xb, idx) >= tb) == same
    correct_c = (_pair_scores(xc, idx) >= tc) == same
    acc_diff = _paired(
        lambda w: float((w * (correct_c.astype(float) - correct_b)).sum() / max(w.sum(), 1e-12)),
        len(same), rounds, seed,
    )  # fmt: skip
    reasons = []
    if diff[0] > 0:
        reasons.append(
            f"FNMR at FMR 1e-3 is worse than the base's: {fnmr_c:.4f} vs {fnmr_b:.4f} "
            f"(difference interval {diff[0]:+.4f}..{diff[1]:+.4f})"
        )
    if acc_diff[1] < 0:
        reasons.append(
            f"accuracy at its own threshold drops: {correct_c.mean():.4f} vs "
            f"{correct_b.mean():.4f} (difference interval {acc_diff[0]:+.4f}..{acc_diff[1]:+.4f})"
        )
    metrics = {
        "data": {
            "images": len(faces.images),
            "no_face": int((~faces.found).sum()),
            "identities": int(pb.n_units),
            "genuine_pairs": pb.genuine_pairs,
            "impostor_pairs": int(pb.impostor_total(np.ones(pb.n_units))),
            "view2_pairs": len(same),
        },
        "fnmr_at_fmr_1e-3": {"base": fnmr_b, "candidate": fnmr_c, "difference_90": list(diff)},
        "threshold_at_fmr_1e-3": {"base": tb, "candidate": tc},
        "accuracy": {
            "base": float(correct_b.mean()),
            "candidate": float(correct_c.mean()),
            "difference_90": list(acc_diff),
        },
        "auc": {
            "base": float(roc_auc_score(same, _pair_scores(xb, idx))),
            "candidate": float(roc_auc_score(same, _pair_scores(xc, idx))),
        },
    }
    if thresholds:
        metrics["thresholds"] = map_thresholds(pb, pc, thresholds)
    if low_res:
        metrics["low_res"] = _low_res(base, candidate, faces, idx, same, flip)
    return GateResult(not reasons, reasons, metrics)
