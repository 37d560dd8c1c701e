"""The shared measurement protocol, the degradations and the EDC (fast, no models)."""

from __future__ import annotations

import numpy as np
import pytest

from likeness_eval.degrade import KINDS, degrade
from likeness_eval.facechecks import GRID, edc, pauc
from likeness_eval.protocol import (
    bootstrap,
    identity_halves,
    identity_of,
    impostor_scores,
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
