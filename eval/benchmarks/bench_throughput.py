"""Throughput of the evaluation's embedding path on the same LFW images, three ways:

(a) the stock insightface loop: ``FaceAnalysis`` (detection + recognition only,
    det_size 640x640, no flip), ``cv2.imread``, most central face;
(b) our harness: ``likeness_eval.embedding.embed_pairset`` (load_image in a thread
    pool -> engine.detect at the image's own scale -> central face -> embed_faces);
(c) the raw ONNX models alone: detector at the input size we use and the recogniser
    on one pre-aligned crop per image, inputs prepared beforehand (the floor).

Then where (b)'s time goes, stage by stage, measured serially. Prints figures; this
is a benchmark, not a test. Usage::

    python eval/benchmarks/bench_throughput.py --model-root ../shared/models \\
        --lfw-dir ../shared/datasets/lfw [--images 1000] [--rounds 1] [--flip]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np


def _now() -> float:
    return time.perf_counter()


def _central(faces, width, height):
    cx, cy = width / 2, height / 2
    return min(
        faces,
        key=lambda f: (
            ((f.bbox[0] + f.bbox[2]) / 2 - cx) ** 2 + ((f.bbox[1] + f.bbox[3]) / 2 - cy) ** 2
        ),
    )


def subset_of(pairset, lo: int, hi: int):
    from likeness_eval.datasets import PairSet

    return PairSet(
        pairset.name,
        "pairs",
        pairset.images[lo:hi],
        pairset.pairs[:0],
        pairset.issame[:0],
        pairset.folds[:0],
        image_root=pairset.image_root,
    )


def stock_loop(app, paths) -> tuple[float, int]:
    """(seconds, faces without detection) of the plain FaceAnalysis loop."""
    missed = 0
    start = _now()
    for path in paths:
        image = cv2.imread(str(path))
        faces = app.get(image)
        if not faces:
            missed += 1
            continue
        face = _central(faces, image.shape[1], image.shape[0])
        _ = face.normed_embedding
    return _now() - start, missed


def ours(engine, pairset, flip: bool) -> tuple[float, int]:
    from likeness_eval.embedding import embed_pairset

    run = embed_pairset(engine, pairset, flip=flip, cache_dir=None, progress=False)
    return run.timings_s["embed_wall"], int(run.no_face.sum())


def prepare_raw(engine, images):
    """Detector blobs at our input size and one aligned crop blob per image."""
    det = engine.detector
    det_blobs, rec_blobs = [], []
    for image in images:
        height, width = image.shape[:2]
        w, h = det.input_size_for(width, height)
        det_blobs.append(_det_blob(det.model, image, (w, h)))
        faces = engine.detect(image)
        crop = engine.align(image, faces[0]) if faces else cv2.resize(image, (112, 112))
        rec_blobs.append(_rec_blob(engine.recognizer.model, [crop]))
    return det_blobs, rec_blobs


def _det_blob(model, image, size):
    """SCRFD's preprocessing: keep aspect, resize, pad to ``size``, normalise, NCHW."""
    height, width = image.shape[:2]
    scale = min(size[0] / width, size[1] / height)
    new_w, new_h = int(width * scale), int(height * scale)
    canvas = np.zeros((size[1], size[0], 3), np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h))
    return cv2.dnn.blobFromImage(
        canvas, 1.0 / model.input_std, size, (model.input_mean,) * 3, swapRB=True
    )


def _rec_blob(model, crops):
    size = tuple(model.input_size)
    return cv2.dnn.blobFromImages(
        crops, 1.0 / model.input_std, size, (model.input_mean,) * 3, swapRB=True
    )


def raw_onnx(det_session, rec_session, det_blobs, rec_blobs) -> tuple[float, float]:
    det_in = det_session.get_inputs()[0].name
    rec_in = rec_session.get_inputs()[0].name
    start = _now()
    for blob in det_blobs:
        det_session.run(None, {det_in: blob})
    t_det = _now() - start
    start = _now()
    for blob in rec_blobs:
        rec_session.run(None, {rec_in: blob})
    return t_det, _now() - start


