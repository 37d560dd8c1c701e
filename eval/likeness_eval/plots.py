"""ROC, DET and score histograms as PNG (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import norm  # noqa: E402

from likeness_eval.metrics import roc  # noqa: E402


def _title(label: str, what: str) -> str:
    return f"{what} — {label}"


def plot_roc(scores, labels, path: Path, label: str) -> None:
    fmr, tar, _ = roc(scores, labels)
    n_imp = int((~np.asarray(labels, bool)).sum())
    floor = 1.0 / n_imp
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    keep = fmr > 0
    ax.plot(np.r_[floor / 2, fmr[keep]], np.r_[tar[keep][0] if keep.any() else 0, tar[keep]])
    ax.axvline(floor, color="grey", ls=":", lw=1, label=f"1 / impostors = {floor:.1e}")
    ax.set_xscale("log")
    ax.set_xlim(floor / 2, 1)
    ax.set_ylim(max(0.0, float(tar[np.searchsorted(fmr, floor)]) - 0.02), 1.001)
    ax.set_xlabel("FAR / FMR (log)")
    ax.set_ylabel("TAR = 1 - FNMR")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(_title(label, "ROC"))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_det(scores, labels, path: Path, label: str) -> None:
    fmr, tar, _ = roc(scores, labels)
    fnmr = 1.0 - tar
    n_gen = int(np.asarray(labels, bool).sum())
    n_imp = len(labels) - n_gen
    # probit axes; clip the zeros to half a pair so they stay on the chart
    x = norm.ppf(np.clip(fmr, 0.5 / n_imp, 1 - 0.5 / n_imp))
    y = norm.ppf(np.clip(fnmr, 0.5 / n_gen, 1 - 0.5 / n_gen))
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    ax.plot(x, y)
    ticks = [1e-4, 1e-3, 1e-2, 5e-2, 0.2, 0.5]
    pos = norm.ppf(ticks)
    names = ["0.01%", "0.1%", "1%", "5%", "20%", "50%"]
    ax.set_xticks(pos, names)
    ax.set_yticks(pos, names)
    ax.set_xlim(norm.ppf(0.5 / n_imp), norm.ppf(0.5))
    ax.set_ylim(norm.ppf(0.5 / n_gen), norm.ppf(0.5))
    ax.plot([-10, 10], [-10, 10], color="grey", ls=":", lw=1, label="EER line")
    ax.set_xlabel("FMR (probit)")
    ax.set_ylabel("FNMR (probit)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(_title(label, "DET"))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_hist(scores, labels, path: Path, label: str, threshold: float) -> None:
    scores = np.asarray(scores)
    labels = np.asarray(labels, bool)
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    bins = np.linspace(min(-0.3, scores.min()), max(1.0, scores.max()), 81)
    ax.hist(scores[labels], bins=bins, alpha=0.6, label=f"genuine ({labels.sum()})")
    ax.hist(scores[~labels], bins=bins, alpha=0.6, label=f"impostor ({(~labels).sum()})")
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.2f}")
    ax.set_yscale("log")
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("pairs (log)")
    ax.legend(fontsize=8)
    ax.set_title(_title(label, "scores"))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_plots(scores, labels, out: Path, label: str, threshold: float) -> dict[str, str]:
    files = {"roc": "roc.png", "det": "det.png", "histogram": "scores.png"}
    plot_roc(scores, labels, out / files["roc"], label)
    plot_det(scores, labels, out / files["det"], label)
    plot_hist(scores, labels, out / files["histogram"], label, threshold)
    return files
