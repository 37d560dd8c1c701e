"""Does fine-tuning help where the base model is weak? Low-resolution faces on LFW.

Fine-tune the recogniser on the people of LFW View 2 folds 1-5 (aligned crops of
the original photos, with downscale and blur augmentation), then gate the result
on the people of folds 6-10, whom it never saw: full-resolution FNMR at FMR 1e-3
and accuracy (must not get worse), and the same faces degraded to 24, 28 and 32 px
after alignment (should get better). Whichever way it goes is reported.

  .venv/bin/python -m likeness_eval.finetune_lowres --lfw-dir ../shared/datasets/lfw \\
      --model-root ../shared/models --model buffalo_s --epochs 4 --out eval/out/finetune-lowres
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from likeness.engine import FaceEngine
from likeness.learning.training import TrainConfig, train
from likeness.settings import load_settings

from likeness_eval.gate import GateResult, run_gate
from likeness_eval.lfw_crops import align_all, lfw_images, write_training_folder

CACHE = Path("~/.cache/likeness-eval").expanduser()


def view2_pairs(lfw_dir: Path, folds: set[int]) -> list[tuple[str, str, bool]]:
    from likeness_eval.datasets import load_lfw

    pairset = load_lfw(lfw_dir)
    return [
        (pairset.images[a], pairset.images[b], bool(same))
        for (a, b), same, fold in zip(pairset.pairs, pairset.issame, pairset.folds, strict=True)
        if int(fold) in folds
    ]


def draw(gate: GateResult, path: Path) -> Path:
    """AUC before and after, at full resolution and each degraded size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = gate.metrics
    labels = ["112 px (full)"] + [k.replace("px", " px") for k in metrics["low_res"]]
    base = [metrics["auc"]["base"]] + [v["base"]["auc"] for v in metrics["low_res"].values()]
    cand = [metrics["auc"]["candidate"]] + [
        v["candidate"]["auc"] for v in metrics["low_res"].values()
    ]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(x - 0.2, base, 0.4, label="base")
    ax.bar(x + 0.2, cand, 0.4, label="fine-tuned")
    for i, (b, c) in enumerate(zip(base, cand, strict=True)):
        ax.text(i - 0.2, b, f"{b:.4f}", ha="center", va="bottom", fontsize=7)
        ax.text(i + 0.2, c, f"{c:.4f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, labels)
    ax.set_ylim(min(base + cand) - 0.02, 1.0)
    ax.set_ylabel("AUC, LFW View 2 pairs of folds 6-10")
    ax.set_title("Low-resolution faces before and after fine-tuning")
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(gate: GateResult, trained: dict, command: str) -> str:
    m = gate.metrics
    lines = [
        "# Fine-tuning for low-resolution faces (LFW folds 1-5 -> 6-10)",
        "",
        f"`{command}`",
        "",
        f"Training: {trained['data']['train']['faces']} faces of "
        f"{trained['data']['train']['identities']} people (folds 1-5), "
        f"{len(trained['history']) - 1} epochs, {trained['seconds']:.0f} s; layers trained: "
        f"{', '.join(trained['trainable'])}.",
        f"Test: {m['data']['images']} images of {m['data']['identities']} people "
        f"(folds 6-10), {m['data']['genuine_pairs']} genuine and "
        f"{m['data']['impostor_pairs']} impostor pairs, {m['data']['view2_pairs']} View 2 pairs.",
        "",
        "| measure | base | fine-tuned |",
        "|---|---|---|",
        f"| FNMR at FMR 1e-3 (full res) | {m['fnmr_at_fmr_1e-3']['base']:.4f} | "
        f"{m['fnmr_at_fmr_1e-3']['candidate']:.4f} |",
        f"| accuracy at own threshold (full res) | {m['accuracy']['base']:.4f} | "
        f"{m['accuracy']['candidate']:.4f} |",
        f"| AUC (full res) | {m['auc']['base']:.5f} | {m['auc']['candidate']:.5f} |",
    ]
    for size, row in m.get("low_res", {}).items():
        lines.append(
            f"| AUC at {size} | {row['base']['auc']:.4f} | {row['candidate']['auc']:.4f} |"
        )
        lines.append(
            f"| FNMR at FMR 1e-3 at {size} | {row['base']['fnmr_at_fmr_1e-3']:.4f} | "
            f"{row['candidate']['fnmr_at_fmr_1e-3']:.4f} |"
        )
    d = m["fnmr_at_fmr_1e-3"]["difference_90"]
    a = m["accuracy"]["difference_90"]
    lines += [
        "",
        f"Paired 90% intervals (fine-tuned - base): FNMR {d[0]:+.4f}..{d[1]:+.4f}, "
        f"accuracy {a[0]:+.4f}..{a[1]:+.4f}.",
        f"Gate: {'passed' if gate.passed else 'refused: ' + '; '.join(gate.reasons)}",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw-dir", type=Path, required=True)
    parser.add_argument("--model-root", type=Path, required=True)
    parser.add_argument("--model", default="buffalo_s")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--trainable-layers", type=int, default=6)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--keep-weight", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("eval/out/finetune-lowres"))
    args = parser.parse_args(argv)
    command = "python -m likeness_eval.finetune_lowres " + " ".join(argv or sys.argv[1:])
    settings = load_settings(None, model_root=args.model_root, model_pack=args.model)
    engine = FaceEngine(settings)
    root, images, folds = lfw_images(args.lfw_dir)
    faces = align_all(engine, root, images, CACHE)
    first = np.array(folds) < 5
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    data = args.out / "data"
    write_training_folder(faces.take(first), data)
    start = time.perf_counter()
    trained = train(
        TrainConfig(
            data=data, base=engine.files[1].path, out=args.out / "run", epochs=args.epochs,
            trainable_layers=args.trainable_layers, lr=args.lr, keep_weight=args.keep_weight,
        )
    )  # fmt: skip
    print(f"trained in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    thresholds = {"verify": settings.threshold, "search": settings.gallery_threshold}
    gate = run_gate(
        engine.files[1].path, trained.onnx, faces.take(~first),
        view2_pairs(args.lfw_dir, set(range(5, 10))), thresholds, rounds=args.rounds,
    )  # fmt: skip
    shutil.rmtree(data)  # the crops were only for training
    report = {"command": command, "train": trained.as_dict(), "gate": gate.as_dict()}
    (args.out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    draw(gate, args.out / "lowres.png")
    text = markdown(gate, trained.as_dict(), command)
    (args.out / "report.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
