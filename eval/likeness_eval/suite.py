"""``likeness-eval suite``: every measure of the reference paper, its figure beside
ours, on LFW View 2, from the same engine and embedding cache as ``likeness-eval``:

* identification: closed-set CMC and open-set DIR against FPIR, then the gallery
  grown with fitted distractors to 10,000 and 100,000 identities;
* separability: distances, d-prime, and whether the paper's table fits its EER;
* the alignment ablation; robustness to degradations and pose; the face checks'
  EDC; latency per stage, in-process and over HTTP; fairness by a group-label file;
* the worst errors, drawn.

  likeness-eval suite --data-dir ../shared/datasets/lfw --model buffalo_s \\
      --model-root ../shared/models --out eval/out/suite [--groups labels.csv]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from likeness_eval.ablation import ablation
from likeness_eval.datasets import load_lfw
from likeness_eval.distractors import LfwModel
from likeness_eval.embedding import embed_pairset
from likeness_eval.facechecks import SEED as HALVES_SEED  # the quality fit's halves
from likeness_eval.failures import contact_sheet, misses_sheet
from likeness_eval.identification import (
    Identification,
    Split,
    held_out_open_set,
    identify,
    rate_interval,
    split,
)
from likeness_eval.protocol import identity_halves, identity_of
from likeness_eval.separability import gaussian_eer, separability
from likeness_eval.suite_report import PAPER, markdown

__all__ = ["PAPER", "markdown", "run_suite", "main"]

SEPARABILITY_PAIRS = 1000
#: pictures of parts that may be left out: removed first, so none is left from a past run
STALE_PICTURES = ("robustness.png", "edc.png", "misses.png")


def _say(message: str) -> None:
    print(f"likeness-eval suite: {message}", file=sys.stderr, flush=True)


DISTRACTOR_SIZES = (10_000, 100_000)


def _view2_scores(pairset, x: np.ndarray, per_class: int, seed: int):
    rng = np.random.default_rng(seed)
    out = []
    for same in (True, False):
        idx = np.flatnonzero(pairset.issame == same)
        idx = np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
        a, b = pairset.pairs[idx, 0], pairset.pairs[idx, 1]
        out.append(np.sum(x[a] * x[b], axis=1))
    return out


def _gallery_entry(ident: Identification, parts: Split, threshold: float,
                   half_a: np.ndarray) -> dict:  # fmt: skip
    cmc = {f"rank{k}": float(ident.cmc[min(k, len(ident.cmc)) - 1]) for k in (1, 5, 10, 20)}
    entry = {
        "cmc": cmc,
        "cmc_interval_90": {k: rate_interval(v, len(parts.probes)) for k, v in cmc.items()},
        "cmc_ranks_1_20": [float(v) for v in ident.cmc],
        "open_set": {
            "threshold": threshold,
            "dir": ident.dir_at(threshold),
            "fpir": ident.fpir_at(threshold),
            "unknown_detection": 1.0 - ident.fpir_at(threshold),
            "unknown_detection_interval_90": rate_interval(
                1.0 - ident.fpir_at(threshold), len(parts.strangers)
            ),
            "at_fpir_1pct": None,
            "held_out": held_out_open_set(ident, parts, half_a),
        },
    }
    if len(parts.strangers):
        at_1pct = ident.threshold_at_fpir(0.01)
        entry["open_set"]["at_fpir_1pct"] = {"threshold": at_1pct, "dir": ident.dir_at(at_1pct)}
    return entry


def _with_distractors(x, identities, parts: Split, sizes, threshold: float, seed: int,
                      half_a: np.ndarray):  # fmt: skip
    """Identification with the gallery grown to each size by fitted distractors."""
    model = LfwModel(identities, x)
    rng = np.random.default_rng(seed)
    out = {"fit": model.fit_check(np.random.default_rng(seed)), "galleries": {}}
    curves = {}
    largest = max(sizes) - len(parts.gallery)
    crowd = model.people(rng, max(largest, 0))  # the smaller galleries take its first rows
    for size in sizes:
        extra = size - len(parts.gallery)
        if extra <= 0:
            continue
        ident = identify(x, identities, parts, distractors=crowd[:extra])
        entry = _gallery_entry(ident, parts, threshold, half_a)
        out["galleries"][str(size)] = {"distractors": extra, **entry}
        curves[f"{size:,} identities (fitted distractors)"] = ident
    return out, curves


def run_suite(engine, lfw_dir: Path, out: Path, *, cache_dir=None, progress=True,
              seed: int = 0, command: str = "", limit: int = 0, with_ablation: bool = True,
              distractor_sizes=DISTRACTOR_SIZES, robust_pairs: int = 1000,
              latency_pairs: int = 50, latency_url: str | None = None,
              groups: Path | None = None, rounds: int = 200,
              api_key: str | None = None) -> dict:  # fmt: skip
    """Embed LFW View 2's images (``limit``: about that many pairs, for tests) and
    write ``report.json``, ``report.md`` and the pictures into ``out``. A part is
    left out when its size is 0 (``robust_pairs``, ``latency_pairs``,
    ``distractor_sizes`` empty)."""
    from likeness_eval.suite_plots import draw_histograms, draw_identification, draw_robustness

    say = _say if progress else (lambda _: None)
    full = load_lfw(lfw_dir)
    pairset = full.subset(limit)
    labels = None
    if groups is not None:  # checked first: a bad file fails before an hour of work
        from likeness_eval.fairness import check_labels, read_groups

        labels = read_groups(groups)
        check_labels(pairset.images, labels)
    if robust_pairs:  # checked first too: robustness needs two people or more
        from likeness_eval.robustness import sample_pairs

        chosen = sample_pairs(pairset, robust_pairs, seed)
        if len({identity_of(pairset.images[pairset.pairs[r, 0]]) for r in chosen}) < 2:
            raise ValueError("robustness needs pairs of at least two people (raise "
                             "--robust-pairs or --limit, or 0 to leave it out)")  # fmt: skip
    # identity halves of the whole set (as the quality score's fit drew them), so
    # that --limit does not move people between the halves
    half_a_people = {identity_of(i) for i, a in
                     zip(full.images, identity_halves(full.images, HALVES_SEED)[0], strict=True)
                     if a}  # fmt: skip
    run = embed_pairset(engine, pairset, cache_dir=cache_dir, progress=progress)
    x = run.embeddings
    identities = np.array([identity_of(i) for i in pairset.images])
    parts = split(pairset.images, identities)
    ident = identify(x, identities, parts)
    threshold = float(engine.settings.gallery_threshold)
    if not len(ident.cmc):
        raise ValueError("no person has two images here: nothing to identify (raise --limit)")
    say("identification: CMC, open set" + (", distractor galleries" if distractor_sizes else ""))
    half_a = np.array([p in half_a_people for p in identities])
    identification = {"split": parts.as_dict(), **_gallery_entry(ident, parts, threshold, half_a)}
    curves = {f"LFW only, {len(parts.gallery):,} identities": ident}
    if distractor_sizes:
        identification["distractors"], more = _with_distractors(
            x, identities, parts, distractor_sizes, threshold, seed, half_a
        )
        curves.update(more)
    genuine, impostor = _view2_scores(pairset, x, SEPARABILITY_PAIRS, seed)
    sep = separability(genuine, impostor)
    if with_ablation:
        say("alignment ablation: every View 2 image three ways")
    crops = ablation(engine, pairset, progress) if with_ablation else None
    out.mkdir(parents=True, exist_ok=True)
    for stale in STALE_PICTURES:  # a part left out this time must not show old results
        (out / stale).unlink(missing_ok=True)
    view2 = np.sum(x[pairset.pairs[:, 0]] * x[pairset.pairs[:, 1]], axis=1)
    operating = float(engine.settings.threshold)
    worst = contact_sheet(engine, pairset, view2, operating, out / "failures.png")
    identification["misses"] = misses_sheet(engine, pairset, parts, ident, out / "misses.png")
    identification["beyond_rank5"] = int(np.sum(ident.probe_rank > 5))
    paper_gaussian = gaussian_eer(PAPER["intra_mean_distance"], PAPER["intra_sd"],
                                  PAPER["inter_mean_distance"], PAPER["inter_sd"])  # fmt: skip
    report = {
        "command": command,
        "limit": limit,
        "model": engine.settings.model_pack,
        "model_version": engine.version,
        "images": len(pairset.images),
        "no_face": int(run.no_face.sum()),
        "identification": identification,
        "separability": {**sep, "paper_gaussian_eer": paper_gaussian},
        "ablation": crops,
        "failures": worst,
        "paper": PAPER,
    }
    pictures = [*draw_identification(report, curves, PAPER, out),
                draw_histograms(genuine, impostor, out), "failures.png", "misses.png"]  # fmt: skip
    if robust_pairs:
        from likeness_eval.robustness import robustness
        from likeness_eval.suite_edc import suite_edc

        say(f"robustness: {robust_pairs} pairs under 11 conditions, then the EDC")
        rob = robustness(engine, pairset, pairs=robust_pairs, seed=seed, rounds=rounds,
                         progress=progress)  # fmt: skip
        report["robustness"] = rob.report
        pictures.append(draw_robustness(rob.report, out))
        pack = engine.settings.model_pack
        report["face_checks_edc"] = suite_edc(rob, half_a_people, operating, out, pack,
                                              rounds=rounds)  # fmt: skip
        if "pauc_to_20pct" in report["face_checks_edc"]:
            pictures.append("edc.png")
    if latency_pairs:
        from likeness_eval.latency import latency

        say(f"latency: {latency_pairs} pairs x 2 rounds, in-process and over HTTP")
        step = max(1, len(pairset.pairs) // latency_pairs)
        chosen = pairset.pairs[::step][:latency_pairs]
        data = [(pairset.path(a).read_bytes(), pairset.path(b).read_bytes()) for a, b in chosen]
        try:
            report["latency"] = latency(engine.settings.model_root, engine.settings.model_pack,
                                        data, url=latency_url, api_key=api_key)  # fmt: skip
        except (RuntimeError, ValueError, OSError) as error:  # requests' errors are OSErrors
            # everything else is measured: keep it, say what failed
            report["latency"] = {"error": str(error).splitlines()[0][:300]}
    if labels is not None:
        from likeness_eval.fairness import fairness

        report["fairness"] = {"file": str(groups), **fairness(x, pairset.images, labels)}
    report["pictures"] = pictures
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(markdown(report))
    return report


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _rounds(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1 bootstrap round")
    return value


def main(argv: list[str]) -> int:
    from likeness.cli import DefaultsHelp
    from likeness.errors import LikenessError

    from likeness_eval.cli import build_engine, default_cache_dir

    p = argparse.ArgumentParser(
        prog="likeness-eval suite",
        description="Every measure of the reference paper, its figure beside ours, on LFW "
        "View 2, from the same engine and embedding cache as likeness-eval.",
        formatter_class=DefaultsHelp,
    )
    p.add_argument("--data-dir", type=Path, required=True, help="LFW: pairs.txt and images")
    p.add_argument("--model", default="buffalo_l", help="model pack")
    p.add_argument("--model-root", type=Path, default=Path("~/.insightface/models"),
                   help="folder holding <pack>/")  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("eval/out/suite"), help="report folder")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--limit", type=_count, default=0,
                   help="about N View 2 pairs, for a quick look (0: all)")  # fmt: skip
    p.add_argument("--no-ablation", action="store_true", help="skip the alignment ablation")
    p.add_argument("--distractors", type=_count, nargs="*", default=list(DISTRACTOR_SIZES),
                   metavar="SIZE", help="gallery sizes to grow to (none: skip)")  # fmt: skip
    p.add_argument("--robust-pairs", type=_count, default=1000,
                   help="genuine pairs for robustness and the EDC (0: skip)")  # fmt: skip
    p.add_argument("--latency-pairs", type=_count, default=50, help="pairs timed (0: skip)")
    p.add_argument("--url", help="time this running server (http://host:port) instead of "
                   "starting one; it must allow about 100 verifications a minute")  # fmt: skip
    p.add_argument("--api-key", help="API key for --url (sent as X-API-Key)")
    p.add_argument("--groups", type=Path, help="fairness: CSV image,group")
    p.add_argument("--rounds", type=_rounds, default=200, help="bootstrap rounds")
    args = p.parse_args(argv)
    if args.groups is not None and not args.groups.is_file():
        p.error(f"--groups: no such file: {args.groups}")
    if args.url and not args.url.startswith(("http://", "https://")):
        p.error(f"--url: {args.url!r} needs its scheme, e.g. http://{args.url}")
    if args.out.exists() and not args.out.is_dir():
        p.error(f"--out: {args.out} is a file, not a folder")
    small = [size for size in args.distractors if size <= 0]
    if small:
        p.error("--distractors: sizes must be positive")
    try:
        engine = build_engine(args.model, args.model_root)
        report = run_suite(
            engine, args.data_dir, args.out,
            cache_dir=None if args.no_cache else default_cache_dir(),
            progress=not args.no_progress, command="likeness-eval suite " + shlex.join(argv),
            limit=args.limit, with_ablation=not args.no_ablation,
            distractor_sizes=tuple(args.distractors), robust_pairs=args.robust_pairs,
            latency_pairs=args.latency_pairs, latency_url=args.url, groups=args.groups,
            rounds=args.rounds, api_key=args.api_key,
        )  # fmt: skip
    except (ValueError, OSError, LikenessError) as error:
        message = getattr(error, "message", None) or str(error)
        print(f"likeness-eval suite: {message}", file=sys.stderr)
        return 2
    print(markdown(report))
    print(f"report: {args.out / 'report.md'}", file=sys.stderr)
    failed = (report.get("latency") or {}).get("error")
    if failed:
        print(f"likeness-eval suite: latency not measured: {failed}", file=sys.stderr)
        return 1
    return 0
