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
    rows = [(0.7, True, "up", "buffalo_s", "v1"), (0.5, True, "down", "buffalo_s", "v1"),
            (0.1, False, "up", "buffalo_s", "v1"), (0.3, False, "down", "buffalo_s", "v1"),
            (0.9, True, "up", "buffalo_l", "v9")]  # fmt: skip
    votes = from_feedback(rows, "buffalo_s")
    assert votes.genuine.tolist() == [True, False, False, True]
    assert votes.version == "v1"
    with pytest.raises(ValueError, match="several model packs"):
        from_feedback(rows)  # votes of two packs need --model
    assert from_feedback(rows[:4]).model == "buffalo_s"
    # a new recogniser file of the same pack shifts every score: never mixed
    newer = [*rows[:4], (0.2, True, "up", "buffalo_s", "v2")]
    with pytest.raises(ValueError, match="2 recogniser files"):
        from_feedback(newer, "buffalo_s")
    assert len(from_feedback(newer, "buffalo_s", "v2").scores) == 1
    run = tmp_path / "run"
    run.mkdir()
    np.savez_compressed(run / "scores.npz", scores=np.r_[0.1, 0.8], issame=np.r_[False, True])
    files = [{"task": "detection", "sha256": "d0"}, {"task": "recognition", "sha256": "v9"}]
    (run / "report.json").write_text(json.dumps({"model": "buffalo_l", "engine": {"files": files}}))
    assert from_eval_run(run / "report.json").model == "buffalo_l"
    assert from_eval_run(run).version == "v9"
    with pytest.raises(ValueError, match="different models"):
        calibrate([votes, from_eval_run(run)], 0.5)


def _likeness(*args, cwd, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")}
    env.update(extra)
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


def _embeddings(path, model_root, version=None, people=80, seed=7):
    """A small embeddings file (several images per person) of the test pack."""
    import hashlib

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, 32))
    ids = np.repeat(np.arange(people), 4)
    x = centres[ids] + rng.normal(size=(len(ids), 32)) * 0.9
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    recogniser = model_root / "buffalo_s" / "w600k_mbf.onnx"
    version = version or hashlib.sha256(recogniser.read_bytes()).hexdigest()
    names = np.array([f"P{i}" for i in ids])
    np.savez(
        path, names=names, vectors=x.astype(np.float32), model="buffalo_s", model_version=version
    )
    return path


def test_calibrate_adopts_thresholds_for_the_running_model_version(tmp_path, model_root):
    from likeness_eval.calibration import calibrate_search, from_embeddings, search_fmr

    env = {
        "LIKENESS_MODEL_ROOT": str(model_root),
        "LIKENESS_MODEL_PACK": "buffalo_s",
        "LIKENESS_DATA_DIR": str(tmp_path / "data"),
    }
    data = _embeddings(tmp_path / "faces.npz", model_root)
    args = ["calibrate", "--from", str(data), "--target-fmr", "1e-2", "--rounds", "20"]
    shown = _likeness(*args, "--target-fpir", "0.2", "--gallery-faces", "50", "--json",
                      cwd=tmp_path, **env)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["kind"] == "verify" and body["search"]["kind"] == "search"
    assert body["search"]["target_fmr"] == pytest.approx(search_fmr(0.2, 50))
    assert body["search"]["threshold"] > body["threshold"]  # fifty chances to match falsely
    direct = calibrate_search([from_embeddings(data)], 0.2, 50, rounds=20)
    assert direct.threshold == body["search"]["threshold"]
    assert not (tmp_path / "data").exists()  # reporting stores nothing
    adopted = _likeness(*args, "--target-fpir", "0.2", "--gallery-faces", "50", "--adopt",
                        cwd=tmp_path, **env)  # fmt: skip
    assert adopted.returncode == 0, adopted.stderr
    assert "adopted as threshold set 1" in adopted.stderr
    in_force = json.loads(_likeness("thresholds", "--json", cwd=tmp_path, **env).stdout)
    assert in_force["verify"] == {"value": body["threshold"], "origin": "database", "set_id": 1}
    assert in_force["search"]["value"] == body["search"]["threshold"]
    assert in_force["set"]["source"]["verify"]["sources"] == [str(data)]
    # scores of another recogniser file are never adopted for this one
    other = _embeddings(tmp_path / "other.npz", model_root, version="0" * 64)
    refused = _likeness("calibrate", "--from", str(other), "--target-fmr", "1e-2", "--adopt",
                        cwd=tmp_path, **env)  # fmt: skip
    assert refused.returncode == 2 and "shifts every score" in refused.stderr
    # a target the pairs cannot resolve is adopted only with --force
    deep = [*args[:3], "--target-fmr", "1e-6", "--rounds", "5", "--adopt"]
    thin = _likeness(*deep, cwd=tmp_path, **env)
    assert thin.returncode == 2 and "not adopted" in thin.stderr and "--force" in thin.stderr
    assert _likeness(*deep, "--force", cwd=tmp_path, **env).returncode == 0
    history = json.loads(_likeness("thresholds", "history", "--json", cwd=tmp_path, **env).stdout)
    assert [s["id"] for s in history] == [2, 1]
    back = _likeness("thresholds", "restore", "1", cwd=tmp_path, **env)
    assert back.returncode == 0 and "restored as set 3" in back.stderr
    # the 1:N threshold for the gallery's own size needs a gallery
    empty = _likeness(*args, "--target-fpir", "0.05", cwd=tmp_path, **env)
    assert empty.returncode == 2 and "gallery is empty" in empty.stderr


def test_only_votes_lose_suspect_impostors_never_a_datasets_labels():
    from likeness_eval.calibration import EmbeddingSet, sample

    rng = np.random.default_rng(9)
    centres = rng.normal(size=(60, 16))
    ids = np.repeat(np.arange(60), 3)
    x = centres[ids] + rng.normal(size=(len(ids), 16)) * 0.8
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    dataset = EmbeddingSet(x, np.array([f"P{i}" for i in ids]), "set")
    votes = from_feedback(
        [(0.95, True, "down", "buffalo_s", "v1"),  # a same-person pair voted "different"
         (0.05, False, "up", "buffalo_s", "v1"), (0.9, True, "up", "buffalo_s", "v1")]
    )  # fmt: skip
    alone = sample([dataset], 0.01, suspects=0.05)
    both = sample([dataset, votes], 0.01, suspects=0.05)
    assert alone.suspects_dropped == 0  # a dataset's labels are kept, however high
    assert both.suspects_dropped == 1  # the one wrong vote
    assert both.pairs.impostor_pairs == alone.pairs.impostor_pairs + 1  # counted, not listed
    listed = (~both.pairs.genuine).sum()
    assert listed == (~alone.pairs.genuine).sum() + 1  # the 0.05 impostor vote stays


def test_search_votes_are_pairs_and_absurd_targets_are_refused(tmp_path, model_root):
    rows = [(0.6, True, "up", "buffalo_s", "v1"), (0.2, True, "down", "buffalo_s", "v1")]
    votes = from_feedback(rows)  # a search vote: (query-to-face score, True, vote, ...)
    assert votes.genuine.tolist() == [True, False]
    data = _embeddings(tmp_path / "faces.npz", model_root)
    env = {"LIKENESS_MODEL_ROOT": str(model_root), "LIKENESS_MODEL_PACK": "buffalo_s"}
    loose = _likeness("calibrate", "--from", str(data), "--target-fmr", "0.5", cwd=tmp_path, **env)
    assert loose.returncode == 2 and "at most 0.1" in loose.stderr
