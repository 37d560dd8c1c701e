"""Calibrate and measure the quality gate (issue 11) with the Error-versus-Discard
Characteristic (ISO/IEC 29794-5 practice), on LFW plus degraded copies of it.

* Data: every LFW image clean and in four degraded copies (``facecheck_data``).
* Protocol (``protocol.py``): identities split in two halves; the combined score is
  fitted on half A; every figure below is measured on half B.
* Threshold: the one giving FMR 1e-2 over every cross-identity pair of half B
  (clean and degraded images alike).
* Genuine comparisons: LFW View 2's genuine pairs of half B, clean, and with either
  side replaced by each degraded copy. A pair's quality is the lower of its two
  faces'; an image without a detected face has the lowest quality and never matches.
* EDC: discard the lowest-quality comparisons step by step and plot FNMR at that
  fixed threshold against the fraction discarded, per signal and for the combined
  score, with 90% bootstrap bands (identities resampled); pAUC up to 20% discarded.

Writes the combined score's weights to ``backend/likeness/quality/models/`` (with
``--write``) and a report with pictures::

    .venv/bin/python -m likeness_eval.facechecks --lfw ../shared/datasets/lfw \\
        --model-root ../shared/models --out eval/out/facechecks --write
"""

from __future__ import annotations

import argparse
import json
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from likeness.quality.score import INPUTS, MODELS_DIR, SIGNS, QualityModel, transform
from likeness.quality.signals import Signals
from scipy.optimize import minimize

from likeness_eval.facecheck_data import VARIANTS, FaceTable, build_table
from likeness_eval.protocol import bootstrap, identity_halves, identity_of, impostor_scores

TARGET_FMR = 1e-2
GRID = np.linspace(0.0, 0.5, 101)  # discard fractions
PAUC_LIMIT = 0.2
MATES = 20  # genuine mates per image when labelling the fit
SEED = 20261125  # the identity halves the shipped quality model was fitted on (half A)


def signals_of(table: FaceTable, row: int) -> Signals:
    return Signals(*(float(v) for v in table.signals[row]))


def design(table: FaceTable, rows: np.ndarray, inputs) -> np.ndarray:
    return np.array(
        [[transform(name, signals_of(table, r)) for name in inputs] for r in rows], np.float64
    )


def single_signals(table: FaceTable) -> dict[str, np.ndarray]:
    """Each raw signal oriented so that higher means better (per row)."""
    col = table.column
    return {
        "detector score": col("det_score"),
        "face size": np.minimum(col("face_width"), col("face_height")),
        "face area ratio": col("face_area_ratio"),
        "embedding norm": col("embedding_norm"),
        "sharpness": col("sharpness"),
        "contrast": col("contrast"),
        "exposure": -np.abs(col("brightness") - 128.0),
        "frontal pose": -(np.abs(col("yaw")) + np.abs(col("roll")) / 45.0),
    }


def threshold_for(table: FaceTable, mask_images: np.ndarray, identities: np.ndarray):
    rows = np.flatnonzero(np.tile(mask_images, len(VARIANTS)) & table.found)
    ids = identities[rows % table.n_images]
    impostors = impostor_scores(table.embeddings[rows], ids)
    return impostors.threshold_at(TARGET_FMR), impostors


def labels_for_fit(table, rows, identities, clean_mask, threshold, seed):
    """Per row: the share of its genuine mates (other clean photos of the same person,
    at most MATES) it matches at ``threshold``."""
    rng = np.random.default_rng(seed)
    by_identity: dict[str, list[int]] = {}
    for i in np.flatnonzero(clean_mask):
        by_identity.setdefault(identities[i], []).append(i)
    out_rows, out_p = [], []
    for r in rows:
        i = r % table.n_images
        mates = [m for m in by_identity.get(identities[i], []) if m != i]
        if not mates:
            continue
        if len(mates) > MATES:
            mates = list(rng.choice(mates, MATES, replace=False))
        scores = table.embeddings[mates] @ table.embeddings[r]
        out_rows.append(r)
        out_p.append(float(np.mean(scores >= threshold)))
    return np.array(out_rows), np.array(out_p)


