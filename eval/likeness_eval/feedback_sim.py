"""Does calibrating from votes work? Users simulated on LFW View 2 (issue 14).

The 10 folds of View 2 share no people. Folds 1-5 play the users: every pair of
their images is voted on (every cross-identity pair an impostor vote, every
same-identity pair a genuine one), and a chosen share of the votes is wrong. A
genuine pair voted "different" lands among the impostors and pulls the threshold
up; an impostor pair voted "same" only thins the impostor side (its quantile stays)
and is left out. ``likeness calibrate``'s rule then sets the thresholds:

* 1:1: the lowest threshold with FMR <= the target, rounded up to 4 decimals;
* 1:N: for a gallery of F faces and a target FPIR (strangers matched to someone),
  the 1:1 threshold at the per-face rate 1 - (1 - FPIR)^(1/F): a stranger has F
  chances of a false match (``search_fmr``).

Folds 6-10, never seen, measure the result: FMR over every cross-identity pair,
FNMR over every same-identity pair, and for 1:N a gallery of half their people
(every image enrolled) searched by the other half (FPIR) and by each enrolled
image against the rest (FNIR: not first, or under the threshold). Intervals are
90% bootstraps over identities.

  .venv/bin/python -m likeness_eval.feedback_sim --lfw-dir ../shared/datasets/lfw \\
      --model-root ../shared/models --model buffalo_s --out eval/out/feedback-sim
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from likeness_eval.calibration import round_up, search_fmr
from likeness_eval.protocol import Pairs, bootstrap, every_pair, identity_of, resolvable_fmr


def with_wrong_votes(pairs: Pairs, share: float, seed: int) -> Pairs:
    """``pairs`` with ``share`` of the genuine pairs voted "different": they join
    the impostor side (weighed by their identity)."""
    rng = np.random.default_rng(seed)
    flipped = pairs.genuine & (rng.random(len(pairs.scores)) < share)
    return Pairs(
        pairs.scores,
        pairs.genuine & ~flipped,
        pairs.unit_a,
        pairs.unit_b,
        pairs.images,
        pairs.group,
        pairs.floor,
    )


def fold_halves(pairset) -> tuple[np.ndarray, np.ndarray]:
    """Masks over the pair set's images: people of folds 1-5, people of folds 6-10."""
    first = set()
    for (a, b), fold in zip(pairset.pairs, pairset.folds, strict=True):
        if fold < pairset.n_folds // 2:
            first.update((identity_of(pairset.images[a]), identity_of(pairset.images[b])))
    people = np.array([identity_of(i) for i in pairset.images])
    mask = np.isin(people, sorted(first))
    return mask, ~mask


