"""report.json and report.md of one run."""

from __future__ import annotations

import json
from pathlib import Path


def _pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def write_json(report: dict, out: Path) -> Path:
    path = out / "report.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


def render_markdown(r: dict) -> str:
    acc = r["accuracy"]
    lines = [
        f"# Likeness evaluation: {r['dataset']} / {r['model']}",
        "",
        f"- Pairs: **{r['pairs_total']}** ({r['counts']['genuine']} genuine, "
        f"{r['counts']['impostor']} impostor) in {r['counts']['folds']} folds; "
        f"{r['counts']['images']} distinct images ({r['source']} input).",
        f"- Pipeline: {r['protocol']['pipeline']}",
        f"- Face choice: {r['protocol']['face_policy']}",
        f"- Flip test-time augmentation: {'on' if r['protocol']['flip'] else 'off'}",
        f"- Images without a detected face: **{len(r['images_without_face'])}** "
        f"(affecting {r['counts']['pairs_with_fallback']} pairs; none dropped — "
        f"{r['protocol']['no_face_rule']})",
        "",
        "## Results",
        "",
        "| metric | value |",
        "|---|---|",
        f"| 10-fold accuracy (mean ± std) | {_pct(acc['mean'])} ± {_pct(acc['std'])} |",
        f"| 10-fold accuracy, exact thresholds (mean ± std) | "
        f"{_pct(r['accuracy_exact_thresholds']['mean'])} ± "
        f"{_pct(r['accuracy_exact_thresholds']['std'])} |",
        f"| best single-threshold accuracy | {_pct(r['best_accuracy'])} "
        f"(threshold {r['best_accuracy_threshold']:.3f}) |",
        f"| EER | {_pct(r['eer'])} (threshold {r['eer_threshold']:.3f}) |",
        f"| AUC | {r['auc']:.5f} |",
        f"| operating threshold of the pack | {r['threshold']:.3f} |",
        f"| FMR at the threshold | {_pct(r['fmr_at_threshold'], 3)} |",
        f"| FNMR at the threshold | {_pct(r['fnmr_at_threshold'], 3)} |",
    ]
    for key, point in r["operating_points"].items():
        note = "" if point["resolvable"] else " (below the resolution: fewer than 1 impostor)"
        lines.append(
            f"| FNMR @ FMR={key} | {_pct(point['fnmr'], 3)} (TAR {_pct(point['tar'], 3)}, "
            f"threshold {point['threshold']:.3f}, measured FMR {_pct(point['fmr'], 3)}){note} |"
        )
    n_imp = r["counts"]["impostor"]
    lines += [
        "",
        f"{n_imp} impostor pairs back these numbers: the smallest non-zero FMR is 1/{n_imp} = "
        f"{r['fmr_resolution']:.1e}. An FMR target below that (1e-4 with 3000 impostors) only "
        'says "no impostor was accepted" and is statistically meaningless; FMR=1e-3 rests '
        f"on {int(n_imp * 1e-3)} accepted impostor(s) at most.",
        "",
        "## Threshold table",
        "",
        "| threshold | FMR | FNMR | accuracy |",
        "|---|---|---|---|",
    ]
    for row in r["threshold_table"]:
        lines.append(
            f"| {row['threshold']:.2f} | {_pct(row['fmr'], 3)} | {_pct(row['fnmr'], 3)} | "
            f"{_pct(row['accuracy'])} |"
        )
    lines += [
        "",
        "## Per fold",
        "",
        "| fold | threshold (chosen on the other folds) | accuracy |",
        "|---|---|---|",
    ]
    for i, (a, t) in enumerate(zip(acc["folds"], acc["fold_thresholds"], strict=True)):
        lines.append(f"| {i + 1} | {t:.4f} | {_pct(a)} |")
    timing = r["timings_s"]
    ips = r["images_per_second"]
    speed = f"{ips:.1f} images/s" if ips else "all from cache"
    lines += [
        "",
        "## Speed",
        "",
        f"- Embedded {r['counts']['images_computed']} images, {r['counts']['images_cached']} "
        f"from the cache; {speed} "
        f"(wall {timing['embed_wall']:.1f} s, detect {timing['detect']:.1f} s, "
        f"embed {timing['embed']:.1f} s, waiting for decode {timing['decode_wait']:.1f} s).",
        f"- Engine: {r['engine']['providers']}, "
        f"{r['engine']['intra_op_threads']} intra-op threads.",
        "",
        "## Plots",
        "",
        "![ROC](roc.png) ![DET](det.png) ![scores](scores.png)",
        "",
        "## Inputs",
        "",
    ]
    for name, digest in r["input_sha256"].items():
        lines.append(f"- `{name}` SHA-256 `{digest}`")
    for f in r["engine"]["files"]:
        lines.append(f"- model `{f['file']}` SHA-256 `{f['sha256']}` (verified: {f['verified']})")
    if r["images_without_face"]:
        lines += ["", "## Images without a detected face (centre-crop fallback)", ""]
        lines += [f"- `{name}`" for name in r["images_without_face"]]
    lines += ["", f"Command: `{r['command']}`", ""]
    return "\n".join(lines)


def write_markdown(report: dict, out: Path) -> Path:
    path = out / "report.md"
    path.write_text(render_markdown(report))
    return path
