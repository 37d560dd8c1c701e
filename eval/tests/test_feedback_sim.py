"""The simulation of users on LFW (issue 14), on synthetic embeddings: the halves
share no people, wrong votes land where they should, and calibrating on one half
meets the target on the other (fast, no models)."""

from __future__ import annotations

import numpy as np
import pytest

from likeness_eval.calibration import search_fmr
from likeness_eval.datasets import PairSet
from likeness_eval.feedback_sim import fold_halves, simulate, with_wrong_votes
from likeness_eval.protocol import every_pair


def _people(n_people: int, per: int, seed: int):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, 24))
    ids = np.repeat(np.arange(n_people), per)
    x = centres[ids] + rng.normal(size=(len(ids), 24)) * 0.7
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.array([f"P{i:03d}" for i in ids])


def test_the_per_face_rate_gives_the_fpir_over_the_gallery():
    rate = search_fmr(0.01, 1000)
    assert 1 - (1 - rate) ** 1000 == pytest.approx(0.01, rel=1e-9)
    assert search_fmr(0.5, 1) == pytest.approx(0.5)


def test_fold_halves_split_people_by_the_folds_of_their_pairs():
    images = [f"P{p}/P{p}_{k:04d}.jpg" for p in range(8) for k in (1, 2)]
    pairs = np.array([[2 * p, 2 * p + 1] for p in range(8)])
    pairset = PairSet("t", "pairs", images, pairs, np.ones(8, bool), np.repeat(np.arange(4), 2))
    first, second = fold_halves(pairset)
    assert first.tolist() == [True] * 8 + [False] * 8 and (first ^ second).all()


def test_wrong_votes_move_genuine_pairs_to_the_impostor_side():
    x, people = _people(30, 4, seed=1)
    pairs = every_pair(x, people, floor_fmr=1.0)
    flipped = with_wrong_votes(pairs, 0.25, seed=2)
    moved = pairs.genuine_pairs - flipped.genuine_pairs
    assert 0.1 * pairs.genuine_pairs < moved < 0.4 * pairs.genuine_pairs
    assert flipped.impostor_pairs == pairs.impostor_pairs + moved


def test_calibrating_on_one_half_meets_the_target_on_the_other():
    x, people = _people(300, 4, seed=3)
    first = np.isin(people, [f"P{i:03d}" for i in range(150)])
    report = simulate(x, people, (first, ~first), [0.0, 0.05], 1e-2, 0.05, rounds=20, suspects=0.05)
    assert report["fit"]["people"] == report["test"]["people"] == 150
    clean = next(r for r in report["runs"] if r["wrong_votes"] == 0 and not r["suspects"])
    low, high = clean["verify"]["fmr_interval"]
    assert low <= 1e-2 * 1.3 and high >= 1e-2 * 0.7  # the target, within noise
    assert clean["verify"]["fmr"] == pytest.approx(1e-2, rel=0.3)
    wrong = [r for r in report["runs"] if r["wrong_votes"] == 0.05]
    assert {r["suspects"] for r in wrong} == {0.0, 0.05}
    plain, trimmed = sorted(wrong, key=lambda r: r["suspects"])
    # wrong votes push the deep 1:N threshold up; leaving suspects out brings it back
    assert plain["search"]["threshold"] > trimmed["search"]["threshold"]
    assert trimmed["suspects_dropped"] > 0
    assert "skipped" in report["templates"]  # everyone has 4 images: no strangers


def test_confirmed_faces_find_people_their_first_photo_misses():
    from likeness_eval.feedback_sim import learned_templates

    x, people = _people(120, 5, seed=4)
    keep = np.r_[np.arange(400), np.arange(400, 600, 5)]  # P080-P119 keep one image each
    x, people = x[keep], people[keep]
    t = learned_templates(x, people, verify_t=0.0, search_t=0.3, seed=0, rounds=20)
    assert t["people"] == 80 and t["stranger_probes"] == 40 and t["mated_probes"] == 240
    assert t["with confirmed faces"]["fnir"] <= t["faces only"]["fnir"]
    assert t["with confirmed faces"]["fpir"] >= t["faces only"]["fpir"]  # more chances