def fit(table, rows, p, inputs, l2: float = 1.0) -> dict:
    """Logistic model of ``p`` (soft labels) on the standardised inputs, each weight
    held to its sign in ``SIGNS`` (L-BFGS-B with bounds; L2 penalty as
    scikit-learn's C=1)."""
    x = design(table, rows, inputs)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / scale
    p = np.clip(p, 0.0, 1.0)

    def loss(theta):
        w, b = theta[:-1], theta[-1]
        logits = z @ w + b
        # -[p log s + (1 - p) log (1 - s)], summed, stable
        value = np.sum(np.logaddexp(0, logits) - p * logits) + 0.5 * l2 * (w @ w)
        residual = 1 / (1 + np.exp(-logits)) - p
        return value, np.concatenate([z.T @ residual + l2 * w, [residual.sum()]])

    bounds = [(0, None) if SIGNS[name] > 0 else (None, 0) for name in inputs] + [(None, None)]
    result = minimize(loss, np.zeros(len(inputs) + 1), jac=True, method="L-BFGS-B", bounds=bounds)
    if not result.success:
        raise RuntimeError(f"quality fit did not converge: {result.message}")
    return {
        "inputs": list(inputs),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coef": [float(c) for c in result.x[:-1]],
        "intercept": float(result.x[-1]),
    }


def genuine_comparisons(pairset, half_b_images: np.ndarray, n: int):
    """(row a, row b, kind) for the genuine View 2 pairs of half B: clean, then each
    degraded copy on either side."""
    out = []
    for (a, b), same in zip(pairset.pairs, pairset.issame, strict=True):
        if not same or not half_b_images[a]:
            continue
        out.append((a, b, 0))
        for v in range(1, len(VARIANTS)):
            out.append((a, v * n + b, v))
            out.append((v * n + a, b, v))
    return np.array(out)


def edc(quality: np.ndarray, fails: np.ndarray, order_noise: np.ndarray) -> np.ndarray:
    """FNMR of the kept comparisons after discarding each GRID fraction of the
    lowest-quality ones (ties broken by ``order_noise``)."""
    order = np.lexsort((order_noise, quality))
    ranked = fails[order].astype(np.float64)
    tail = np.cumsum(ranked[::-1])[::-1]  # failures among ranked[k:]
    n = len(ranked)
    out = []
    for d in GRID:
        k = min(int(math.floor(d * n)), n - 1)
        out.append(tail[k] / (n - k))
    return np.array(out)


def pauc(curve: np.ndarray) -> float:
    upto = GRID <= PAUC_LIMIT + 1e-12
    return float(np.trapezoid(curve[upto], GRID[upto]))


def refusal_table(q, table, rows, matchable, grid) -> dict:
    """Per quality threshold: the share refused of clean images, of degraded ones that
    still match and of degraded ones that no longer match."""
    degraded = table.variant[rows] > 0
    out = {}
    for thr in grid:
        refused = q[rows] < thr
        out[thr] = {
            "clean": float(refused[~degraded].mean()),
            "degraded_matchable": float(refused[degraded & matchable].mean()),
            "degraded_unmatchable": float(refused[degraded & ~matchable].mean()),
        }
    return out


