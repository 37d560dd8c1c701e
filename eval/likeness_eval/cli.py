"""``likeness-eval``: benchmark the engine on LFW / CALFW / CPLFW (or their .bin form).

Example::

    likeness-eval --dataset lfw --model buffalo_s --model-root ../shared/models \\
        --data-dir ../shared/datasets/lfw --out eval/out/lfw-buffalo_s
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from likeness_eval import __version__
from likeness_eval.datasets import DATASETS, DatasetError, load_dataset
from likeness_eval.embedding import POLICY, embed_pairset, pair_scores
from likeness_eval.metrics import summarise
from likeness_eval.plots import write_plots
from likeness_eval.report import write_json, write_markdown

#: Thresholds of the calibration table in every report.
TABLE_THRESHOLDS = tuple(round(0.20 + 0.02 * i, 2) for i in range(11))

NO_FACE_RULE = (
    "an image without a detected face is embedded from its largest centred square "
    "resized to 112x112 (engine.embed_aligned)"
)


def default_cache_dir() -> Path:
    env = os.environ.get("LIKENESS_EVAL_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "likeness-eval"


def build_engine(model: str, model_root: Path, **overrides):
    from likeness.engine import FaceEngine
    from likeness.settings import Settings

    # One image per core in parallel (see embedding.py), one ORT thread per call.
    settings = Settings(
        model_root=model_root,
        model_pack=model,
        intra_op_threads=1,
        face_policy=POLICY,
        **overrides,
    )
    engine = FaceEngine(settings)
    engine.warm_up()
    return engine


def run_eval(
    dataset: str,
    data_dir: Path,
    out: Path,
    *,
    model: str = "buffalo_l",
    model_root: Path,
    flip: bool = False,
    limit: int = 0,
    pairs_file: Path | None = None,
    cache_dir: Path | None = None,
    decode_threads: int = 0,
    progress: bool = True,
    engine=None,
    command: str = "",
) -> dict:
    """Run one evaluation and write report.json, report.md and the plots into ``out``."""
    t0 = time.perf_counter()
    pairset = load_dataset(dataset, data_dir, pairs_file)
    full_pairs = len(pairset)
    if limit:
        pairset = pairset.subset(limit)
    t_load = time.perf_counter() - t0
    if engine is None:
        engine = build_engine(model, Path(model_root))
    run = embed_pairset(
        engine,
        pairset,
        flip=flip,
        cache_dir=cache_dir,
        decode_threads=decode_threads,
        progress=progress,
    )
    t1 = time.perf_counter()
    scores = pair_scores(run.embeddings, pairset.pairs)
    labels = pairset.issame
    threshold = engine.settings.threshold
    metrics = summarise(scores, labels, pairset.folds, threshold, TABLE_THRESHOLDS)
    t_metrics = time.perf_counter() - t1

    out.mkdir(parents=True, exist_ok=True)
    label = f"{pairset.name} / {engine.settings.model_pack}" + (" + flip" if flip else "")
    t2 = time.perf_counter()
    plots = write_plots(scores, labels, out, label, threshold)
    t_plots = time.perf_counter() - t2

    no_face_idx = np.flatnonzero(run.no_face)
    fallback_pairs = int(np.isin(pairset.pairs, no_face_idx).any(axis=1).sum())
    info = engine.info()
    report = {
        "dataset": pairset.name,
        "model": engine.settings.model_pack,
        "source": pairset.source,
        "data_dir": str(Path(data_dir).resolve()),
        "pairs_total": len(pairset),
        "pairs_in_full_list": full_pairs,
        "limit": limit or None,
        "images_without_face": [pairset.images[i] for i in no_face_idx],
        **metrics,
        "images_per_second": run.images_per_second,
        "input_sha256": pairset.input_hashes,
        "counts": {
            "genuine": int(labels.sum()),
            "impostor": int((~labels).sum()),
            "folds": pairset.n_folds,
            "images": len(pairset.images),
            "images_computed": run.computed,
            "images_cached": run.cached,
            "images_without_face": len(no_face_idx),
            "pairs_with_fallback": fallback_pairs,
            "images_with_several_faces": int((run.n_faces > 1).sum()),
        },
        "protocol": {
            "pipeline": (
                "aligned crops -> engine.embed_aligned"
                if pairset.aligned
                else "likeness.imaging.load_image -> engine.detect -> choose_face -> "
                "engine.embed_faces"
            ),
            "face_policy": f"{POLICY.value} (the detected face whose box centre is nearest "
            "the image centre)",
            "flip": flip,
            "no_face_rule": NO_FACE_RULE,
            "decision": "same person when cosine similarity >= threshold",
            "kfold": "threshold maximising accuracy on 9 folds, applied to the 10th, as "
            "InsightFace's verification.py (squared-distance grid 0..4 step 0.01, first "
            "best); std is the population std over folds. accuracy_exact_thresholds: the "
            "same with every midpoint between distinct scores as candidates",
        },
        "settings": engine.settings.model_dump(mode="json"),
        "engine": info,
        "timings_s": {
            "load_pairs": t_load,
            **run.timings_s,
            "metrics": t_metrics,
            "plots": t_plots,
            "total": time.perf_counter() - t0,
        },
        "plots": plots,
        "cache": {"dir": str(cache_dir) if cache_dir else None},
        "environment": {
            "likeness_eval": __version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
        },
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }
    write_json(report, out)
    write_markdown(report, out)
    np.savez_compressed(out / "scores.npz", scores=scores, issame=labels, folds=pairset.folds)
    return report


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="likeness-eval", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=DATASETS, default="lfw")
    p.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        help="folder with the pair list and images, or an InsightFace .bin file",
    )
    p.add_argument("--pairs-file", type=Path, help="pair list (default: the official name)")
    p.add_argument("--model", default="buffalo_l", help="model pack (buffalo_l, buffalo_s)")
    p.add_argument(
        "--model-root",
        type=Path,
        default=Path(os.environ.get("LIKENESS_MODEL_ROOT", "~/.insightface/models")).expanduser(),
        help="folder holding the model packs (default: LIKENESS_MODEL_ROOT, ~/.insightface/models)",
    )
    p.add_argument("--out", type=Path, help="output folder (default eval/out/<dataset>-<model>)")
    p.add_argument("--flip", action="store_true", help="flip test-time augmentation")
    p.add_argument("--limit", type=int, default=0, help="use about N pairs, balanced per fold")
    p.add_argument("--cache-dir", type=Path, default=None, help="embedding cache folder")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.add_argument(
        "--decode-threads", type=int, default=0, help="images in flight (0: one per core)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else list(argv)
    if given[:1] == ["suite"]:  # the evaluation suite (likeness_eval.suite)
        from likeness_eval import suite

        try:
            return suite.main(given[1:])
        except (DatasetError, OSError) as exc:
            print(f"likeness-eval: {exc}", file=sys.stderr)
            return 2
    args = parser().parse_args(argv)
    out = args.out or Path("eval/out") / f"{args.dataset}-{args.model}"
    cache_dir = None if args.no_cache else (args.cache_dir or default_cache_dir())
    command = "likeness-eval " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        report = run_eval(
            args.dataset,
            args.data_dir,
            out,
            model=args.model,
            model_root=args.model_root,
            flip=args.flip,
            limit=args.limit,
            pairs_file=args.pairs_file,
            cache_dir=cache_dir,
            decode_threads=args.decode_threads,
            progress=not args.no_progress,
            command=command,
        )
    except DatasetError as exc:
        print(f"likeness-eval: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from likeness.errors import LikenessError

        if isinstance(exc, LikenessError):
            print(f"likeness-eval: {exc.code}: {exc.message}", file=sys.stderr)
            return 2
        raise
    acc = report["accuracy"]
    ips = report["images_per_second"]
    print(
        f"{report['dataset']} / {report['model']}: {report['pairs_total']} pairs, "
        f"10-fold accuracy {100 * acc['mean']:.2f}% ± {100 * acc['std']:.2f}%, "
        f"EER {100 * report['eer']:.2f}%, AUC {report['auc']:.5f}, "
        f"FNMR@FMR=1e-3 {100 * report['fnmr_at_fmr']['1e-3']:.2f}%, "
        f"no face: {len(report['images_without_face'])}, "
        + (f"{ips:.1f} images/s" if ips else "all embeddings from cache")
    )
    print(f"report: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
