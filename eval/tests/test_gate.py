"""The fine-tuning gate (issue 15) on real LFW faces of View 2 folds 6-10: a model
gated against itself passes with a zero difference; a damaged one is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from likeness_eval.finetune_lowres import view2_pairs
from likeness_eval.gate import map_thresholds, run_gate
from likeness_eval.lfw_crops import align_all, lfw_images
from likeness_eval.protocol import every_pair


@pytest.fixture(scope="module")
def unseen(engine, lfw_dir):
    """Faces and pairs of the first 80 View 2 pairs of each class of fold 6."""
    pairs = view2_pairs(lfw_dir, {5})
    chosen = [p for p in pairs if p[2]][:80] + [p for p in pairs if not p[2]][:80]
    root, images, _ = lfw_images(lfw_dir)
    wanted = sorted({name for a, b, _ in chosen for name in (a, b)})
    return align_all(engine, root, wanted), chosen


def _damaged(base: Path, out: Path) -> Path:
    model = onnx.load(str(base))
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    tensor = next(i for i in model.graph.initializer if i.name == gemm.input[1])
    w = numpy_helper.to_array(tensor)  # (512, 3136): scramble which features it reads
    order = np.random.default_rng(0).permutation(w.shape[1])
    tensor.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(w[:, order]), tensor.name))
    onnx.save(model, str(out))
    return out


def test_a_model_gated_against_itself_passes(unseen, model_root):
    faces, pairs = unseen
    base = model_root / "buffalo_s" / "w600k_mbf.onnx"
    result = run_gate(base, base, faces, pairs, {"verify": 0.3}, rounds=50, low_res=False)
    assert result.passed, result.reasons
    metrics = result.metrics
    assert metrics["fnmr_at_fmr_1e-3"]["difference_90"] == [0.0, 0.0]
    assert metrics["accuracy"]["base"] == metrics["accuracy"]["candidate"] > 0.9
    assert metrics["data"]["view2_pairs"] == 160
    assert metrics["thresholds"]["verify"]["candidate"] == pytest.approx(0.3, abs=2e-4)


def test_a_damaged_model_is_refused(unseen, model_root, tmp_path):
    faces, pairs = unseen
    base = model_root / "buffalo_s" / "w600k_mbf.onnx"
    damaged = _damaged(base, tmp_path / "damaged.onnx")
    result = run_gate(base, damaged, faces, pairs, rounds=50, low_res=False)
    assert not result.passed
    assert any("FNMR at FMR 1e-3 is worse" in r for r in result.reasons)
    fnmr = result.metrics["fnmr_at_fmr_1e-3"]
    assert fnmr["candidate"] > fnmr["base"] and fnmr["difference_90"][0] > 0


def test_thresholds_move_to_the_same_false_match_rate():
    rng = np.random.default_rng(1)
    people = np.repeat(np.arange(40), 3).astype(str)
    x = rng.standard_normal((120, 16)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    base = every_pair(x, people, floor_fmr=1.0)
    shifted = every_pair(x, people, floor_fmr=1.0)  # the same scores: the same threshold
    moved = map_thresholds(base, shifted, {"verify": 0.2})["verify"]
    assert moved["fmr"] == pytest.approx(base.fmr_at(0.2))
    assert shifted.fmr_at(moved["candidate"]) <= moved["fmr"]