def size_table(size, table, rows, matchable) -> dict:
    """Share of images that still match, per bin of face size (px, shorter side)."""
    bounds = (0, 8, 10, 12, 14, 16, 20, 24, 32, 48, 1e9)
    out = {}
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        sel = table.found[rows] & (size[rows] >= lo) & (size[rows] < hi)
        if sel.sum():
            out[f"{lo}-{hi:g}"] = (int(sel.sum()), float(matchable[sel].mean()))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", type=Path, required=True)
    parser.add_argument("--model-root", type=Path, required=True)
    parser.add_argument("--model", default="buffalo_s")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--rounds", type=int, default=200, help="bootstrap rounds")
    parser.add_argument("--out", type=Path, default=Path("eval/out/facechecks"))
    parser.add_argument("--write", action="store_true", help="write the model files")
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    args = parser.parse_args(argv)

    from likeness_eval.cli import build_engine, default_cache_dir
    from likeness_eval.datasets import load_lfw

    pairset = load_lfw(args.lfw)
    engine = build_engine(args.model, args.model_root)
    table = build_table(engine, pairset.image_root, pairset.images, cache_dir=default_cache_dir())
    n = table.n_images
    identities = np.array([identity_of(i) for i in table.images])
    half_a, half_b = identity_halves(table.images, args.seed)
    print(
        f"# {n} LFW images x {len(VARIANTS)} variants; faces found per variant: "
        + ", ".join(
            f"{v} {table.found[table.variant == k].mean():.3f}" for k, v in enumerate(VARIANTS)
        )
    )
    print(f"# halves: {half_a.sum()} / {half_b.sum()} images, identities disjoint")

    # 1. fit the combined score on half A
    t_a, imp_a = threshold_for(table, half_a, identities)
    rows_a = np.flatnonzero(np.tile(half_a, len(VARIANTS)) & table.found)
    fit_rows, p = labels_for_fit(table, rows_a, identities, half_a, t_a, args.seed)
    specific = fit(table, fit_rows, p, INPUTS)
    generic = fit(table, fit_rows, p, [i for i in INPUTS if i != "embedding_norm"])
    print(
        f"# fit on half A: {len(fit_rows)} faces, threshold {t_a:.4f} "
        f"(FMR {TARGET_FMR:g} over {imp_a.pairs:,} impostor pairs)"
    )

    # 2. half B: threshold, comparisons, qualities
    t_b, imp_b = threshold_for(table, half_b, identities)
    print(
        f"# half B threshold {t_b:.4f} (FMR {TARGET_FMR:g} over {imp_b.pairs:,} "
        "cross-identity pairs)"
    )
    comps = genuine_comparisons(pairset, half_b, n)
    a, b, kind = comps[:, 0], comps[:, 1], comps[:, 2]
    found = table.found[a] & table.found[b]
    scores = np.where(found, np.einsum("ij,ij->i", table.embeddings[a], table.embeddings[b]), -1)
    fails = scores < t_b
    per_row: dict[str, np.ndarray] = {}
    all_rows = np.arange(len(table.found))
    for name, model_spec in (("combined", specific), ("combined, no norm", generic)):
        model = QualityModel(model_spec)
        q = np.full(len(all_rows), -np.inf)
        rows = all_rows[table.found]
        q[rows] = model.score_rows(design(table, rows, model.inputs))
        per_row[name] = q
    for name, values in single_signals(table).items():
        per_row[name] = np.where(table.found, values, -np.inf)
    groups = identities[a % n]
    noise = np.random.default_rng(args.seed).random(len(comps))
    curves, bands, paucs = {}, {}, {}
    for name, q in per_row.items():
        pair_q = np.minimum(q[a], q[b])
        curves[name] = edc(pair_q, fails, noise)
        low, high = bootstrap(
            lambda idx, pq=pair_q: edc(pq[idx], fails[idx], noise[idx]),
            len(comps),
            rounds=args.rounds,
            seed=args.seed,
            groups=groups,
        )
        bands[name] = (low, high)
        paucs[name] = (pauc(curves[name]), pauc(low), pauc(high))
    # random and oracle references
    curves["random (reference)"] = edc(np.zeros(len(comps)), fails, noise)
    paucs["random (reference)"] = (pauc(curves["random (reference)"]),) * 3
    curves["oracle: the pair's own score"] = edc(scores, fails, noise)
    paucs["oracle: the pair's own score"] = (pauc(curves["oracle: the pair's own score"]),) * 3
    print(
        f"\n{len(comps)} genuine comparisons on half B, FNMR {fails.mean():.4f} with "
        f"nothing discarded ({fails[kind == 0].mean():.4f} clean pairs only)"
    )
    print(f"{'signal':32s} pAUC@20% [90% band]   FNMR at 5% / 10% / 20% discarded")
    at = [int(np.argmin(np.abs(GRID - d))) for d in (0.05, 0.10, 0.20)]
    for name in sorted(paucs, key=lambda k: paucs[k][0]):
        c = curves[name]
        pa = paucs[name]
        print(
            f"{name:32s} {pa[0]:.5f} [{pa[1]:.5f}, {pa[2]:.5f}]   "
            + " / ".join(f"{c[i]:.4f}" for i in at)
        )

    # 3. thresholds, chosen on half A, then what they do on half B
    q = per_row["combined"]
    size = np.minimum(table.column("face_width"), table.column("face_height"))
    # an image "can be matched" when it matches most of its clean genuine mates
    labelled = {}
    for name, half, threshold in (("A", half_a, t_a), ("B", half_b, t_b)):
        rows = np.flatnonzero(np.tile(half, len(VARIANTS)))
        lab_rows, lab_p = labels_for_fit(table, rows, identities, half, threshold, args.seed)
        labelled[name] = (lab_rows, lab_p >= 0.5)
    grid = [float(t) for t in np.round(np.arange(0.30, 0.91, 0.05), 2)]
    table_a = refusal_table(q, table, *labelled["A"], grid)
    # The default: the lowest threshold that refuses most (over half) of the degraded
    # images the recogniser can no longer match, on half A.
    chosen = min((t for t in grid if table_a[t]["degraded_unmatchable"] > 0.5), default=grid[-1])
    sizes_a = size_table(size, table, *labelled["A"])
    # The smallest size from which faces match at least 99% of the time (the bins
    # of small faces, all made by downscaling; the last bin mixes every variant).
    small_bins = [(int(k.split("-")[0]), rate) for k, (_, rate) in sizes_a.items()][:-1]
    min_size = next(
        (lo for i, (lo, _) in enumerate(small_bins) if all(r >= 0.99 for _, r in small_bins[i:])),
        None,
    )
    print(f"\nchosen on half A: min_quality {chosen:.2f}, min_face_size {min_size}")
    lab_rows, matchable = labelled["B"]
    candidates = refusal_table(q, table, lab_rows, matchable, grid)
    pair_q = np.minimum(q[a], q[b])
    for thr in grid:
        kept = pair_q >= thr
        candidates[thr]["comparisons_discarded"] = float(1 - kept.mean())
        candidates[thr]["fnmr_kept"] = float(fails[kept].mean())
    degraded = table.variant[lab_rows] > 0
    print(
        "quality threshold: refused images of half B (clean | degraded, still match | "
        "degraded, no longer match); comparisons discarded; FNMR of the kept ones"
    )
    for thr, row in candidates.items():
        print(
            f"  {thr:.2f}: {row['clean']:.4f} | {row['degraded_matchable']:.4f} | "
            f"{row['degraded_unmatchable']:.4f}; {row['comparisons_discarded']:.4f}; "
            f"{row['fnmr_kept']:.4f}{'   <- chosen' if thr == chosen else ''}"
        )
    print(
        f"  ({int((~degraded).sum())} clean, {int((degraded & matchable).sum())} degraded "
        f"matchable, {int((degraded & ~matchable).sum())} degraded unmatchable; an image "
        "matches when it matches at least half of its clean genuine mates; images without "
        "a face count as refused)"
    )
    print("\nface size (px, shorter side): share of half-B images that still match")
    sizes = size_table(size, table, lab_rows, matchable)
    for key, (count, rate) in sizes.items():
        print(f"  {key:>10s} {count:6d} images, {rate:.3f} match")
    kinds = {}
    print(
        "\nper degradation (half B): matchable share, refused at the chosen threshold "
        "among unmatchable / matchable"
    )
    for v in range(1, len(VARIANTS)):
        sel = table.variant[lab_rows] == v
        r = q[lab_rows] < chosen
        kinds[VARIANTS[v]] = {
            "matchable": float(matchable[sel].mean()),
            "refused_unmatchable": float(r[sel & ~matchable].mean())
            if (sel & ~matchable).any()
            else None,
            "refused_matchable": float(r[sel & matchable].mean()),
        }
        print(f"  {VARIANTS[v]:10s} {kinds[VARIANTS[v]]}")

    args.out.mkdir(parents=True, exist_ok=True)
    from likeness_eval.plots_facechecks import plot_edc, plot_quality_hist

    plot_edc(GRID, curves, bands, paucs, args.out / "edc.png", t_b, args.model)
    plot_quality_hist(
        q[lab_rows], table.variant[lab_rows] == 0, matchable, args.out / "quality.png"
    )
    report = {
        "model_pack": args.model,
        "recogniser_sha256": engine.files[1].sha256,
        "seed": args.seed,
        "target_fmr": TARGET_FMR,
        "threshold_half_a": t_a,
        "threshold_half_b": t_b,
        "impostor_pairs_half_b": imp_b.pairs,
        "genuine_comparisons": len(comps),
        "pauc_at_20": {k: list(v) for k, v in paucs.items()},
        "quality_thresholds": {str(k): v for k, v in candidates.items()},
        "chosen_min_quality": chosen,
        "chosen_on": "half A (the lowest threshold refusing over half of the degraded "
        "images that no longer match; the smallest face size from which 99% still match)",
        "half_a_refusals": {str(k): v for k, v in table_a.items()},
        "half_a_face_size_match_rate": sizes_a,
        "chosen_min_face_size": min_size,
        "face_size_match_rate": sizes,
        "per_degradation": kinds,
        "command": "python -m likeness_eval.facechecks " + " ".join(argv or []),
        "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}/edc.png, quality.png, report.json")
    if args.write:
        args.models_dir.mkdir(parents=True, exist_ok=True)
        meta = {
            "fitted_on": "LFW half A (identity-disjoint) + degraded copies",
            "recogniser_sha256": engine.files[1].sha256,
            "model_pack": args.model,
            "threshold_fmr_1e-2": t_a,
            "pauc_at_20_half_b": paucs,
            "recommended_min_quality": chosen,
            "recommended_min_face_size": min_size,
            "built": report["built"],
            "command": report["command"],
        }
        for spec, name in (
            (specific, QualityModel.file_name(engine.files[1].sha256)),
            (generic, QualityModel.file_name(None)),
        ):
            (args.models_dir / name).write_text(json.dumps({**spec, **meta}, indent=2) + "\n")
        print(f"wrote the quality models to {args.models_dir}")


if __name__ == "__main__":
    main()