def identification(
    x: np.ndarray, people: np.ndarray, threshold: float, seed: int, rounds: int
) -> dict:
    """FPIR and FNIR at ``threshold`` on a gallery of half of ``people`` (every image
    enrolled), searched by the other half and by each enrolled image (left out)."""
    names = np.unique(people)
    enrolled = set(np.random.default_rng(seed).permutation(names)[: len(names) // 2])
    in_gallery = np.isin(people, sorted(enrolled))
    gallery, owners = x[in_gallery], people[in_gallery]
    strangers = x[~in_gallery] @ gallery.T
    best_stranger = strangers.max(axis=1)
    stranger_people = people[~in_gallery]
    scores = gallery @ gallery.T
    np.fill_diagonal(scores, -np.inf)  # an image never finds itself
    top = scores.argmax(axis=1)
    has_other = np.array([(owners == o).sum() > 1 for o in owners])
    hit = (owners[top] == owners) & (scores[np.arange(len(top)), top] >= threshold)
    hit, mated_people = hit[has_other], owners[has_other]

    def fpir(idx):
        return float(np.mean(best_stranger[idx] >= threshold))

    def fnir(idx):
        return float(1 - np.mean(hit[idx]))

    fpir_ci = bootstrap(fpir, len(best_stranger), rounds=rounds, seed=seed, groups=stranger_people)
    fnir_ci = bootstrap(fnir, len(hit), rounds=rounds, seed=seed, groups=mated_people)
    return {
        "gallery_faces": int(in_gallery.sum()),
        "gallery_people": len(enrolled),
        "stranger_probes": int((~in_gallery).sum()),
        "mated_probes": int(len(hit)),
        "fpir": fpir(np.arange(len(best_stranger))),
        "fpir_interval": [float(v) for v in fpir_ci],
        "fnir": fnir(np.arange(len(hit))),
        "fnir_interval": [float(v) for v in fnir_ci],
        "resolvable_fpir": resolvable_fmr(len(best_stranger)),
    }


def learned_templates(
    x: np.ndarray, people: np.ndarray, verify_t: float, search_t: float, seed: int, rounds: int
) -> dict:
    """Templates that learn, on people never seen: everyone with 3+ images is
    enrolled with their first image; a user confirms their second in a search (it
    is learned only if it matches the enrolled face at ``search_t``, as the
    service does: search must have shown it as a match); their other images
    search the gallery. People with fewer images are strangers. Persons are scored
    by their face, or by the better of face and confirmed face; FNIR and FPIR at
    ``search_t``. ``verify_t`` is reported beside them."""
    names, counts = np.unique(people, return_counts=True)
    enrolled = set(names[counts >= 3])
    if not enrolled or enrolled == set(names):
        return {"people": len(enrolled), "skipped": "needs people with 3+ images and strangers"}
    first, second, probes, probe_people = [], [], [], []
    for name in sorted(enrolled):
        rows = np.flatnonzero(people == name)
        first.append(rows[0])
        second.append(rows[1])
        probes.extend(rows[2:])
        probe_people.extend([name] * (len(rows) - 2))
    faces, confirmed = x[first], x[second]
    learned = np.einsum("ij,ij->i", faces, confirmed) >= search_t
    strangers = ~np.isin(people, sorted(enrolled))
    stranger_people = people[strangers]
    answers = {}
    for label, use in (("faces only", False), ("with confirmed faces", True)):

        def scores(q, use=use):
            s = q @ faces.T
            if use:
                s = np.where(learned[None, :], np.maximum(s, q @ confirmed.T), s)
            return s

        mated = scores(x[probes])
        own = np.arange(len(first))[np.searchsorted(sorted(enrolled), probe_people)]
        hit = (mated.argmax(axis=1) == own) & (mated.max(axis=1) >= search_t)
        false = scores(x[strangers]).max(axis=1) >= search_t
        answers[label] = {
            "fnir": float(1 - hit.mean()),
            "fnir_interval": [
                float(v)
                for v in bootstrap(
                    lambda i, hit=hit: 1 - hit[i].mean(), len(hit), rounds=rounds, seed=seed,
                    groups=np.asarray(probe_people),
                )
            ],
            "fpir": float(false.mean()),
            "fpir_interval": [
                float(v)
                for v in bootstrap(
                    lambda i, false=false: false[i].mean(), len(false), rounds=rounds,
                    seed=seed, groups=stranger_people,
                )
            ],
        }  # fmt: skip
    return {
        "people": len(enrolled),
        "confirmed_learned": int(learned.sum()),
        "mated_probes": len(probes),
        "stranger_probes": int(strangers.sum()),
        "search_threshold": search_t,
        "verify_threshold": verify_t,
        **answers,
    }


def _calibrated(votes: Pairs, rate: float, rounds: int, seed: int) -> dict:
    """The threshold at ``rate`` on the votes, with its bootstrap interval."""
    low, high = votes.interval(lambda w: round_up(votes.threshold_at(rate, w)), rounds, seed)
    return {"threshold": round_up(votes.threshold_at(rate)), "threshold_interval": [low, high]}


def _measured(pairs: Pairs, t: float, rounds: int, seed: int) -> dict:
    """FMR and FNMR at ``t`` with their bootstrap intervals."""
    return {
        "fmr": pairs.fmr_at(t),
        "fmr_interval": list(pairs.interval(lambda w: pairs.fmr_at(t, w), rounds, seed)),
        "fnmr": pairs.fnmr_at(t),
        "fnmr_interval": list(pairs.interval(lambda w: pairs.fnmr_at(t, w), rounds, seed)),
    }


def _half(mask: np.ndarray, people: np.ndarray, pairs: Pairs) -> dict:
    return {
        "images": int(mask.sum()),
        "people": len(np.unique(people[mask])),
        "impostor_pairs": pairs.impostor_pairs,
        "genuine_pairs": pairs.genuine_pairs,
        "resolvable_fmr": resolvable_fmr(pairs.impostor_pairs),
    }


def simulate(
    x: np.ndarray,
    people: np.ndarray,
    halves: tuple[np.ndarray, np.ndarray],
    wrong: list[float],
    target_fmr: float,
    target_fpir: float,
    rounds: int = 200,
    seed: int = 0,
    suspects: float = 0.0,
) -> dict:
    """Calibrate on the first half's votes (each share of wrong votes; and with
    ``suspects``, again without the impostor votes above that quantile of the
    genuine scores), measure on the second half; every figure with its bootstrap
    interval."""
    fit, test = halves
    gallery_faces = identification(x[test], people[test], 1.0, seed, 1)["gallery_faces"]
    per_face = search_fmr(target_fpir, gallery_faces)
    highest = max(target_fmr, per_face)  # both thresholds lie above the listed floor
    fit_pairs = every_pair(x[fit], people[fit], floor_fmr=min(1.0, 20 * highest))
    test_pairs = every_pair(x[test], people[test], floor_fmr=min(1.0, 50 * highest))
    runs = []
    for share in wrong:
        for trim in (0.0, suspects) if suspects else (0.0,):
            votes, dropped = with_wrong_votes(fit_pairs, share, seed).without_suspects(trim)
            row = {"wrong_votes": share, "suspects": trim, "suspects_dropped": dropped}
            for kind, rate in (("verify", target_fmr), ("search", per_face)):
                row[kind] = _calibrated(votes, rate, rounds, seed)
            row["verify"].update(_measured(test_pairs, row["verify"]["threshold"], rounds, seed))
            found = identification(x[test], people[test], row["search"]["threshold"], seed, rounds)
            row["search"].update(found)
            runs.append(row)
    clean = runs[0]
    templates = learned_templates(
        x[test], people[test], clean["verify"]["threshold"], clean["search"]["threshold"],
        seed, rounds,
    )  # fmt: skip
    return {
        "target_fmr": target_fmr,
        "target_fpir": target_fpir,
        "suspects": suspects,
        "templates": templates,
        "search_per_face_fmr": per_face,
        "fit": _half(fit, people, fit_pairs),
        "test": _half(test, people, test_pairs),
        "runs": runs,
    }


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _interval(values, pct: bool) -> str:
    if pct:
        return f"{_pct(values[0])}-{_pct(values[1])}"
    return f"{values[0]:.2e}-{values[1]:.2e}"


def _rows(report: dict, kind: str, rate: str, miss: str) -> list[str]:
    lines = []
    for run in report["runs"]:
        r = run[kind]
        dropped = f"{run['suspects_dropped']:,}" if run["suspects"] else "-"
        low, high = r["threshold_interval"]
        shown = (
            f"{r[rate]:.2e} ({_interval(r[f'{rate}_interval'], False)})"
            if kind == "verify"
            else f"{_pct(r[rate])} ({_interval(r[f'{rate}_interval'], True)})"
        )
        threshold = f"{r['threshold']:.4f} ({low:.4f}-{high:.4f})"
        lines.append(
            f"| {_pct(run['wrong_votes'])} | {dropped} | {threshold} | {shown} "
            f"| {_pct(r[miss])} ({_interval(r[f'{miss}_interval'], True)}) |"
        )
    return lines


def print_report(report: dict) -> None:
    """Two Markdown tables (1:1 and 1:N), ready for the README."""
    fit, test = report["fit"], report["test"]
    print(
        f"fit: folds 1-5, {fit['people']} people, {fit['images']} images, "
        f"{fit['impostor_pairs']:,} impostor and {fit['genuine_pairs']:,} genuine pairs"
    )
    print(
        f"test: folds 6-10, {test['people']} people, {test['images']} images, "
        f"{test['impostor_pairs']:,} impostor and {test['genuine_pairs']:,} genuine pairs"
    )
    trim = (
        f"above the {report['suspects']:g} quantile of genuine scores" if report["suspects"] else ""
    )
    print(f"\n1:1 at target FMR {report['target_fmr']:g} (suspects: impostor votes {trim})")
    print(
        "| wrong votes | suspects dropped | threshold (90%) | FMR, folds 6-10 (90%) | FNMR (90%) |"
    )
    print("|---|---|---|---|---|")
    print("\n".join(_rows(report, "verify", "fmr", "fnmr")))
    first = report["runs"][0]["search"]
    print(
        f"\n1:N at target FPIR {report['target_fpir']:g}: gallery of {first['gallery_faces']} "
        f"faces ({first['gallery_people']} people), {first['stranger_probes']} strangers, "
        f"{first['mated_probes']} mated probes; per-face FMR {report['search_per_face_fmr']:.2e}"
    )
    print("| wrong votes | suspects dropped | threshold (90%) | FPIR (90%) | FNIR (90%) |")
    print("|---|---|---|---|---|")
    print("\n".join(_rows(report, "search", "fpir", "fnir")))


def print_templates(report: dict) -> None:
    t = report["templates"]
    if "skipped" in t:
        print(f"\ntemplates that learn: not measured ({t['skipped']})")
        return
    print(
        f"\ntemplates that learn (folds 6-10): {t['people']} people enrolled with one photo, "
        f"a second confirmed ({t['confirmed_learned']} learned: matches at the 1:N "
        f"threshold), {t['mated_probes']} other photos searched, "
        f"{t['stranger_probes']} strangers; 1:N threshold {t['search_threshold']:.4f}"
    )
    print("| person scored by | FNIR (90%) | FPIR (90%) |")
    print("|---|---|---|")
    for label in ("faces only", "with confirmed faces"):
        r = t[label]
        print(
            f"| {label} | {_pct(r['fnir'])} ({_interval(r['fnir_interval'], True)}) "
            f"| {_pct(r['fpir'])} ({_interval(r['fpir_interval'], True)}) |"
        )


def plot(report: dict, path: Path) -> None:
    """Measured error rates on the unseen folds against each share of wrong votes,
    with every vote and with suspect votes dropped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    panels = (
        ("verify", "fmr", "fnmr", report["target_fmr"], "1:1"),
        ("search", "fpir", "fnir", report["target_fpir"], "1:N"),
    )
    for column, (kind, rate, miss, target, label) in enumerate(panels):
        for trimmed in sorted({r["suspects"] > 0 for r in report["runs"]}):
            runs = [r for r in report["runs"] if (r["suspects"] > 0) == trimmed]
            shares = [100 * r["wrong_votes"] for r in runs]
            name = "suspect votes dropped" if trimmed else "every vote"
            for row, what in ((0, rate), (1, miss)):
                values = np.array([r[kind][what] for r in runs])
                bounds = np.array([r[kind][f"{what}_interval"] for r in runs])
                axes[row, column].errorbar(
                    shares,
                    np.maximum(values, 1e-5),  # a zero on a log axis
                    yerr=[values - bounds[:, 0], bounds[:, 1] - values],
                    fmt="o-",
                    capsize=4,
                    label=name,
                )
        axes[0, column].axhline(target, color="tab:red", linestyle="--", label=f"target {target:g}")
        axes[0, column].set_ylabel(f"{label} {rate.upper()} on folds 6-10")
        axes[1, column].set_ylabel(f"{label} {miss.upper()} on folds 6-10")
        axes[1, column].set_xlabel("wrong votes in folds 1-5 (%)")
        for ax in axes[:, column]:
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
    fig.suptitle("Thresholds calibrated from simulated votes (LFW View 2, folds 1-5 -> 6-10)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-dir", default="../shared/datasets/lfw")
    parser.add_argument("--model-root", default="../shared/models")
    parser.add_argument("--model", default="buffalo_s")
    parser.add_argument("--wrong", default="0,0.02,0.05,0.10", help="shares of wrong votes")
    parser.add_argument("--target-fmr", type=float, default=1e-3)
    parser.add_argument("--target-fpir", type=float, default=1e-2)
    parser.add_argument("--rounds", type=int, default=200, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--suspects",
        type=float,
        default=0.05,
        help="also calibrate without impostor votes above this quantile of genuine scores (0: off)",
    )
    parser.add_argument("--out", type=Path, help="folder for report.json and the plot")
    args = parser.parse_args(argv)
    try:
        wrong = [float(v) for v in args.wrong.split(",")]
    except ValueError:
        parser.error(f"--wrong takes numbers separated by commas, not {args.wrong!r}")
    if not all(0 <= v < 0.5 for v in wrong):
        parser.error("each share of wrong votes is between 0 and 0.5")
    if not 0 <= args.suspects < 1:
        parser.error("--suspects is a quantile between 0 and 1 (0: off)")

    from likeness_eval.cli import build_engine, default_cache_dir
    from likeness_eval.datasets import load_lfw
    from likeness_eval.embedding import embed_pairset

    started = time.perf_counter()
    pairset = load_lfw(args.lfw_dir)
    engine = build_engine(args.model, Path(args.model_root))
    run = embed_pairset(engine, pairset, cache_dir=default_cache_dir())
    people = np.array([identity_of(i) for i in pairset.images])
    halves = fold_halves(pairset)
    if set(people[halves[0]]) & set(people[halves[1]]):
        print("error: the two halves share people", file=sys.stderr)
        return 2
    report = simulate(
        run.embeddings, people, halves, wrong, args.target_fmr, args.target_fpir,
        args.rounds, args.seed, args.suspects,
    )  # fmt: skip
    report["model"] = args.model
    report["model_version"] = engine.files[1].sha256
    report["seconds"] = round(time.perf_counter() - started, 1)
    print_report(report)
    print_templates(report)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(report, indent=2))
        plot(report, args.out / "feedback-sim.png")
        print(f"\nwrote {args.out / 'report.json'} and {args.out / 'feedback-sim.png'}")
    print(f"({report['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
