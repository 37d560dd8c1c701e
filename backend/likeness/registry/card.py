"""Model cards (Mitchell et al., 2019): what a version is for, what it learned
from, how it measured (with intervals), and the licence of its weights."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from likeness.registry.versions import ModelVersion

LICENCE = (
    "The weights descend from InsightFace's pretrained models, which are for "
    "non-commercial research use only; a fine-tuned version inherits that licence."
)


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * float(value):.2f}%"


def _gate_lines(gate: dict) -> list[str]:
    if not gate:
        return ["The gate did not run: nothing was measured on unseen people."]
    fnmr, acc = gate.get("fnmr_at_fmr_1e-3", {}), gate.get("accuracy", {})
    data = gate.get("data", {})
    lines = [
        f"Measured on {data.get('images', '?')} LFW images of {data.get('identities', '?')} "
        f"people never trained on ({data.get('genuine_pairs', '?')} genuine pairs, "
        f"{data.get('impostor_pairs', '?')} impostor pairs); 90% paired bootstrap "
        "intervals, over identities for FNMR and over the View 2 pairs for accuracy.",
        "",
        "| measure | base | this version | difference (90%) |",
        "|---|---|---|---|",
    ]
    if fnmr:
        d = fnmr.get("difference_90", [None, None])
        lines.append(
            f"| FNMR at FMR 1e-3 | {_pct(fnmr.get('base'))} | {_pct(fnmr.get('candidate'))} | "
            f"{_pct(d[0])} .. {_pct(d[1])} |"
        )
    if acc:
        d = acc.get("difference_90", [None, None])
        lines.append(
            f"| accuracy at own threshold | {_pct(acc.get('base'))} | "
            f"{_pct(acc.get('candidate'))} | {_pct(d[0])} .. {_pct(d[1])} |"
        )
    for size, row in (gate.get("low_res") or {}).items():
        lines.append(
            f"| AUC at {size} | {row['base']['auc']:.4f} | {row['candidate']['auc']:.4f} | |"
        )
    verdict = "passed" if gate.get("passed") else "refused: " + "; ".join(gate.get("reasons", []))
    return [*lines, "", f"Gate: {verdict}."]


def render_card(version: ModelVersion, parent: ModelVersion | None) -> str:
    m = version.metrics or {}
    train = m.get("train") or {}
    data = train.get("data") or {}
    lines = [
        f"# Model card: {version.id}",
        "",
        f"- Pack: {version.pack}; origin: {version.origin}; parent: "
        f"{parent.id if parent else version.parent_id or 'none'}",
        f"- File SHA-256: `{version.sha256}`",
        f"- Created: {version.created_at:%Y-%m-%d %H:%M} UTC by {version.created_by or 'unknown'}",
        "",
        "## Intended use",
        "Face verification (1:1) and search (1:N) inside Likeness, on aligned 112x112 "
        "face crops, with the thresholds stored for this version. Not for decisions "
        "about people without human review; not validated on children, on infrared "
        "images, or on faces below about 24 pixels.",
        "",
        "## Training data",
    ]
    if version.origin == "base":
        lines.append("The official InsightFace release (WebFace600K); not retrained here.")
    else:
        lines += [
            f"- Export folder SHA-256: `{version.data_sha256}`",
            f"- Train: {data.get('train', {}).get('faces', '?')} faces of "
            f"{data.get('train', {}).get('identities', '?')} identities; validation: "
            f"{data.get('val', {}).get('faces', '?')} faces of "
            f"{data.get('val', {}).get('identities', '?')} identities.",
            f"- Layers trained: {', '.join(train.get('trainable', [])) or '?'}; epochs: "
            f"{max(0, len(train.get('history', [])) - 1)}.",
        ]
    lines += ["", "## Metrics", *_gate_lines(m.get("gate") or {}), ""]
    lines += [
        "## Disaggregated metrics",
        "None: neither the training data nor LFW carries group labels (age, gender, "
        "skin tone) here, so no per-group figure can be given. Measure before relying "
        "on this version for any group.",
        "",
        "## Licence",
        LICENCE,
        "",
    ]
    return "\n".join(lines)