def breakdown(engine, paths, det_session, rec_session, det_blobs, rec_blobs) -> dict:
    """Seconds per stage of our path over all images, each stage run on its own."""
    from likeness.engine import choose_face
    from likeness.imaging import load_image
    from likeness.settings import FacePolicy

    t = {}
    start = _now()
    images = [load_image(p) for p in paths]
    t["read + decode (load_image)"] = _now() - start
    start = _now()
    blobs = [
        _det_blob(engine.detector.model, im, engine.detector.input_size_for(*im.shape[1::-1]))
        for im in images
    ]
    t["detector resize + blob"] = _now() - start
    del blobs
    t_det_run, t_rec_run = raw_onnx(det_session, rec_session, det_blobs, rec_blobs)
    start = _now()
    all_faces = [engine.detect(im) for im in images]
    t_detect = _now() - start
    chosen = [
        f[choose_face(f, im.shape[1], im.shape[0], FacePolicy.CENTRAL)] if f else None
        for im, f in zip(images, all_faces, strict=True)
    ]
    start = _now()
    crops = [engine.align(im, f) for im, f in zip(images, chosen, strict=True) if f is not None]
    t["alignment (similarity fit + warpAffine)"] = _now() - start
    start = _now()
    for c in crops:
        _rec_blob(engine.recognizer.model, [c])
    t["recogniser blob"] = _now() - start
    start = _now()
    for im, f in zip(images, chosen, strict=True):
        if f is not None:
            engine.embed_faces(im, [f])
    t_embed = _now() - start
    t["detector ONNX run"] = t_det_run
    t["recogniser ONNX run"] = t_rec_run
    t["detector post-processing (decode boxes, NMS, retries)"] = (
        t_detect - t_det_run - t["detector resize + blob"]
    )
    t["embed Python overhead (norms, batching)"] = (
        t_embed - t_rec_run - t["alignment (similarity fit + warpAffine)"] - t["recogniser blob"]
    )
    return t


