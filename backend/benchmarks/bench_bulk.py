"""Bulk indexing throughput: ``FaceRecognitionLibrary.index_batch`` (thread-pool
decode + detect, batched recognition, one transaction per chunk, index saved at the
end) against a plain loop over the engine (decode, detect, embed every face, one
image at a time, nothing stored), on the same LFW images in the same run.

  .venv/bin/python backend/benchmarks/bench_bulk.py --images 400 \\
      --model-root ../shared/models --lfw-dir ../shared/datasets/lfw
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from likeness.engine import FaceEngine
from likeness.imaging import load_image
from likeness.library import FaceRecognitionLibrary
from likeness.settings import Settings


def plain_loop(engine: FaceEngine, paths: list[Path]) -> tuple[float, int]:
    start = time.perf_counter()
    faces_total = 0
    for path in paths:
        image = load_image(path)
        faces = engine.detect(image)
        if faces:
            engine.embed_faces(image, faces)
            faces_total += len(faces)
    return time.perf_counter() - start, faces_total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-root", default="../shared/models")
    parser.add_argument("--model", default="buffalo_s")
    parser.add_argument("--lfw-dir", default="../shared/datasets/lfw")
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    files = sorted((Path(args.lfw_dir) / "lfw-deepfunneled").glob("*/*.jpg"))
    paths = files[:: max(1, len(files) // args.images)][: args.images]
    settings = Settings(model_root=Path(args.model_root), model_pack=args.model, workers=1)
    engine = FaceEngine(settings)
    engine.warm_up()
    plain_loop(engine, paths[:20])  # warm caches
    rows = []
    loop_s, loop_faces = plain_loop(engine, paths)
    rows.append({"method": "plain loop", "seconds": loop_s, "faces": loop_faces})
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            lib = FaceRecognitionLibrary(
                settings=settings.model_copy(update={"data_dir": Path(tmp)}),
                engine=engine,
                bulk_workers=workers,
            )
            report = lib.index_batch(paths)
            rows.append(
                {
                    "method": f"index_batch workers={workers}",
                    "seconds": report.seconds,
                    "faces": report.faces,
                    "failed": len(report.failed),
                }
            )
            lib.close()
    loop_s, loop_faces = plain_loop(engine, paths)  # again, to see drift on a shared box
    rows.append({"method": "plain loop (again)", "seconds": loop_s, "faces": loop_faces})
    base = rows[0]["seconds"]
    for row in rows:
        row["images_per_s"] = round(len(paths) / row["seconds"], 2)
        row["speedup_vs_loop"] = round(base / row["seconds"], 2)
        row["seconds"] = round(row["seconds"], 2)
        print(json.dumps(row))
    print(f"# {len(paths)} images, engine intra-op threads {engine.threads}")


if __name__ == "__main__":
    main()
