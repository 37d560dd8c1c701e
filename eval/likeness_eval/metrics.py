"""Verification metrics on similarity scores (higher = more alike).

Decision rule everywhere: a pair is accepted as "same person" when
``score >= threshold`` (the rule of ``FaceEngine.compare`` and of scikit-learn's
``roc_curve``).

* FMR (false match rate, = FAR) = impostor pairs accepted / impostor pairs.
* FNMR (false non-match rate, = 1 - TAR) = genuine pairs rejected / genuine pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _split(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError("scores and labels must be 1-D arrays of the same length")
    genuine, impostor = scores[labels], scores[~labels]
    if len(genuine) == 0 or len(impostor) == 0:
        raise ValueError("need at least one genuine and one impostor pair")
    return genuine, impostor


def rates_at(scores, labels, threshold: float) -> tuple[float, float]:
    """(FMR, FNMR) when accepting ``score >= threshold``."""
    genuine, impostor = _split(scores, labels)
    fmr = float(np.mean(impostor >= threshold))
    fnmr = float(np.mean(genuine < threshold))
    return fmr, fnmr


def roc(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full ROC: (fmr, tar, thresholds), thresholds decreasing, one point per distinct
    score plus the (0, 0) start at threshold +inf (as ``sklearn.metrics.roc_curve``
    with ``drop_intermediate=False``)."""
    genuine, impostor = _split(scores, labels)
    all_scores = np.concatenate([genuine, impostor])
    is_gen = np.concatenate([np.ones(len(genuine), bool), np.zeros(len(impostor), bool)])
    order = np.argsort(-all_scores, kind="mergesort")
    sorted_scores = all_scores[order]
    tp = np.cumsum(is_gen[order])
    fp = np.cumsum(~is_gen[order])
    # keep the last index of each run of equal scores
    last = np.r_[np.diff(sorted_scores) != 0, True]
    tp, fp, thr = tp[last], fp[last], sorted_scores[last]
    fmr = np.r_[0.0, fp / len(impostor)]
    tar = np.r_[0.0, tp / len(genuine)]
    thresholds = np.r_[np.inf, thr]
    return fmr, tar, thresholds


def auc(scores, labels) -> float:
    """Area under the ROC (trapezoids; ties count one half)."""
    fmr, tar, _ = roc(scores, labels)
    return float(np.trapezoid(tar, fmr))


@dataclass(frozen=True)
class OperatingPoint:
    target_fmr: float
    threshold: float
    fmr: float
    fnmr: float
    #: False when fewer than one impostor backs the target (target * impostors < 1):
    #: the point then only says "no impostor was accepted".
    resolvable: bool

    @property
    def tar(self) -> float:
        return 1.0 - self.fnmr

    def as_dict(self) -> dict:
        return {
            "target_fmr": self.target_fmr,
            "threshold": self.threshold,
            "fmr": self.fmr,
            "fnmr": self.fnmr,
            "tar": self.tar,
            "resolvable": self.resolvable,
        }


def fnmr_at_fmr(scores, labels, target: float) -> OperatingPoint:
    """The lowest threshold whose FMR is at most ``target``, and the FNMR there.

    With n impostors, at most ``floor(target * n)`` of them may score at or above the
    threshold; the threshold is set just above the next-highest impostor score.
    Equals ``1 - max(tpr[fpr <= target])`` of scikit-learn's ROC.
    """
    genuine, impostor = _split(scores, labels)
    desc = np.sort(impostor)[::-1]
    allowed = int(np.floor(target * len(desc) + 1e-9))
    # accept score >= threshold: just above the first impostor that must be rejected
    threshold = -np.inf if allowed >= len(desc) else float(np.nextafter(desc[allowed], np.inf))
    fmr = float(np.mean(impostor >= threshold))
    fnmr = float(np.mean(genuine < threshold))
    return OperatingPoint(target, threshold, fmr, fnmr, target * len(desc) >= 1.0)


def eer(scores, labels) -> tuple[float, float]:
    """Equal error rate and its threshold: the ROC point where FMR = FNMR, linearly
    interpolated between the two ROC points around the crossing."""
    fmr, tar, thr = roc(scores, labels)
    fnmr = 1.0 - tar
    diff = fnmr - fmr  # decreasing from 1 to -1 along the ROC
    i = int(np.argmax(diff <= 0))  # first point with FMR >= FNMR
    if i == 0 or diff[i] == 0:
        threshold = thr[i] if np.isfinite(thr[i]) else float(np.max(scores))
        return float((fmr[i] + fnmr[i]) / 2), float(threshold)
    d0, d1 = diff[i - 1], diff[i]
    w = d0 / (d0 - d1)
    rate = fmr[i - 1] + w * (fmr[i] - fmr[i - 1])
    t0 = thr[i - 1] if np.isfinite(thr[i - 1]) else thr[i]
    threshold = t0 + w * (thr[i] - t0)
    return float(rate), float(threshold)


