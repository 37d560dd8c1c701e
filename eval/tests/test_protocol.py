"""The shared measurement protocol, the degradations and the EDC (fast, no models)."""

from __future__ import annotations

import numpy as np
import pytest

from likeness_eval.calibration import threshold_at_fmr
from likeness_eval.degrade import KINDS, degrade
from likeness_eval.facechecks import GRID, edc, pauc
from likeness_eval.protocol import (
    Pairs,
    bootstrap,
    every_pair,
    identity_halves,
    identity_of,
    impostor_scores,
    listed_pairs,
    resolvable_fmr,
)


def test_identity_of_and_disjoint_halves():
    assert identity_of("Abel_Pacheco/Abel_Pacheco_0001.jpg") == "Abel_Pacheco"
    assert identity_of("Inam-ul-Haq_0002.jpg") == "Inam-ul-Haq"
    images = [f"P{p}/P{p}_{k:04d}.jpg" for p in range(40) for k in range(1, 4)]
    a, b = identity_halves(images, seed=1)
    assert (a ^ b).all() and a.sum() == b.sum() == 60
    people_a = {identity_of(i) for i, m in zip(images, a, strict=True) if m}
    people_b = {identity_of(i) for i, m in zip(images, b, strict=True) if m}
    assert not people_a & people_b
    assert (identity_halves(images, seed=1)[0] == a).all()  # seeded: the same split


def test_impostor_scores_match_brute_force():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = rng.integers(0, 40, 300).astype(str)
    got = impostor_scores(x, ids, chunk=64)
    full = x @ x.T
    i, j = np.triu_indices(300, 1)
    cross = full[i, j][ids[i] != ids[j]]
    assert got.pairs == len(cross)
    threshold = got.threshold_at(0.01)
    assert got.fmr_at(threshold) <= 0.01
    assert np.mean(cross >= threshold) == pytest.approx(got.fmr_at(threshold), abs=1e-9)
    assert np.mean(cross >= threshold - 2e-4) > 0.0099  # the lowest such threshold
    with pytest.raises(ValueError):
        got.threshold_at(resolvable_fmr(got.pairs) / 2)


def _unit_vectors(n: int, dim: int, people: int, seed: int):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, dim))
    ids = rng.integers(0, people, n)
    x = (centres[ids] + rng.normal(size=(n, dim)) * 1.2).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), ids.astype(str)


def test_every_pair_lists_the_tail_and_counts_the_rest_exactly():
    x, ids = _unit_vectors(400, 16, 50, seed=3)
    pairs = every_pair(x, ids, floor_fmr=0.05, chunk=97)
    full = x.astype(np.float64) @ x.T.astype(np.float64)
    i, j = np.triu_indices(len(x), 1)
    same = ids[i] == ids[j]
    cross, genuine = full[i, j][~same], full[i, j][same]
    assert pairs.impostor_pairs == len(cross) and pairs.genuine_pairs == len(genuine)
    assert (~pairs.genuine).sum() < len(cross) / 10  # only the tail is listed
    for target in (0.01, 0.002):  # the same threshold as sorting every score
        got = pairs.threshold_at(target)
        assert got == pytest.approx(threshold_at_fmr(cross, target), abs=1e-6)
        # float32 scores: a pair at the threshold may round either way (one pair)
        assert pairs.fmr_at(got) == pytest.approx(np.mean(cross >= got), abs=1.5 / len(cross))
        assert pairs.fmr_at(got) <= target
    t = float(np.median(genuine))
    assert pairs.fnmr_at(t) == pytest.approx(np.mean(genuine < t), abs=1.5 / len(genuine))
    with pytest.raises(ValueError, match="floor"):
        pairs.fmr_at(pairs.floor - 0.01)
    with pytest.raises(ValueError, match="do not reach"):
        pairs.threshold_at(0.5)


def test_identity_weights_move_all_pairs_of_an_identity():
    x, ids = _unit_vectors(200, 8, 20, seed=4)
    pairs = every_pair(x, ids, floor_fmr=1.0)  # every impostor pair listed
    names = np.unique(ids)
    w = np.zeros(pairs.n_units)
    w[:10] = 1.0  # only the first ten identities drawn, once
    kept = np.isin(ids, names[:10])
    alone = every_pair(x[kept], ids[kept], floor_fmr=1.0)
    assert pairs.impostor_total(w) == pytest.approx(alone.impostor_pairs)
    assert pairs.threshold_at(0.05, w) == pytest.approx(alone.threshold_at(0.05))
    w[0] = 2.0  # an identity drawn twice: its pairs with others count twice
    assert pairs.impostor_total(w) > alone.impostor_pairs
    low, high = pairs.interval(lambda u: pairs.threshold_at(0.05, u), rounds=50)
    assert low <= pairs.threshold_at(0.05) <= high


