"""``likeness filter IMAGES... [--json] [--liveness]``: the face checks of each
image's face (registered by ``likeness.cli``). Exit status: 0 when every image
passes, 1 when one is refused or unreadable, 2 when the command cannot run (bad
settings, missing models)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def cmd_filter(args: argparse.Namespace) -> int:
    from likeness.engine import FaceEngine
    from likeness.errors import LikenessError
    from likeness.imaging import ImageLimits
    from likeness.quality import FaceGate
    from likeness.quality.filter import filter_source
    from likeness.settings import load_settings

    overrides = {}
    if args.model:
        overrides["model_pack"] = args.model
    if args.model_root:
        overrides["model_root"] = Path(args.model_root)
    settings = load_settings(args.config, **overrides)
    gate = FaceGate(FaceEngine(settings))
    if args.liveness:
        gate.liveness_model()  # missing models: one clear line before any work
    limits = ImageLimits.from_settings(settings)
    answers, all_valid = [], True
    for image in args.images:
        try:
            result = filter_source(gate, Path(image), limits, liveness=args.liveness)
        except LikenessError as error:
            all_valid = False
            answers.append(
                {"image": image, "error": {"code": error.code, "message": error.message}}
            )
            if not args.json:
                print(f"{image}: error {error.code}: {error.message}")
            continue
        body = result.as_dict()
        all_valid = all_valid and result.is_valid
        answers.append({"image": image, **body})
        if not args.json:
            print(f"{image}: {_line(body)}")
    if args.json:
        print(json.dumps(answers, indent=2))
    return 0 if all_valid else 1


def _line(body: dict) -> str:
    scores = body["scores"]
    if body["rejection_reason"] == "no_face":
        return "refused: no_face"
    parts = [f"quality {scores['quality']:.3f}"]
    if scores.get("cartoon_prob") is not None:
        parts.append(f"cartoon {scores['cartoon_prob']:.2f}")
    if scores.get("liveness_score") is not None:
        parts.append(f"live {scores['liveness_score']:.2f}")
    width, height = scores["face_size"]
    parts.append(f"face {width}x{height}")
    verdict = "ok" if body["is_valid"] else "refused: " + ", ".join(body["reasons"])
    return f"{verdict} ({', '.join(parts)})"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "filter",
        help="face checks of images: size, quality, cartoon, liveness",
        description="The face checks of each image's face. Exit status: 0 when every image "
        "passes, 1 when one is refused or unreadable, 2 when the command cannot run.",
    )
    parser.add_argument("images", nargs="+", help="image files")
    parser.add_argument("--liveness", action="store_true", help="also run passive liveness")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--config", help="YAML settings file (else LIKENESS_CONFIG / env)")
    parser.add_argument("--model", help="model pack (default: settings, buffalo_l)")
    parser.add_argument("--model-root", help="folder holding the model packs")
    parser.set_defaults(func=cmd_filter)