def _accuracy_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy at every candidate threshold: below the lowest score, every midpoint
    between consecutive distinct scores, above the highest. Thresholds ascending."""
    uniq = np.unique(scores)
    candidates = np.r_[uniq[0] - 1e-6, (uniq[:-1] + uniq[1:]) / 2, uniq[-1] + 1e-6]
    gen = np.sort(scores[labels])
    imp = np.sort(scores[~labels])
    # accepted genuine: score >= t ; rejected impostor: score < t
    tp = len(gen) - np.searchsorted(gen, candidates, side="left")
    tn = np.searchsorted(imp, candidates, side="left")
    return candidates, (tp + tn) / len(scores)


def best_threshold(scores, labels) -> tuple[float, float]:
    """(threshold, accuracy) maximising accuracy on these pairs. Ties: the middle of
    the best candidates (the widest margin when they form one interval)."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, bool)
    candidates, acc = _accuracy_curve(scores, labels)
    best = np.flatnonzero(acc == acc.max())
    pick = best[len(best) // 2]
    return float(candidates[pick]), float(acc[pick])


def accuracy_at(scores, labels, threshold: float) -> float:
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, bool)
    return float(np.mean((scores >= threshold) == labels))


@dataclass(frozen=True)
class FoldResult:
    accuracies: np.ndarray
    thresholds: np.ndarray

    @property
    def mean(self) -> float:
        return float(np.mean(self.accuracies))

    @property
    def std(self) -> float:
        return float(np.std(self.accuracies))  # population std, as InsightFace's verification.py


#: InsightFace's verification.py: thresholds on the squared L2 distance of unit
#: embeddings (= 2 - 2 cos), "same" when distance < threshold.
INSIGHTFACE_DISTANCE_GRID = np.arange(0, 4, 0.01)


def _grid_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """InsightFace's choice: the first grid threshold with the best training accuracy,
    returned as the equivalent cosine threshold (distance < t <=> cos > 1 - t/2)."""
    dist = 2.0 - 2.0 * scores
    acc = [np.mean((dist < t) == labels) for t in INSIGHTFACE_DISTANCE_GRID]
    return float(INSIGHTFACE_DISTANCE_GRID[int(np.argmax(acc))])


def kfold_accuracy(scores, labels, folds, method: str = "insightface") -> FoldResult:
    """LFW / InsightFace protocol: for each fold, choose the best threshold on the other
    folds and measure accuracy on the held-out fold.

    ``method="insightface"`` reproduces InsightFace's ``verification.py`` exactly (grid
    of 400 distance thresholds, step 0.01, first best); ``"exact"`` searches every
    midpoint between distinct scores (ties: middle candidate). Fold thresholds are
    returned as cosine similarities.
    """
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, bool)
    folds = np.asarray(folds)
    accs, thrs = [], []
    for fold in np.unique(folds):
        test = folds == fold
        if method == "insightface":
            t_dist = _grid_threshold(scores[~test], labels[~test])
            dist = 2.0 - 2.0 * scores[test]
            accs.append(float(np.mean((dist < t_dist) == labels[test])))
            thrs.append(1.0 - t_dist / 2.0)
        elif method == "exact":
            threshold, _ = best_threshold(scores[~test], labels[~test])
            accs.append(accuracy_at(scores[test], labels[test], threshold))
            thrs.append(threshold)
        else:
            raise ValueError(f"unknown k-fold method {method!r}")
    return FoldResult(np.array(accs), np.array(thrs))


FMR_TARGETS = (1e-1, 1e-2, 1e-3, 1e-4)


def summarise(scores, labels, folds, threshold: float, table_thresholds=()) -> dict:
    """Every number of the report, as plain JSON-able values."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels, bool)
    kfold = kfold_accuracy(scores, labels, folds)
    kfold_exact = kfold_accuracy(scores, labels, folds, method="exact")
    best_t, best_acc = best_threshold(scores, labels)
    eer_rate, eer_t = eer(scores, labels)
    fmr_t, fnmr_t = rates_at(scores, labels, threshold)
    points = {f"{t:.0e}".replace("e-0", "e-"): fnmr_at_fmr(scores, labels, t) for t in FMR_TARGETS}
    n_imp = int((~labels).sum())
    table = []
    for t in table_thresholds:
        fm, fn = rates_at(scores, labels, t)
        table.append(
            {
                "threshold": round(float(t), 4),
                "fmr": fm,
                "fnmr": fn,
                "accuracy": accuracy_at(scores, labels, t),
            }
        )
    return {
        "accuracy": {
            "mean": kfold.mean,
            "std": kfold.std,
            "folds": kfold.accuracies.tolist(),
            "fold_thresholds": kfold.thresholds.tolist(),
            "method": "insightface verification.py: distance grid 0..4 step 0.01, first best",
        },
        "accuracy_exact_thresholds": {
            "mean": kfold_exact.mean,
            "std": kfold_exact.std,
            "folds": kfold_exact.accuracies.tolist(),
            "method": "every midpoint between distinct training scores, middle of ties",
        },
        "best_accuracy": best_acc,
        "best_accuracy_threshold": best_t,
        "eer": eer_rate,
        "eer_threshold": eer_t,
        "auc": auc(scores, labels),
        "threshold": float(threshold),
        "fmr_at_threshold": fmr_t,
        "fnmr_at_threshold": fnmr_t,
        "accuracy_at_threshold": accuracy_at(scores, labels, threshold),
        "fnmr_at_fmr": {k: p.fnmr for k, p in points.items()},
        "tar_at_far": {k: p.tar for k, p in points.items()},
        "operating_points": {k: p.as_dict() for k, p in points.items()},
        "fmr_resolution": 1.0 / n_imp,
        "threshold_table": table,
    }
