"""The face checks' EDC curve in the evaluation suite: the shipped quality score
(``backend/likeness/quality/models``) on the suite's robustness comparisons.

Only the people of half B count: the quality score was fitted on half A
(``facechecks.SEED``), so these comparisons are new to it. A comparison's quality is
the lower of its two photos'; a degraded photo without a face has the lowest and
never matches. Discarding the lowest-quality comparisons step by step, FNMR at the
operating 1:1 threshold should fall faster than discarding at random."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from likeness_eval.facechecks import GRID, PAUC_LIMIT, SEED, edc, pauc
from likeness_eval.protocol import bootstrap

REFERENCE = "random (reference)"
ORACLE = "oracle: the pair's own score"
SHIPPED = "shipped quality score"


def suite_edc(rob, half_a_people: set[str], threshold: float, out: Path, model: str, *,
              rounds: int = 200) -> dict:  # fmt: skip
    """EDC of the shipped quality score on the comparisons of people outside
    ``half_a_people`` (the fit's half, drawn over all of LFW View 2 with
    ``facechecks.SEED``); draws ``out/edc.png``."""
    from likeness_eval.plots_facechecks import plot_edc

    keep = np.array([p not in half_a_people for p in rob.edc_people])
    if keep.sum() < 20:
        return {"comparisons": int(keep.sum()), "note": "too few half-B comparisons"}
    scores, quality, people = rob.edc_scores[keep], rob.edc_quality[keep], rob.edc_people[keep]
    fails = scores < threshold
    noise = np.random.default_rng(SEED).random(len(scores))
    curves = {
        SHIPPED: edc(quality, fails, noise),
        REFERENCE: edc(np.zeros(len(scores)), fails, noise),
        ORACLE: edc(scores, fails, noise),
    }
    low, high = bootstrap(lambda idx: edc(quality[idx], fails[idx], noise[idx]), len(scores),
                          rounds=rounds, seed=SEED, groups=people)  # fmt: skip
    paucs = {k: (pauc(c),) * 3 for k, c in curves.items()}
    paucs[SHIPPED] = (pauc(curves[SHIPPED]), pauc(low), pauc(high))
    plot_edc(GRID, curves, {SHIPPED: (low, high)}, paucs, out / "edc.png", threshold, model,
             fmr_label="operating 1:1 threshold",
             data="the suite's robustness pairs, half B")  # fmt: skip
    at = {f"{int(d * 100)}%": int(np.argmin(np.abs(GRID - d))) for d in (0.0, 0.05, 0.10, 0.20)}
    return {
        "comparisons": int(len(scores)),
        "people": len(set(people)),
        "threshold": threshold,
        "fnmr_after_discarding": {
            name: {k: float(c[i]) for k, i in at.items()} for name, c in curves.items()
        },
        "pauc_to_20pct": {name: list(v) for name, v in paucs.items()},
        "pauc_limit": PAUC_LIMIT,
    }
