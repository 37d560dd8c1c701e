"""``likeness`` command line: environment checks, model packs, and the feature
subcommands (gallery, feedback) registered by their own modules."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata as md
import os
import sys
from pathlib import Path

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.exc import SQLAlchemyError

from likeness.errors import LikenessError, ModelError

#: Modules that add subcommands: each has ``register(subparsers)``.
FEATURE_MODULES = (
    "likeness.gallery_cli",
    "likeness.feedback_cli",
    "likeness.keys_cli",
    "likeness.quality_cli",
    "likeness.jobs_cli",
    "likeness.clusters_cli",
    "likeness.thresholds_cli",
    "likeness_eval.calibrate_cli",  # when the evaluation package is installed
    "likeness_eval.train_cli",
)

OPENCV_DISTS = (
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python",
    "opencv-contrib-python-headless",
)


def installed_opencv() -> list[str]:
    found = []
    for name in OPENCV_DISTS:
        with contextlib.suppress(md.PackageNotFoundError):
            found.append(f"{name}=={md.version(name)}")
    return found


def cmd_doctor(args: argparse.Namespace) -> int:
    """One OpenCV distribution, working imports, available providers."""
    problems = []
    opencv = installed_opencv()
    if len(opencv) != 1:
        problems.append(f"expected exactly one OpenCV distribution, found: {opencv or 'none'}")
    try:
        import cv2
        import insightface  # noqa: F401
        import onnxruntime as ort
    except Exception as exc:  # report any import failure plainly
        problems.append(f"import failed: {exc!r}")
    else:
        if not args.quiet:
            print(f"opencv {cv2.__version__} ({', '.join(opencv)})")
            print(f"onnxruntime {ort.__version__}: {', '.join(ort.get_available_providers())}")
            print(f"insightface {md.version('insightface')}")
    for problem in problems:
        print(f"doctor: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _pack_args(args: argparse.Namespace) -> None:
    """``--pack`` / ``--root`` default to the settings (LIKENESS_MODEL_PACK/ROOT)."""
    if args.pack is None or args.root is None:
        from likeness.settings import get_settings

        settings = get_settings()
        args.pack = args.pack or settings.model_pack
        args.root = args.root or str(settings.model_root)


def cmd_models_check(args: argparse.Namespace) -> int:
    from likeness.engine.modelpack import resolve_pack

    _pack_args(args)
    det, rec = resolve_pack(Path(args.root).expanduser(), args.pack, verify=True)
    for f in (det, rec):
        print(f"{f.spec.task:12s} {f.path}  sha256 {f.sha256}  ok")
    return 0


def cmd_models_fetch(args: argparse.Namespace) -> int:
    """Download a pack through insightface (needs internet), then verify it."""
    from likeness.engine.modelpack import resolve_pack

    _pack_args(args)
    root = Path(args.root).expanduser()
    try:
        resolve_pack(root, args.pack, verify=True)
        print(f"{args.pack} is already complete in {root / args.pack}")
        return 0
    except LikenessError:
        pass
    print(
        "InsightFace pretrained weights are for non-commercial research use only.\n"
        f"Downloading {args.pack} into {root} ..."
    )
    from insightface.utils.storage import download

    root.mkdir(parents=True, exist_ok=True)
    try:
        download("", args.pack, force=True, root=str(root))
    except Exception as error:  # requests' and urllib3's many network errors
        raise ModelError(
            f"could not download {args.pack} ({type(error).__name__}): no internet here? "
            f"Copy the pack's .onnx files into {root / args.pack}, or set "
            "LIKENESS_MODEL_ROOT to a folder that holds them"
        ) from None
    return cmd_models_check(args)


class DefaultsHelp(argparse.HelpFormatter):
    """Help that states each option's default (unless its text already does)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and not any(default is none for none in (None, False, argparse.SUPPRESS))
            and "default" not in text
        ):
            text += " (default: %(default)s)"
        return text


def _with_defaults(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = DefaultsHelp
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _with_defaults(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="likeness",
        description="Likeness on the command line: the gallery, clustering, votes, thresholds, "
        "model versions, keys and workers. Every command reads the LIKENESS_* settings "
        "(environment, or the YAML file in LIKENESS_CONFIG).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    doctor = sub.add_parser("doctor", help="check the Python environment")
    doctor.add_argument("--quiet", action="store_true", help="print only problems")
    doctor.set_defaults(func=cmd_doctor)

    models = sub.add_parser("models", help="model packs and versions").add_subparsers(
        dest="action", required=True
    )
    for name, func, text in (
        ("check", cmd_models_check, "verify a pack's files and hashes"),
        ("fetch", cmd_models_fetch, "download a pack through insightface (internet)"),
    ):
        p = models.add_parser(name, help=text)
        p.add_argument("--pack", help="model pack (default: LIKENESS_MODEL_PACK, buffalo_l)")
        p.add_argument(
            "--root",
            help="folder holding the packs (default: LIKENESS_MODEL_ROOT, ~/.insightface/models)",
        )
        p.set_defaults(func=func)
    from likeness import models_cli

    models_cli.register(models)

    for module_name in FEATURE_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not exc.name or not module_name.startswith(exc.name):
                raise  # a real import error inside an existing module
            continue
        module.register(sub)
    _with_defaults(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LikenessError as error:
        print(f"likeness: {error.code}: {error.message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `likeness clusters export | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as error:  # a file that cannot be written or read
        where = f": {error.filename}" if error.filename else ""
        print(f"likeness: IO_ERROR: {error.strerror or error}{where}", file=sys.stderr)
        return 2
    except SQLAlchemyError as error:  # a bad database URL, a server that is down
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(f"likeness: DATABASE_ERROR: cannot use the database: {cause}", file=sys.stderr)
        return 2
    except PydanticValidationError as error:  # a bad LIKENESS_* variable or YAML value
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        print(f"likeness: CONFIG_ERROR: invalid settings: {problems}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