def test_listed_pairs_combine_with_every_pair_sets():
    x, ids = _unit_vectors(150, 8, 15, seed=5)
    sets = every_pair(x, ids, floor_fmr=1.0)
    votes = listed_pairs(np.array([0.9, 0.95, 0.2]), np.array([False, False, True]))
    both = Pairs.combine(sets, votes)
    assert both.impostor_pairs == sets.impostor_pairs + 2
    assert both.genuine_pairs == sets.genuine_pairs + 1
    scores = np.r_[sets.scores[~sets.genuine], 0.9, 0.95]
    assert both.threshold_at(0.01) == pytest.approx(threshold_at_fmr(scores, 0.01))
    twice = Pairs.combine(sets, sets)  # two sets never pair with each other
    assert twice.impostor_pairs == 2 * sets.impostor_pairs


def test_wrong_impostor_votes_high_in_the_genuine_range_are_left_out():
    rng = np.random.default_rng(6)
    impostor, genuine = rng.normal(0.0, 0.1, 100_000), rng.normal(0.6, 0.1, 2_000)
    wrong = genuine[:40]  # same-person pairs voted "different"
    scores = np.r_[impostor, wrong, genuine[40:]]
    labels = np.r_[np.zeros(100_040, bool), np.ones(1_960, bool)]
    votes = listed_pairs(scores, labels)
    clean = listed_pairs(
        np.r_[impostor, genuine[40:]], np.r_[np.zeros(100_000, bool), np.ones(1_960, bool)]
    )
    target = 1e-4  # 10 impostors may pass: 40 wrong votes wreck the threshold
    assert votes.threshold_at(target) > clean.threshold_at(target) + 0.1
    trimmed, dropped = votes.without_suspects(0.05)
    assert 30 <= dropped <= 41  # the wrong votes above the genuine 5th percentile
    assert abs(trimmed.threshold_at(target) - clean.threshold_at(target)) < 0.02
    assert votes.without_suspects(0.0) == (votes, 0)


def test_bootstrap_brackets_the_statistic_and_moves_groups_together():
    values = np.arange(100, dtype=float)
    low, high = bootstrap(lambda idx: values[idx].mean(), 100, rounds=300, seed=2)
    assert low < values.mean() < high
    groups = np.repeat(np.arange(10), 10)
    seen = []
    bootstrap(lambda idx: seen.append(idx) or 0.0, 100, rounds=5, groups=groups)
    for idx in seen:  # whole groups only
        counts = np.bincount(groups[idx], minlength=10)
        assert set(np.unique(counts)) <= set(range(0, 101, 10))


@pytest.mark.parametrize("kind", KINDS)
def test_every_degradation_changes_the_image_and_grows_with_severity(kind):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (120, 100, 3), dtype=np.uint8)
    image = np.ascontiguousarray(np.repeat(np.repeat(image[::4, ::4], 4, 0), 4, 1)[:120, :100])
    mild = degrade(image, kind, 0.0, np.random.default_rng(0))
    hard = degrade(image, kind, 1.0, np.random.default_rng(0))
    assert mild.dtype == np.uint8 and hard.dtype == np.uint8
    if kind == "downscale":
        assert hard.shape[0] < mild.shape[0] < image.shape[0]
    else:
        assert mild.shape == image.shape
        error = [np.abs(d.astype(int) - image).mean() for d in (mild, hard)]
        assert 0 < error[0] < error[1]
    with pytest.raises(ValueError):
        degrade(image, "sepia", 0.5, rng)


def test_edc_with_a_perfect_quality_reaches_zero_and_a_random_one_stays_flat():
    rng = np.random.default_rng(4)
    fails = rng.random(2000) < 0.1
    perfect = np.where(fails, 0.0, 1.0)
    curve = edc(perfect, fails, rng.random(2000))
    assert curve[0] == pytest.approx(fails.mean())
    assert curve[np.searchsorted(GRID, 0.12)] == 0.0
    flat = edc(np.zeros(2000), fails, rng.random(2000))
    assert np.abs(flat[: len(GRID) // 2] - fails.mean()).max() < 0.03
    assert pauc(curve) < pauc(flat)
