"""``likeness train --data EXPORT_DIR --epochs N``: fine-tune the active recogniser
on a training export (``likeness feedback export``), export it to ONNX, gate it on
LFW people it never saw (``likeness_eval.gate``; ``--lfw-dir`` or
``LIKENESS_LFW_DIR``), and register it as a candidate version with its model card.
``likeness models activate ID`` then puts it in service.

Needs the ``train`` extra (PyTorch, onnx2torch): ``make install-train``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

CACHE = Path("~/.cache/likeness-eval").expanduser()


def _gate(settings, registry, base, base_file: Path, onnx: Path, lfw_dir: Path, args) -> dict:
    from likeness.engine import FaceEngine
    from likeness.learning.thresholds import ThresholdBook

    from likeness_eval.finetune_lowres import view2_pairs
    from likeness_eval.gate import run_gate
    from likeness_eval.lfw_crops import align_all, lfw_images

    engine = FaceEngine(settings, recognizer=registry.resolve(base))
    root, images, folds = lfw_images(lfw_dir)
    faces = align_all(engine, root, images, CACHE)
    unseen = [f >= 5 for f in folds]
    import numpy as np

    book = ThresholdBook(registry.db, settings, settings.model_pack, base.sha256, 0)
    result = run_gate(
        base_file, onnx, faces.take(np.array(unseen)), view2_pairs(lfw_dir, set(range(5, 10))),
        {"verify": book.verify(), "search": book.search()}, low_res=args.low_res,
        flip=settings.flip_tta,
    )  # fmt: skip
    return result.as_dict()


def cmd_train(args: argparse.Namespace) -> int:
    from likeness.errors import ConfigError
    from likeness.models_cli import _registry

    try:
        from likeness.learning.training import TrainConfig, train
        from likeness.learning.training.data import Augment
    except ModuleNotFoundError as error:
        raise ConfigError(
            f"training needs the `train` extra ({error.name} is not installed): "
            "run `make install-train`"
        ) from None

    db, registry = _registry(args)
    try:
        base = registry.get(args.base) if args.base else registry.active()
        base_file = registry.resolve(base)
        settings = registry.settings
        if base_file is None:
            from likeness.engine.modelpack import resolve_pack

            base_file = resolve_pack(settings.model_root, settings.model_pack,
                                     settings.verify_model_hashes)[1]  # fmt: skip
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        out = Path(args.out) if args.out else settings.data_dir / "training" / stamp
        augment = Augment(low_res_p=args.low_res_p)
        config = TrainConfig(
            data=Path(args.data), base=base_file.path, out=out, epochs=args.epochs,
            batch_faces=args.batch, lr=args.lr, trainable_layers=args.trainable_layers,
            keep_weight=args.keep_weight, augment=augment, seed=args.seed, resume=args.resume,
            progress=not args.json and sys.stderr.isatty(),
        )  # fmt: skip
        result = train(config)
        lfw = args.lfw_dir or os.environ.get("LIKENESS_LFW_DIR")
        gate = None
        if lfw:
            gate = _gate(settings, registry, base, base_file.path, result.onnx, Path(lfw), args)
        else:
            print("likeness: no --lfw-dir (or LIKENESS_LFW_DIR): the gate did not run"
                  + ("" if args.no_register else "; activation will need --force"),
                  file=sys.stderr)  # fmt: skip
        body = {"train": result.as_dict(), "gate": gate}
        known = registry.by_sha(result.onnx_sha256)
        if known is not None:  # the same run again (same data, seed, settings)
            if gate is not None and known.gate == "none":
                known = registry.record_gate(known, gate)
            body["version"] = known.as_dict(metrics=False)
            body["already_registered"] = True
        elif not args.no_register:
            verdict = "none" if gate is None else ("passed" if gate["passed"] else "refused")
            version = registry.register(
                result.onnx, parent=base, data_sha256=result.data_sha256,
                metrics={"train": result.as_dict(), "gate": gate or {}}, gate=verdict,
                created_by="cli",
            )  # fmt: skip
            body["version"] = version.as_dict(metrics=False)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(body, indent=2, default=str))
        return 0
    last, epochs = result.history[-1], len(result.history) - 1
    print(f"trained {epochs} epoch{'s' * (epochs != 1)} in {result.seconds:.0f} s -> "
          f"{result.onnx}")  # fmt: skip
    print(f"  curves: {result.out / 'curves.png'}; parity (min cosine): "
          f"import {result.parity['import']['min_cosine']:.7f}, "
          f"export {result.parity['export']['min_cosine']:.7f}")  # fmt: skip
    if last.get("val_auc") is not None:
        print(f"  validation AUC {last['val_auc']:.4f} (at 28 px {last['val_auc_low_res']:.4f})")
    else:
        print("  validation: none (the validation side needs faces of two people or more)")
    if gate is not None:
        f = gate["fnmr_at_fmr_1e-3"]
        print(f"  gate {'passed' if gate['passed'] else 'REFUSED'}: FNMR at FMR 1e-3 "
              f"{f['candidate']:.4f} (base {f['base']:.4f})")  # fmt: skip
        for reason in gate["reasons"]:
            print(f"    {reason}")
    if body.get("already_registered"):
        print(f"this model is registered already, as {body['version']['id']} "
              f"(gate {body['version']['gate']})")  # fmt: skip
    elif "version" in body:
        print(f"registered {body['version']['id']} (candidate): "
              f"`likeness models activate {body['version']['id']}`")  # fmt: skip
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from likeness.gallery_cli import _common

    p = sub.add_parser("train", help="fine-tune the recogniser on a training export")
    p.add_argument("--data", required=True, help="a folder of `likeness feedback export`")
    p.add_argument("--epochs", type=int, default=5, help="passes over the training pairs")
    p.add_argument("--out", help="run folder (default: DATA_DIR/training/<time>)")
    p.add_argument("--base", help="version to start from (default: the active one)")
    p.add_argument("--lfw-dir", help="LFW View 2 for the gate (default: LIKENESS_LFW_DIR)")
    p.add_argument("--low-res", action="store_true", help="the gate also measures 24-32 px")
    p.add_argument("--batch", type=int, default=64, help="faces per step")
    p.add_argument("--lr", type=float, default=3e-4, help="learning rate")
    p.add_argument(
        "--trainable-layers", type=int, default=6, help="last layers trained (the rest frozen)"
    )
    p.add_argument("--keep-weight", type=float, default=1.0, help="pull towards the base")
    p.add_argument("--low-res-p", type=float, default=0.5, help="share of low-res augmentation")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--resume", action="store_true", help="go on from --out's last checkpoint")
    p.add_argument("--no-register", action="store_true", help="train and gate only")
    _common(p)
    p.set_defaults(func=cmd_train)
