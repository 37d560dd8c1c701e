"""Model roots the tests may write to (a registered version is copied into the
pack's folder), and real recogniser variants made from the official file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from paths import MODEL_ROOT, TEST_PACK


def writable_root(tmp: Path) -> Path:
    """A model root whose pack folder links the shared files (read-only) and can
    take new versions."""
    root = tmp / "models"
    pack = root / TEST_PACK
    pack.mkdir(parents=True, exist_ok=True)
    for source in (MODEL_ROOT / TEST_PACK).glob("*.onnx"):
        target = pack / source.name
        if not target.exists():
            os.symlink(source, target)
    antispoof = MODEL_ROOT / "antispoof"
    if antispoof.is_dir() and not (root / "antispoof").exists():
        os.symlink(antispoof, root / "antispoof")
    return root


def perturbed_recogniser(out: Path, scale: float, seed: int = 0) -> Path:
    """The official recogniser with its embedding layer's weights changed by
    ``scale`` relative noise: a different, working model (small scale: close to
    the base; large: much worse)."""
    model = onnx.load(str(MODEL_ROOT / TEST_PACK / "w600k_mbf.onnx"))
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    weights = {i.name: i for i in model.graph.initializer}
    tensor = weights[gemm.input[1]]
    w = numpy_helper.to_array(tensor)
    rng = np.random.default_rng(seed)
    changed = w * (1 + scale * rng.standard_normal(w.shape)).astype(np.float32)
    tensor.CopyFrom(numpy_helper.from_array(changed.astype(np.float32), tensor.name))
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out