def main() -> int:
    from insightface.app import FaceAnalysis
    from likeness.engine.runtime import create_session

    from likeness_eval.cli import build_engine
    from likeness_eval.datasets import PairSet, load_lfw

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-root", type=Path, required=True)
    p.add_argument("--lfw-dir", type=Path, required=True)
    p.add_argument("--model", default="buffalo_s")
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=1, help="repeat everything; times averaged")
    p.add_argument("--chunk", type=int, default=100, help="images per turn of each pipeline")
    p.add_argument("--flip", action="store_true", help="also time our path with flip")
    args = p.parse_args()

    lfw = load_lfw(args.lfw_dir)
    names = lfw.images[: args.images]
    paths = [lfw.image_root / n for n in names]
    n = len(paths)
    subset = PairSet(
        "lfw-bench",
        "pairs",
        names,
        np.zeros((0, 2), np.int64),
        np.zeros(0, bool),
        np.zeros(0, np.int64),
        image_root=lfw.image_root,
    )

    engine = build_engine(args.model, args.model_root)
    app = FaceAnalysis(
        name=str(args.model_root / args.model),
        allowed_modules=["detection", "recognition"],
        providers=["CPUExecutionProvider"],
    )
    app.prepare(ctx_id=0, det_size=(640, 640))
    for path in paths[:10]:  # warm up every path
        app.get(cv2.imread(str(path)))
    # The floor: the raw models one image at a time on every core (ORT's best case).
    threads = os.cpu_count() or 1
    det_session = create_session(engine.files[0].path, ["CPUExecutionProvider"], threads, True)
    rec_session = create_session(engine.files[1].path, ["CPUExecutionProvider"], threads, True)
    print(
        f"{n} LFW images ({lfw.image_root}), pack {args.model}, {threads} cores; "
        f"floor: raw ONNX on {threads} intra-op threads; ours: {threads} images in flight, "
        f"{engine.threads} intra-op thread each; load average {os.getloadavg()[0]:.2f}"
    )
    from likeness.imaging import load_image

    images = [load_image(p) for p in paths]
    det_blobs, rec_blobs = prepare_raw(engine, images)
    sizes = sorted({tuple(b.shape[2:]) for b in det_blobs})
    print(f"detector input sizes we use (h, w): {sizes}; stock: (640, 640)")

    # The three pipelines take turns on chunks of images, so a noisy neighbour on a
    # shared machine slows all of them alike; each total is summed over the chunks.
    total = {"stock": 0.0, "ours": 0.0, "raw": 0.0}
    if args.flip:
        total["ours_flip"] = 0.0
    raw_split = [0.0, 0.0]
    missed = {"stock": 0, "ours": 0}
    loads = [os.getloadavg()[0]]
    for r in range(args.rounds):
        for lo in range(0, n, args.chunk):
            hi = min(n, lo + args.chunk)
            chunk = subset_of(subset, lo, hi)
            t, miss = stock_loop(app, paths[lo:hi])
            total["stock"] += t
            missed["stock"] += miss if r == 0 else 0
            t, miss = ours(engine, chunk, flip=False)
            total["ours"] += t
            missed["ours"] += miss if r == 0 else 0
            if args.flip:
                total["ours_flip"] += ours(engine, chunk, flip=True)[0]
            t_det, t_rec = raw_onnx(det_session, rec_session, det_blobs[lo:hi], rec_blobs[lo:hi])
            total["raw"] += t_det + t_rec
            raw_split[0] += t_det
            raw_split[1] += t_rec
            loads.append(os.getloadavg()[0])
    print(
        f"load average during the run: {min(loads):.2f}..{max(loads):.2f} "
        f"(2 cores: anything above ~2 means other processes share the CPU)"
    )
    best = {k: v / args.rounds for k, v in total.items()}
    raw_split = [v / args.rounds for v in raw_split]
    ips = {k: n / v for k, v in best.items() if np.isfinite(v)}
    print()
    print(
        f"(a) stock FaceAnalysis loop (640x640, all faces embedded): {ips['stock']:7.1f} images/s"
        f"   ({missed['stock']} images without a face)"
    )
    print(
        f"(b) likeness-eval path (engine, no flip):                {ips['ours']:7.1f} images/s"
        f"   ({missed['ours']} centre-crop fallbacks)"
    )
    if "ours_flip" in ips:
        print(
            f"    likeness-eval path with flip:                       {ips['ours_flip']:7.1f}"
            " images/s"
        )
    print(
        f"(c) raw ONNX floor (detector + 1 recognition per image): {ips['raw']:7.1f} images/s"
        f"   (detector {1000 * raw_split[0] / n:.2f} ms, recogniser {1000 * raw_split[1] / n:.2f}"
        " ms per image)"
    )
    print(
        f"ours / stock = {ips['ours'] / ips['stock']:.2f}x (target >= 2.5x); "
        f"ours / floor = {ips['ours'] / ips['raw']:.2f} "
        f"(ours is {100 * (best['ours'] - best['raw']) / best['ours']:.0f}% above the ONNX time)"
    )

    print("\nWhere our time goes (each stage run serially on all images, ms per image):")
    # Stages are timed one image at a time with the engine's own thread count.
    det_one = create_session(engine.files[0].path, ["CPUExecutionProvider"], engine.threads)
    rec_one = create_session(engine.files[1].path, ["CPUExecutionProvider"], engine.threads)
    stages = breakdown(engine, paths, det_one, rec_one, det_blobs, rec_blobs)
    total = sum(stages.values())
    for name, secs in stages.items():
        print(f"  {name:58s} {1000 * secs / n:6.2f}  ({100 * secs / total:4.1f}%)")
    print(f"  {'sum of stages (serial)':58s} {1000 * total / n:6.2f}")
    print(
        f"  {'our pipelined wall time':58s} {1000 * best['ours'] / n:6.2f}"
        f"  ({engine.threads} intra-op thread per image, {os.cpu_count()} images in flight)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
