"""How far apart genuine and impostor pairs lie (issue 16).

* cosine distances (1 - similarity): the mean and standard deviation of each
  side, and the ratio of the means, as the reference paper reports them. The
  ratio depends on the model's geometry: ArcFace puts impostors near cosine 0
  (distance about 1), FaceNet's did not, so two models' ratios do not compare;
* d-prime: the gap between the means over their pooled standard deviation. It
  has no unit, so it does compare, but it summarises two Gaussians and says
  nothing about the tails where a threshold at FMR 1e-3 lives;
* the EER two Gaussians with given means and deviations imply, to check a
  published table against its own EER."""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

from likeness_eval.metrics import eer


def d_prime(genuine: np.ndarray, impostor: np.ndarray) -> float:
    pooled = np.sqrt((np.var(genuine) + np.var(impostor)) / 2)
    return float((np.mean(genuine) - np.mean(impostor)) / max(pooled, 1e-12))


def gaussian_eer(mean_genuine: float, sd_genuine: float, mean_impostor: float,
                 sd_impostor: float) -> float | None:  # fmt: skip
    """EER of two normal distance distributions (genuine below impostor); None when
    they do not have that shape (a zero spread, or genuine pairs farther apart)."""
    if not (sd_genuine > 0 and sd_impostor > 0 and mean_genuine < mean_impostor):
        return None

    def gap(t: float) -> float:
        return norm.sf(t, mean_genuine, sd_genuine) - norm.cdf(t, mean_impostor, sd_impostor)

    t = brentq(gap, mean_genuine, mean_impostor)
    return float(norm.sf(t, mean_genuine, sd_genuine))


def separability(genuine_scores: np.ndarray, impostor_scores: np.ndarray) -> dict:
    """The paper's figures for cosine scores of genuine and impostor pairs, plus
    d-prime, the measured EER and the EER two Gaussians with these moments imply."""
    g = 1.0 - np.asarray(genuine_scores, np.float64)
    i = 1.0 - np.asarray(impostor_scores, np.float64)
    scores = np.concatenate([genuine_scores, impostor_scores])
    labels = np.concatenate([np.ones(len(g), bool), np.zeros(len(i), bool)])
    measured_eer, _ = eer(scores, labels)
    return {
        "genuine_pairs": len(g),
        "impostor_pairs": len(i),
        "intra_mean_distance": float(g.mean()),
        "intra_sd": float(g.std()),
        "inter_mean_distance": float(i.mean()),
        "inter_sd": float(i.std()),
        "ratio": float(i.mean() / max(g.mean(), 1e-12)),
        "d_prime": d_prime(-g, -i),
        "eer": float(measured_eer),
        "gaussian_eer": gaussian_eer(g.mean(), g.std(), i.mean(), i.std()),
    }
