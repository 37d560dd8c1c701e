"""What a switch of model version costs (issue 15): a gallery of LFW photos is
re-embedded from its stored crops under another recogniser version and switched,
then rolled back. Prints faces per second of the re-embedding against the bulk
indexing of the same photos in the same run (detection + embedding), the switch
transaction, and the rollback (its embeddings kept: no re-embedding).

  .venv/bin/python backend/benchmarks/bench_model_switch.py \\
      --model-root ../shared/models --lfw-dir ../shared/datasets/lfw --images 1000
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from likeness.library import FaceRecognitionLibrary
from likeness.settings import Settings


def variant(base: Path, out: Path) -> Path:
    """A different recogniser of the same shape (the embedding layer changed
    slightly): what a fine-tuned version costs to switch to."""
    model = onnx.load(str(base))
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    tensor = next(i for i in model.graph.initializer if i.name == gemm.input[1])
    w = numpy_helper.to_array(tensor)
    noise = np.random.default_rng(0).standard_normal(w.shape).astype(np.float32)
    tensor.CopyFrom(numpy_helper.from_array(w * (1 + 0.02 * noise), tensor.name))
    onnx.save(model, str(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-root", default="../shared/models")
    parser.add_argument("--lfw-dir", default="../shared/datasets/lfw")
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    photos = sorted((Path(args.lfw_dir) / "lfw-deepfunneled").rglob("*.jpg"))[: args.images]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "models"
        (root / "buffalo_s").mkdir(parents=True)
        for f in (Path(args.model_root) / "buffalo_s").glob("*.onnx"):
            os.symlink(f.resolve(), root / "buffalo_s" / f.name)
        settings = Settings(model_root=root, model_pack="buffalo_s", data_dir=Path(tmp) / "d")
        lib = FaceRecognitionLibrary(settings=settings)
        start = time.perf_counter()
        report = lib.index_batch(photos)
        index_s = time.perf_counter() - start
        faces = lib.stats()["faces"]
        made = variant(root / "buffalo_s" / "w600k_mbf.onnx", Path(tmp) / "variant.onnx")
        registry = lib.model.registry
        version = registry.register(made, parent=registry.active(), data_sha256=None,
                                    metrics={}, gate="none", created_by="bench")  # fmt: skip
        start = time.perf_counter()
        job = lib.activate_model(version.id, force=True)
        switch_s = time.perf_counter() - start
        assert job.state == "succeeded", job.error
        start = time.perf_counter()
        back = lib.rollback_model()
        rollback_s = time.perf_counter() - start
        assert back.state == "succeeded", back.error
        lib.close()
        shutil.rmtree(root, ignore_errors=True)
    print(f"{len(photos)} photos, {faces} faces ({report.indexed} indexed)")
    print(f"bulk indexing (detect + embed): {index_s:.1f} s, {faces / index_s:.1f} faces/s")
    print(
        f"activation (re-embed {job.result['reembedded']} crops + switch): {switch_s:.1f} s, "
        f"{faces / switch_s:.1f} faces/s, x{index_s / switch_s:.1f} faster than indexing"
    )
    print(f"rollback ({back.result['reembedded']} re-embedded): {rollback_s:.2f} s")


if __name__ == "__main__":
    main()
