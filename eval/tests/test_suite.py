"""The evaluation suite (issue 16, first part): identification and separability
measures on constructed data with known answers, then the suite end to end on a
small LFW subset through the real engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from likeness_eval.identification import identify, split
from likeness_eval.robustness import CONDITIONS
from likeness_eval.separability import d_prime, gaussian_eer, separability
from likeness_eval.suite import PAPER, run_suite

FIXTURE_GROUPS = Path(__file__).parent / "data" / "lfw_groups.csv"


def test_the_split_follows_the_issue():
    images = ["b/b_2.jpg", "a/a_1.jpg", "b/b_1.jpg", "c/c_1.jpg", "a/a_2.jpg", "a/a_3.jpg"]
    people = np.array([i.split("/")[0] for i in images])
    parts = split(images, people)
    assert [images[i] for i in parts.gallery] == ["a/a_1.jpg", "b/b_1.jpg"]
    assert sorted(images[i] for i in parts.probes) == ["a/a_2.jpg", "a/a_3.jpg", "b/b_2.jpg"]
    assert [images[i] for i in parts.strangers] == ["c/c_1.jpg"]


def test_cmc_and_open_set_rates_on_known_scores():
    # three people along three axes; a probe of "b" leans towards "a" (rank 2)
    x = np.array(
        [
            [1, 0, 0],
            [0, 1, 0],
            [0, 0, 1],  # gallery a, b, c
            [0.9, 0.1, 0],
            [0.7, 0.6, 0],
            [0, 0.2, 0.95],  # probes a, b, c
            [0.5, 0.5, 0.5],
        ],
        np.float32,
    )  # fmt: skip  (a stranger)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    images = ["a/1", "b/1", "c/1", "a/2", "b/2", "c/2", "z/1"]
    people = np.array([i.split("/")[0] for i in images])
    ident = identify(x, people, split(images, people))
    assert ident.cmc[0] == pytest.approx(2 / 3) and ident.cmc[1] == pytest.approx(1.0)
    assert ident.fpir_at(0.5) == 1.0 and ident.fpir_at(0.6) == 0.0  # the stranger: 0.577
    assert ident.dir_at(0.9) == pytest.approx(2 / 3)
    t = ident.threshold_at_fpir(0.0)
    assert ident.fpir_at(t) == 0.0 and t == pytest.approx(0.5774, abs=1e-3)


def test_separability_measures():
    rng = np.random.default_rng(0)
    genuine, impostor = rng.normal(0.7, 0.1, 5000), rng.normal(0.0, 0.1, 5000)
    s = separability(genuine, impostor)
    assert s["intra_mean_distance"] == pytest.approx(0.3, abs=0.01)
    assert s["inter_mean_distance"] == pytest.approx(1.0, abs=0.01)
    assert s["d_prime"] == pytest.approx(7.0, abs=0.2)
    assert d_prime(genuine, impostor) == pytest.approx(s["d_prime"])
    # two unit Gaussians 2 apart cross at 1: EER = P(N(0,1) > 1)
    assert gaussian_eer(0.0, 1.0, 2.0, 1.0) == pytest.approx(0.158655, abs=1e-5)
    assert s["gaussian_eer"] == pytest.approx(gaussian_eer(0.3, 0.1, 1.0, 0.1), rel=0.2)
    assert gaussian_eer(0.5, 0.0, 0.9, 0.1) is None  # no spread: no Gaussian
    assert gaussian_eer(0.6, 0.1, 0.5, 0.1) is None  # genuine pairs farther apart
    assert separability(np.array([0.5]), np.array([0.1]))["gaussian_eer"] is None


def test_the_suite_end_to_end_on_an_lfw_subset(engine, lfw_dir, tmp_path):
    """Every part on 100 View 2 pairs; latency through a real Gunicorn."""
    report = run_suite(engine, lfw_dir, tmp_path, progress=False, limit=100,
                       distractor_sizes=(1000,), robust_pairs=40, latency_pairs=3,
                       groups=FIXTURE_GROUPS, rounds=30)  # fmt: skip
    ident = report["identification"]
    assert ident["split"]["gallery_identities"] > 10 and ident["split"]["strangers"] > 10
    assert 0.9 < ident["cmc"]["rank1"] <= ident["cmc"]["rank5"] <= 1.0
    assert report["separability"]["genuine_pairs"] == 50  # 100 pairs: 50 of each class
    assert report["paper"] == PAPER
    crops = report["ablation"]
    assert crops["pairs"] == 100
    for variant in ("aligned", "box", "centre"):  # 100 pairs cannot rank them; LFW can
        assert 0.9 <= crops[variant]["auc"] <= 1.0
    assert crops["aligned"]["eer"] <= min(crops["box"]["eer"], crops["centre"]["eer"])
    grown = ident["distractors"]["galleries"]["1000"]
    assert grown["distractors"] == 1000 - ident["split"]["gallery_identities"]
    assert grown["cmc"]["rank1"] <= ident["cmc"]["rank1"]
    assert grown["open_set"]["unknown_detection"] <= ident["open_set"]["unknown_detection"]
    rob = report["robustness"]
    assert set(rob["conditions"]) == set(CONDITIONS) and rob["pairs"] == 40
    clean, worst = rob["conditions"]["clean"], rob["conditions"]["occlude_eyes_50"]
    assert clean["impostor_pairs"] >= 40 * 30 and clean["lost_face"] == 0
    assert worst["accuracy"] < clean["accuracy"]  # half the face hidden hurts
    assert clean["tar_at_far_1e-3"] is None  # under 10,000 impostor pairs: not claimed
    held = ident["open_set"]["held_out"]
    assert held["strangers"] + held["fit_strangers"] == ident["split"]["strangers"]
    assert ident["beyond_rank5"] == len(ident["misses"])
    assert sum(b.get("genuine_pairs", 0) for b in rob["pose"].values()) == 40
    edc = report["face_checks_edc"]["fnmr_after_discarding"]
    assert edc["shipped quality score"]["20%"] < edc["shipped quality score"]["0%"]
    lat = report["latency"]
    assert lat["http"]["n"] == lat["in_process"]["n"] == 6
    assert (
        0 < lat["stages"]["embed"]["p50_ms"] < lat["in_process"]["p50_ms"] < lat["http"]["p50_ms"]
    )
    fair = report["fairness"]
    assert set(fair["groups"]) == {"group 1", "group 2"} and fair["labelled_photos"] == 157
    assert {"robustness.png", "edc.png", "cmc.png", "misses.png"} <= set(report["pictures"])
    text = (tmp_path / "report.md").read_text()
    assert "| rank-1 | 99.20% |" in text and "d-prime" in text
    for heading in ("## Robustness", "### Pose", "error versus discard", "## Latency",
                    "## Fairness", "1,000 ids"):  # fmt: skip
        assert heading in text, heading
    assert "| aligned (5 landmarks) | 0.9876 / " in text
    shown = report["failures"]
    assert len(shown["genuine"]) == 8 and len(shown["impostor"]) == 8
    assert shown["genuine"][0]["score"] <= shown["genuine"][-1]["score"]
    assert shown["totals"]["genuine_pairs"] == 50
    assert "failures.png" in report["pictures"]
    for picture in report["pictures"]:
        assert (tmp_path / picture).stat().st_size > 1000
    assert json.loads((tmp_path / "report.json").read_text())["model"] == "buffalo_s"


def test_the_suite_cli_refuses_a_bad_group_file_in_one_line(lfw_dir, model_root, tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "groups.csv"
    bad.write_text("image,group\nAaron_Peirsol_0001.jpg\n")
    for groups, message in ((tmp_path / "missing.csv", "no such file"), (bad, "expected")):
        out = tmp_path / "out"
        run = subprocess.run(
            [sys.executable, "-m", "likeness_eval", "suite", "--data-dir", str(lfw_dir),
             "--model", "buffalo_s", "--model-root", str(model_root), "--out", str(out),
             "--groups", str(groups), "--limit", "20", "--no-progress"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 2, run.stderr
        assert message in run.stderr and "Traceback" not in run.stderr
        assert not out.exists()


def test_labels_for_nobody_fail_before_any_work(engine, lfw_dir, tmp_path):
    labels = tmp_path / "groups.csv"
    labels.write_text("image,group\nNobody_Here_0001.jpg,a\n")
    with pytest.raises(ValueError, match="no photo of this set is in the label file"):
        run_suite(engine, lfw_dir, tmp_path / "out", progress=False, limit=20, groups=labels)
    assert not (tmp_path / "out").exists()  # refused before embedding anything


def test_a_server_that_does_not_answer_costs_the_latency_part_only(engine, lfw_dir, tmp_path):
    from likeness_eval.latency import _free_port

    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    report = run_suite(engine, lfw_dir, tmp_path, progress=False, limit=40, robust_pairs=0,
                       distractor_sizes=(), with_ablation=False, latency_pairs=2,
                       latency_url=url)  # fmt: skip
    assert "error" in report["latency"] and "robustness" not in report
    text = (tmp_path / "report.md").read_text()
    assert "## Latency\nNot measured:" in text and "## Identification" in text
    assert "grows to" not in text  # no distractor galleries: no sentence about them
