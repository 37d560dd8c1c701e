"""Pictures of the face checks' calibration: EDC curves and quality histograms."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HIGHLIGHT = ("combined", "combined, no norm", "random (reference)", "oracle: the pair's own score")


def plot_edc(grid, curves, bands, paucs, path: Path, threshold: float, model: str, *,
             fmr_label: str = "FMR 1e-2",
             data: str = "LFW half B + degraded copies") -> None:  # fmt: skip
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    for name, curve in sorted(curves.items(), key=lambda kv: -paucs[kv[0]][0]):
        bold = name in HIGHLIGHT
        style = "--" if "reference" in name or "oracle" in name else "-"
        (line,) = ax.plot(
            grid * 100,
            curve * 100,
            style,
            lw=2.2 if bold else 1.0,
            alpha=1.0 if bold else 0.7,
            label=f"{name} (pAUC {paucs[name][0]:.4f})",
        )
        if name in bands:
            low, high = bands[name]
            ax.fill_between(grid * 100, low * 100, high * 100, color=line.get_color(), alpha=0.12)
    ax.axvline(20, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("comparisons discarded, lowest quality first (%)")
    ax.set_ylabel(f"FNMR at threshold {threshold:.3f} ({fmr_label}) (%)")
    ax.set_title(f"Error versus discard: {data}, {model}")
    ax.set_xlim(0, 50)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_quality_hist(quality, clean, matchable, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4), dpi=110)
    q = np.where(np.isfinite(quality), quality, -0.02)
    bins = np.linspace(-0.04, 1.0, 53)
    groups = (
        ("clean LFW photos", clean),
        ("degraded, still matches", ~clean & matchable),
        ("degraded, no longer matches", ~clean & ~matchable),
    )
    for label, sel in groups:
        ax.hist(q[sel], bins=bins, alpha=0.55, label=f"{label} ({int(sel.sum())})", density=True)
    ax.set_xlabel("combined quality (no face found: left of 0)")
    ax.set_ylabel("density")
    ax.set_title("Combined quality on LFW half B")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
