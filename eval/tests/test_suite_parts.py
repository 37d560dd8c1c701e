"""The evaluation suite's second part (issue 16): distractor galleries, robustness,
fairness and latency, each on constructed data with known answers where it can be,
and on real LFW photos through the real engine where it cannot."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from likeness_eval.distractors import LfwModel, unit
from likeness_eval.fairness import FLAG_RATIO, check_labels, fairness, fnmr_ratio, read_groups
from likeness_eval.identification import identify, split
from likeness_eval.metrics import auc
from likeness_eval.robustness import (
    CONDITIONS,
    degrade,
    impostor_partners,
    measures,
    yaw_degrees,
)

FIXTURE_GROUPS = Path(__file__).parent / "data" / "lfw_groups.csv"


def _people(rng, n_people: int, per: int, dim: int = 64, spread: float = 0.35):
    centres = unit(rng.standard_normal((n_people, dim)))
    labels = np.repeat(np.arange(n_people), per)
    x = unit(centres[labels] + spread / math.sqrt(dim) * rng.standard_normal((len(labels), dim)))
    return x, labels


# -- distractors -------------------------------------------------------------------
def test_the_fitted_model_keeps_the_score_distributions():
    rng = np.random.default_rng(0)
    x, labels = _people(rng, 300, 4)
    model = LfwModel(labels.astype(str), x)
    check = model.fit_check(np.random.default_rng(1))
    for key in ("genuine_mean", "impostor_mean"):
        assert check["fitted"][key] == pytest.approx(check["real"][key], abs=0.05)
    crowd = model.people(rng, 250, chunk=100)  # chunked like a 100,000 gallery
    assert crowd.shape == (250, 64) and np.allclose(np.linalg.norm(crowd, axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="two people"):
        LfwModel(np.array(["a", "b"]), x[:2])


def test_distractors_only_make_identification_harder():
    rng = np.random.default_rng(2)
    x, labels = _people(rng, 60, 3, spread=0.9)
    images = [f"p{k}/p{k}_{i}.jpg" for i, k in enumerate(labels)]
    names = np.array([f"p{k}" for k in labels])
    parts = split(images, names)
    alone = identify(x, names, parts)
    crowd = LfwModel(names, x).people(rng, 500)
    grown = identify(x, names, parts, distractors=crowd)
    # each probe drops by exactly the distractors that outscore its own person
    own = np.array([x[p] @ x[parts.gallery[list(names[parts.gallery]).index(names[p])]]
                    for p in parts.probes])  # fmt: skip
    above = np.sum(x[parts.probes] @ crowd.T > own[:, None], axis=1)
    assert np.array_equal(grown.probe_rank, alone.probe_rank + above)
    assert above.sum() > 0  # the fitted crowd does get in the way
    # a distractor that is a copy of a probe outranks that probe's own person
    probe = parts.probes[0]
    copy = identify(x, names, parts, distractors=x[[probe]])
    assert copy.probe_best[0] == pytest.approx(1.0) and not copy.probe_right[0]


# -- robustness ----------------------------------------------------------------------
class _Face:
    def __init__(self, box, landmarks):
        self.box = np.array(box, np.float32)
        self.landmarks = np.array(landmarks, np.float32)


FACE = _Face([60, 50, 180, 200], [[95, 100], [145, 100], [120, 130], [100, 165], [140, 165]])


def test_every_condition_keeps_the_photo_shape_and_changes_what_it_says():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (250, 250, 3), dtype=np.uint8)
    for name in CONDITIONS:
        out = degrade(image, name, FACE, np.random.default_rng(1))
        assert out.shape == image.shape and out.dtype == np.uint8, name
        assert (out is image) == (name == "clean"), name
    lower = degrade(image, "occlude_lower_50", FACE, rng)
    assert np.all(lower[126:200, 60:180] == 128) and np.array_equal(lower[:120], image[:120])
    eyes = degrade(image, "occlude_eyes_30", FACE, rng)
    assert np.all(eyes[78:122, 60:180] == 128) and np.array_equal(eyes[130:], image[130:])
    assert degrade(image, "dark", FACE, rng).mean() < 0.2 * image.mean()
    # 32 px across a 150 px face: fine detail is gone
    small = degrade(image, "downscale_32", FACE, rng)
    assert cv2.Laplacian(small, cv2.CV_32F).var() < 0.05 * cv2.Laplacian(image, cv2.CV_32F).var()
    with pytest.raises(ValueError, match="unknown condition"):
        degrade(image, "sunburn", FACE, rng)


def test_yaw_from_landmarks():
    assert yaw_degrees(FACE.landmarks) == pytest.approx(0.0, abs=1e-6)
    turned = FACE.landmarks.copy()
    turned[2, 0] += 25  # nose half an eye distance (50 px) to the side: tan(yaw) = 1
    assert yaw_degrees(turned) == pytest.approx(45.0, abs=0.5)


def test_impostor_partners_are_other_people_and_as_many_for_everyone():
    people = np.array(["a", "a", "a", "b", "c", "d", "e"])
    partners = impostor_partners(people, 100, seed=0)
    assert partners.shape == (7, 4)  # "a" has 3 photos: at most 4 others for each of them
    for i, row in enumerate(partners):
        assert len(set(row)) == 4 and all(people[j] != people[i] for j in row)


def test_measures_on_known_scores():
    genuine = np.array([0.9, 0.8, 0.7, 0.1])  # one genuine pair below the threshold
    impostor = np.linspace(-0.2, 0.2, 10_000)
    result = measures(genuine, impostor, np.arange(4), np.repeat(np.arange(4), 2500),
                      threshold=0.5, rounds=20, seed=0)  # fmt: skip
    assert result["accuracy"] == pytest.approx((0.75 + 1.0) / 2)
    assert result["tar_at_far_1e-3"] == pytest.approx(0.75)
    assert result["auc"] == pytest.approx(auc(np.r_[genuine, impostor],
                                              np.r_[[True] * 4, [False] * 10_000]))  # fmt: skip
    low, high = result["interval_90"]["accuracy"]
    assert low <= result["accuracy"] <= high
    few = measures(genuine, impostor[:9_999], np.arange(4), np.repeat(np.arange(4), 2500)[:9_999],
                   threshold=0.5, rounds=5, seed=0)  # fmt: skip
    assert few["tar_at_far_1e-3"] is None  # nine false matches would decide it: not claimed


# -- fairness ------------------------------------------------------------------------
def test_group_files_are_read_strictly(tmp_path):
    good = tmp_path / "g.csv"
    good.write_text("# comment, with a comma\nimage,group\nA/A_0001.jpg,x\nB_0002,y\nC_7,x\n\n")
    assert read_groups(good) == {"A_0001": "x", "B_0002": "y", "C_0007": "x"}
    windows = tmp_path / "w.csv"
    windows.write_bytes("\ufeffimage,group\r\nA_0001.jpg,x\r\nA_0001.jpg,x\r\n".encode())
    assert read_groups(windows) == {"A_0001": "x"}  # BOM, CRLF and a repeated row
    assert len(read_groups(FIXTURE_GROUPS)) == 157
    for text, message in (
        ("image,group\nA_0001.jpg\n", "expected 'image,group'"),
        ("A_0001.jpg,x\nA/A_0001.jpg,y\n", "two groups"),
        ("# nothing\n", "no labels"),
        ("A_0001.jpg,\n", "expected"),
    ):
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_groups(bad)


def test_a_group_whose_genuine_pairs_fail_more_is_flagged():
    rng = np.random.default_rng(3)
    # group x: tight people; group y: loose ones, so their genuine pairs fail more
    xa, la = _people(rng, 80, 4, spread=0.6)
    xb, lb = _people(rng, 80, 4, spread=1.6)
    x = np.concatenate([xa, xb])
    names = [f"x{k}/x{k}_{i:04d}.jpg" for i, k in enumerate(la)]
    names += [f"y{k}/y{k}_{i:04d}.jpg" for i, k in enumerate(lb)]
    labels = {n.split("/")[1][:-4]: n[0] for n in names}
    result = fairness(x, names, labels, fmr=1e-2)
    groups = result["groups"]
    assert groups["x"]["genuine_pairs"] == groups["y"]["genuine_pairs"] == 80 * 6
    assert groups["y"]["fnmr"] > FLAG_RATIO * max(groups["x"]["fnmr"], 1 / 480)
    assert result["flagged"] and result["ratio_at_least"] > FLAG_RATIO
    # the histogram AUC agrees with the exact one
    gen = np.concatenate([(xb[lb == k] @ xb[lb == k].T)[np.triu_indices(4, 1)] for k in range(80)])
    imp = (xb @ xb.T)[lb[:, None] != lb[None, :]]
    imp = imp[: len(imp) // 2]  # each pair once is not needed for a rate; half is plenty
    exact = auc(np.r_[gen, imp], np.r_[np.ones(len(gen), bool), np.zeros(len(imp), bool)])
    assert groups["y"]["auc"] == pytest.approx(exact, abs=2e-3)
    with pytest.raises(ValueError, match="no photo"):
        fairness(x, names, {"nobody_0001": "z"})
    with pytest.raises(ValueError, match="no photo"):
        check_labels(names, {"nobody_0001": "z"})
    assert check_labels(names, labels) == len(names)
    with pytest.raises(ValueError, match="too few labelled photos"):
        fairness(x[:8], names[:8], labels, fmr=1e-3)


def test_the_fnmr_ratio_flags_only_what_the_people_show():
    rng = np.random.default_rng(0)

    def people(n: int, rate: float, pairs: int = 6) -> np.ndarray:
        fails = rng.binomial(pairs, rate, n)
        return np.stack([fails, np.full(n, pairs)], axis=1)

    # no failures anywhere: no disparity
    quiet = fnmr_ratio({"a": people(50, 0.0), "b": people(50, 0.0)})
    assert quiet["fnmr_ratio"] == 1.0 and not quiet["flagged"]
    # equal rates, one group small: noise, never a flag (the old point ratio flagged it)
    same = [fnmr_ratio({"a": people(60, 0.01), "b": people(600, 0.01)}, seed=k)["flagged"]
            for k in range(20)]  # fmt: skip
    assert not any(same)
    # a group whose people fail five times as often is flagged
    worse = fnmr_ratio({"a": people(300, 0.01), "b": people(300, 0.05)})
    assert worse["flagged"] and worse["ratio_at_least"] > FLAG_RATIO
    assert worse["ratio_at_least"] < worse["fnmr_ratio"] < worse["ratio_at_most"]
    # a small group without a failure: unbounded at the point, but no evidence
    lone = fnmr_ratio({"a": people(100, 0.0), "b": people(1000, 0.005)})
    assert lone["fnmr_ratio"] is None and lone["ratio_at_most"] is None
    assert lone["ratio_at_least"] == 1.0 and not lone["flagged"]
    assert fnmr_ratio({"a": people(10, 0.1)})["fnmr_ratio"] is None  # one group: no ratio
