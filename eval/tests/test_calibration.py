"""1:1 threshold calibration (issue 14, first part): the threshold at a target FMR
is exact on the pairs, its bootstrap interval is honest, a target the impostor
pairs cannot resolve is flagged, and `likeness calibrate` reads evaluation runs
and stored votes (creating nothing when there are none)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from likeness_eval.calibration import (
    LabelledScores,
    calibrate,
    from_eval_run,
    from_feedback,
    threshold_at_fmr,
)


def test_the_threshold_lets_through_at_most_the_target_share_of_impostors():
    impostor = np.random.default_rng(0).normal(0.0, 0.1, 10_000)
    for target in (1e-1, 1e-2, 1e-3):
        t = threshold_at_fmr(impostor, target)
        assert np.mean(impostor >= t) <= target
        # the lowest such threshold: one step down lets one more impostor through
        assert np.mean(impostor >= np.nextafter(t, -np.inf)) > target


def test_calibration_finds_the_quantile_with_an_interval_and_flags_thin_data():
    rng = np.random.default_rng(1)
    impostor, genuine = rng.normal(0.0, 0.1, 200_000), rng.normal(0.6, 0.1, 20_000)
    data = LabelledScores(
        np.r_[impostor, genuine], np.r_[np.zeros(200_000, bool), np.ones(20_000, bool)], "synthetic"
    )
    result = calibrate([data], 1e-3, rounds=50)
    assert result.threshold == round(result.threshold, 4)  # given to 4 decimals, rounded up
    assert np.mean(impostor >= result.threshold) <= 1e-3  # still within the target
    expected = 0.1 * 3.0902  # the normal's 99.9th percentile
    assert abs(result.threshold - expected) < 0.01
    low, high = result.interval
    assert low <= result.threshold <= high and high - low < 0.03
    assert result.supported and result.warning is None and result.fmr <= 1e-3
    thin = LabelledScores(data.scores[-3000:], data.genuine[-3000:], "thin")  # 0 impostors
    with pytest.raises(ValueError, match="genuine and impostor"):
        calibrate([thin], 1e-3)
    labels = np.r_[np.zeros(3000, bool), np.ones(100, bool)]
    few = LabelledScores(np.r_[impostor[:3000], genuine[:100]], labels, "few")
    flagged = calibrate([few], 1e-3, rounds=20)
    assert not flagged.supported and "3000 impostor pairs" in flagged.warning


def test_votes_label_pairs_and_models_never_mix(tmp_path):
    rows = [(0.7, True, "up", "buffalo_s"), (0.5, True, "down", "buffalo_s"),
            (0.1, False, "up", "buffalo_s"), (0.3, False, "down", "buffalo_s"),
            (0.9, True, "up", "buffalo_l")]  # fmt: skip
    votes = from_feedback(rows, "buffalo_s")
    assert votes.genuine.tolist() == [True, False, False, True]
    with pytest.raises(ValueError, match="several model packs"):
        from_feedback(rows)  # votes of two packs need --model
    assert from_feedback(rows[:4]).model == "buffalo_s"
    run = tmp_path / "run"
    run.mkdir()
    np.savez_compressed(run / "scores.npz", scores=np.r_[0.1, 0.8], issame=np.r_[False, True])
    (run / "report.json").write_text(json.dumps({"model": "buffalo_l"}))
    assert from_eval_run(run / "report.json").model == "buffalo_l"
    with pytest.raises(ValueError, match="different models"):
        calibrate([votes, from_eval_run(run)], 0.5)


def _likeness(*args, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")}
    return subprocess.run(
        [sys.executable, "-m", "likeness.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_likeness_calibrate_reads_runs_and_votes(tmp_path):
    run = tmp_path / "eval-run"
    run.mkdir()
    rng = np.random.default_rng(2)
    scores = np.r_[rng.normal(0, 0.1, 50_000), rng.normal(0.6, 0.1, 3000)]
    np.savez_compressed(run / "scores.npz", scores=scores, issame=np.arange(53_000) >= 50_000)
    (run / "report.json").write_text(json.dumps({"model": "buffalo_s"}))
    answer = _likeness("calibrate", "--from", str(run), "--json", "--rounds", "20", cwd=tmp_path)
    assert answer.returncode == 0, answer.stderr
    body = json.loads(answer.stdout)
    assert body["impostor_pairs"] == 50_000 and body["supported"] and body["model"] == "buffalo_s"
    text = _likeness("calibrate", "--from", str(run), "--target-fmr", "1e-5", cwd=tmp_path)
    assert "warning: 50000 impostor pairs" in text.stdout
    empty = tmp_path / "nowhere"
    empty.mkdir()
    none = _likeness("calibrate", "--from", "feedback", cwd=empty)
    assert none.returncode == 2 and "no database at" in none.stderr
    assert list(empty.iterdir()) == []  # nothing made
    missing = _likeness("calibrate", "--from", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "no scores.npz" in missing.stderr
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "scores.npz").write_bytes(b"not a numpy file")
    bad = _likeness("calibrate", "--from", str(junk), cwd=tmp_path)
    assert bad.returncode == 2 and "not an evaluation run" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
