"""The evaluation suite's pictures: CMC, DIR against FPIR, score histograms and the
robustness bars (the EDC is drawn by ``plots_facechecks``)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from likeness_eval.robustness import CONDITIONS, POSE_BINS  # noqa: E402


def _save(fig, ax, xlabel: str, ylabel: str, title: str, path: Path) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def draw_identification(report: dict, curves: dict, paper: dict, out: Path) -> list[str]:
    """``curves``: gallery label -> Identification (LFW alone, then with distractors)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, ident in curves.items():
        ax.plot(ident.ranks, 100 * ident.cmc, marker="o", markersize=3, label=label)
    for k in (1, 5, 10):
        ax.scatter([k], [100 * paper[f"rank{k}"]], color="tab:red", marker="x", zorder=3,
                   label="paper (10,000 identities)" if k == 1 else None)  # fmt: skip
    ax.set_xticks([1, 5, 10, 15, 20])
    _save(fig, ax, "rank", "identification rate (%)",
          "CMC: probes whose person is within the first k", out / "cmc.png")  # fmt: skip

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, ident in curves.items():
        fpir, dir_ = ident.curve()
        keep = fpir > 0
        ax.semilogx(fpir[keep], 100 * dir_[keep], label=label)
    op = report["identification"]["open_set"]
    ax.scatter([max(op["fpir"], 1e-4)], [100 * op["dir"]], color="tab:red", zorder=3,
               label=f"LFW gallery at threshold {op['threshold']:.3f}"
               + (" (FPIR 0, drawn at 1e-4)" if op["fpir"] == 0 else ""))  # fmt: skip
    _save(fig, ax, "FPIR (strangers matched to someone)", "DIR (%)",
          "Open set: detection and identification rate", out / "dir_fpir.png")  # fmt: skip
    return ["cmc.png", "dir_fpir.png"]


def draw_histograms(genuine: np.ndarray, impostor: np.ndarray, out: Path) -> str:
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(-0.2, 1.0, 61)
    ax.hist(genuine, bins=bins, alpha=0.6, label="genuine")
    ax.hist(impostor, bins=bins, alpha=0.6, label="impostor")
    _save(fig, ax, "cosine similarity", "pairs",
          f"LFW View 2: {len(genuine)} genuine, {len(impostor)} impostor pairs",
          out / "separability.png")  # fmt: skip
    return "separability.png"


def _column(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], np.float64)


def draw_robustness(rob: dict, out: Path) -> str:
    """AUC and TAR at FAR 1e-3 per condition and pose bin, with 90% intervals; the
    paper's AUC where it gave one."""
    rows = [(name, rob["conditions"][name], paper) for name, (_, paper) in CONDITIONS.items()
            if name in rob["conditions"]]  # fmt: skip
    rows += [(f"pose: {name}", rob["pose"][name], paper) for name, _, paper in POSE_BINS
             if "auc" in rob["pose"].get(name, {})]  # fmt: skip
    y = np.arange(len(rows))[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.38 * len(rows) + 1.6), sharey=True)
    for ax, key, title in ((axes[0], "auc", "AUC"), (axes[1], "tar_at_far_1e-3",
                                                     "TAR at FAR 1e-3 (%)")):  # fmt: skip
        scale = 1 if key == "auc" else 100
        values = _column([r[key] for _, r, _ in rows]) * scale  # None: not resolvable
        low = _column([r["interval_90"][key][0] for _, r, _ in rows]) * scale
        high = _column([r["interval_90"][key][1] for _, r, _ in rows]) * scale
        ax.barh(y, values, xerr=[np.clip(values - low, 0, None), np.clip(high - values, 0, None)],
                color="tab:blue", alpha=0.75, capsize=2, label="ours (90% interval)")  # fmt: skip
        if key == "auc":
            py = [yy for yy, (_, _, p) in zip(y, rows, strict=True) if p is not None]
            pv = [p for _, _, p in rows if p is not None]
            ax.scatter(pv, py, color="tab:red", marker="x", zorder=3, label="paper")
            ax.set_xlim(min(0.85, float(np.nanmin(low)) - 0.01), 1.0)
        else:
            floor = np.nanmin(low) if np.isfinite(low).any() else 0.0
            ax.set_xlim(max(0.0, float(floor) - 5), 100)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    labels = [f"{name} ({r.get('lost_face', 0)} lost)" if r.get("lost_face") else name
              for name, r, _ in rows]  # fmt: skip
    axes[0].set_yticks(y, labels)
    fig.suptitle(f"Robustness: {rob['pairs']} genuine LFW pairs, second photo changed", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "robustness.png", dpi=110)
    plt.close(fig)
    return "robustness.png"
