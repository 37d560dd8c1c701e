"""Embed every LFW image once (13,233) and save ``names``/``vectors`` as ``.npz``.

The gallery benchmark fits its "lfw" synthetic data to these real embeddings
(``bench_gallery.py --data lfw --lfw-embeddings FILE``). Uses the evaluation
harness's parallel path and its embedding cache, so a second run is instant.

  .venv/bin/python backend/benchmarks/lfw_embeddings.py \\
      --lfw-dir ../shared/datasets/lfw --out /tmp/lfw-embeddings.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from likeness_eval.cli import build_engine, default_cache_dir
from likeness_eval.datasets import PairSet
from likeness_eval.embedding import embed_pairset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-root", default="../shared/models")
    parser.add_argument("--model", default="buffalo_s")
    parser.add_argument("--lfw-dir", default="../shared/datasets/lfw")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    root = Path(args.lfw_dir) / "lfw-deepfunneled"
    images = sorted(str(p.relative_to(root)) for p in root.glob("*/*.jpg"))
    empty = np.zeros(0, np.int64)
    pairset = PairSet(
        name="lfw-all",
        source="pairs",
        images=images,
        pairs=np.zeros((0, 2), np.int64),
        issame=empty.astype(bool),
        folds=empty,
        image_root=root,
    )
    engine = build_engine(args.model, Path(args.model_root))
    run = embed_pairset(engine, pairset, cache_dir=default_cache_dir())
    keep = ~run.no_face
    names = np.array([Path(i).parent.name for i in images])[keep]
    np.savez(
        args.out,
        names=names,
        vectors=run.embeddings[keep].astype(np.float32),
        model=args.model,
        model_version=engine.files[1].sha256,  # the recogniser file (likeness calibrate)
    )
    print(f"{int(keep.sum())} embeddings of {len(set(names))} people -> {args.out}")


if __name__ == "__main__":
    main()
