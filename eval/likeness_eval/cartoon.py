"""Cartoon rejection, measured and built (issue 11).

1. The published baseline, reproduced: 32x32 RGB pixels, KernelPCA(80, polynomial
   kernel), MLP(100, 100) (published: 97.2% accuracy, precision 1.0 on real faces).
2. Ours, on what the pipeline already computes: the recogniser's unit embedding of
   the face plus colour and texture statistics of its aligned crop
   (``likeness.quality.cartoon``), a standardised logistic regression or a small
   MLP, whichever 5-fold cross-validation prefers.

Both on ``../shared/datasets/cartoon-or-real`` (IIIT-CFW cartoons against IMFDB
and Yale photos) with the same stratified 80/20 split (fixed seed) and the same
5 folds; ours is then checked on every LFW photo (at most 0.5% may be called
cartoons) and on grey copies of them, and written with its data hash and metrics
to ``backend/likeness/quality/models/``::

    .venv/bin/python -m likeness_eval.cartoon --data ../shared/datasets/cartoon-or-real \\
        --lfw ../shared/datasets/lfw --model-root ../shared/models --write
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
from likeness.engine import choose_face
from likeness.quality.cartoon import CROP_FEATURES, MODELS_DIR, CartoonModel, crop_features
from likeness.settings import FacePolicy
from sklearn.decomposition import KernelPCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, precision_score, recall_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from likeness_eval.embedding import centre_crop

CARTOON, REAL = 1, 0
FOLDERS = {"IIIT-CFW": CARTOON, "IMFDB": REAL, "Yale_face_database": REAL}
LFW_LIMIT = 0.005  # at most this share of LFW photos may be called cartoons


def load(data: Path) -> tuple[list[np.ndarray], np.ndarray, str]:
    """BGR images, labels (1 cartoon) and the SHA-256 of every file, in order."""
    images, labels, digest = [], [], hashlib.sha256()
    for folder, label in FOLDERS.items():
        files = sorted((data / folder).glob("*.png"))
        if not files:
            raise SystemExit(f"no PNG files in {data / folder}")
        for path in files:
            raw = path.read_bytes()
            digest.update(raw)
            images.append(cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR))
            labels.append(label)
    return images, np.array(labels), digest.hexdigest()


def pixels(images: list[np.ndarray]) -> np.ndarray:
    """The baseline's input: 32x32 RGB in [0, 1], flattened."""
    small = [cv2.resize(im, (32, 32), interpolation=cv2.INTER_AREA) for im in images]
    return np.array([s[:, :, ::-1].reshape(-1) / 255.0 for s in small], np.float32)


def baseline(seed: int):
    return make_pipeline(
        KernelPCA(n_components=80, kernel="poly"),
        MLPClassifier(hidden_layer_sizes=(100, 100), max_iter=500, random_state=seed),
    )


def face_features(engine, image: np.ndarray) -> tuple[np.ndarray, bool]:
    """Embedding + crop statistics of the face the pipeline would use; the data set's
    images are face crops, so without a detection the centred square stands in."""
    faces = engine.detect(image)
    if faces:
        height, width = image.shape[:2]
        crop = engine.align(image, faces[choose_face(faces, width, height, FacePolicy.LARGEST)])
    else:
        crop = centre_crop(image, engine.recognizer.crop_size)
    unit, _ = engine.embed_aligned([crop])
    return np.concatenate([unit[0], crop_features(crop)]), bool(faces)


#: Weight of each extra LFW photo against one photo of the set: enough to teach that
#: press photos are photos, little enough not to drown the set's own real faces.
EXTRA_WEIGHT = 0.05


def candidates(seed: int) -> dict:
    return {
        f"logistic C={c}": (
            lambda c=c: make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
        )
        for c in (0.05, 0.5)
    }


def fit_with(make, x, y, extra):
    """Fit on (x, y) plus the weighted ``extra`` (x, y)."""
    weights = np.concatenate([np.ones(len(y)), np.full(len(extra[1]), EXTRA_WEIGHT)])
    return make().fit(
        np.concatenate([x, extra[0]]),
        np.concatenate([y, extra[1]]),
        logisticregression__sample_weight=weights,
    )


def scores(truth, predicted) -> dict:
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "precision_real": float(precision_score(truth, predicted, pos_label=REAL, zero_division=0)),
        "recall_cartoon": float(recall_score(truth, predicted, pos_label=CARTOON, zero_division=0)),
    }


def cross_validate(make, x, y, seed: int, extra=None) -> dict:
    """5 stratified folds of the set; ``extra`` (x, y) joins every training side."""
    folds = []
    for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y):
        if extra is None:
            model = make().fit(x[train], y[train])
        else:
            model = fit_with(make, x[train], y[train], extra)
        folds.append(scores(y[test], model.predict(x[test])))
    return {
        key: {
            "mean": float(np.mean([f[key] for f in folds])),
            "std": float(np.std([f[key] for f in folds])),
        }
        for key in folds[0]
    }


def export(pipeline) -> dict[str, np.ndarray]:
    """A fitted StandardScaler + (LogisticRegression | MLPClassifier) as plain arrays."""
    scaler, classifier = pipeline.steps[0][1], pipeline.steps[-1][1]
    arrays = {"mean": scaler.mean_.astype(np.float32), "scale": scaler.scale_.astype(np.float32)}
    if isinstance(classifier, LogisticRegression):
        weights, biases = [classifier.coef_.T], [classifier.intercept_]
    else:
        weights, biases = classifier.coefs_, classifier.intercepts_
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        arrays[f"w{i}"] = np.asarray(w, np.float32)
        arrays[f"b{i}"] = np.asarray(b, np.float32)
    return arrays


def line(name: str, values: dict) -> str:
    return f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="cartoon-or-real folder")
    parser.add_argument("--lfw", type=Path, required=True, help="LFW folder (pairs.txt)")
    parser.add_argument("--model-root", type=Path, required=True)
    parser.add_argument("--model", default="buffalo_s")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--grey", type=int, default=1000, help="grey LFW copies to check")
    parser.add_argument("--write", action="store_true", help="write the model files")
    parser.add_argument("--out", type=Path, default=MODELS_DIR)
    args = parser.parse_args(argv)

    from likeness_eval.cli import build_engine, default_cache_dir
    from likeness_eval.datasets import load_lfw
    from likeness_eval.facecheck_data import build_table
    from likeness_eval.protocol import identity_halves

    images, y, digest = load(args.data)
    print(f"# {len(y)} faces ({int(y.sum())} cartoons), data sha256 {digest}")
    index = np.arange(len(y))
    train, test = train_test_split(index, test_size=0.2, stratify=y, random_state=args.seed)
    # 1. the published baseline
    x_pix = pixels(images)
    fitted = baseline(args.seed).fit(x_pix[train], y[train])
    start = time.perf_counter()
    predicted = fitted.predict(x_pix[test])
    base_ms = (time.perf_counter() - start) / len(test) * 1000
    result = {"baseline": {"held_out": scores(y[test], predicted), "ms_per_face": base_ms}}
    result["baseline"]["five_fold"] = cross_validate(
        lambda: baseline(args.seed), x_pix, y, args.seed
    )
    print(line("baseline held-out", result["baseline"]["held_out"]))
    # 2. ours: the set's faces, plus photos of LFW half A (identities disjoint from
    # half B, which is kept for the check) as extra real faces, weighted down: the
    # set's photos are Indian film stills and grey lab shots, too narrow a picture of
    # "a photo" (trained on the set alone, 22.6% of LFW photos were called cartoons).
    engine = build_engine(args.model, args.model_root)
    rows = [face_features(engine, im) for im in images]
    x = np.array([r[0] for r in rows], np.float32)
    detected = np.array([r[1] for r in rows])
    print(
        f"# faces detected in {detected.sum()} of {len(y)} images "
        f"({detected[y == CARTOON].sum()} of {int(y.sum())} cartoons); the rest use the centre"
    )
    lfw = load_lfw(args.lfw)
    table = build_table(engine, lfw.image_root, lfw.images, cache_dir=default_cache_dir())
    half_a, half_b = identity_halves(table.images, args.seed)
    n = table.n_images
    rng = np.random.default_rng(args.seed)
    extra_rows = []
    for i in np.flatnonzero(half_a):
        extra_rows.append(i)  # clean
        variant = int(rng.integers(1, len(table.found) // n))  # one degraded copy each
        if table.found[variant * n + i]:
            extra_rows.append(variant * n + i)
    extra_rows = np.array([r for r in extra_rows if table.found[r]])
    grey_a = grey_features(engine, lfw, np.flatnonzero(half_a), args.grey, args.seed)
    x_extra = np.concatenate(
        [np.concatenate([table.embeddings[extra_rows], table.crop_features[extra_rows]], 1)]
        + ([grey_a] if len(grey_a) else [])
    ).astype(np.float32)
    y_extra = np.full(len(x_extra), REAL)
    print(
        f"# extra real faces from LFW half A: {len(extra_rows)} photos (clean and one "
        f"degraded copy each) + {len(grey_a)} grey copies"
    )
    makers = candidates(args.seed)
    extra = (x_extra, y_extra)
    # the regularisation is chosen by 5-fold cross-validation inside the training
    # split only; the held-out split then judges that choice
    tuning = {
        name: cross_validate(make, x[train], y[train], args.seed, extra)
        for name, make in makers.items()
    }
    chosen = max(tuning, key=lambda name: tuning[name]["accuracy"]["mean"])
    model = fit_with(makers[chosen], x[train], y[train], extra)
    held_out = scores(y[test], model.predict(x[test]))
    print(line(f"ours/{chosen} held-out", held_out))
    # 5 folds over the whole set with the same recipe, as the baseline's
    cv = {chosen: cross_validate(makers[chosen], x, y, args.seed, extra)}
    folds = cv[chosen]
    print(
        f"ours/{chosen} 5-fold accuracy {folds['accuracy']['mean']:.4f} "
        f"+- {folds['accuracy']['std']:.4f}"
    )
    # 3. the LFW check on half B (never trained on), with the shipped arrays
    final = fit_with(makers[chosen], x, y, (x_extra, y_extra))
    arrays = export(final)
    runtime = CartoonModel(arrays, threshold=0.5)
    clean = (table.variant == 0) & table.found
    lfw_x = np.concatenate([table.embeddings[clean], table.crop_features[clean]], axis=1)
    in_b = half_b[np.flatnonzero(clean)]
    start = time.perf_counter()
    prob = runtime.probability_batch(lfw_x)
    ms = (time.perf_counter() - start) / len(lfw_x) * 1000
    one = time.perf_counter()
    for row in lfw_x[:500]:
        runtime.probability(row[: -len(CROP_FEATURES)], row[-len(CROP_FEATURES) :])
    ms_one = (time.perf_counter() - one) / 500 * 1000
    flagged = np.flatnonzero(prob >= 0.5)
    flagged_b = np.flatnonzero((prob >= 0.5) & in_b)
    names = [table.images[i] for i in np.flatnonzero(clean)]
    rate_b = len(flagged_b) / max(int(in_b.sum()), 1)
    print(
        f"LFW half B (never trained on): {len(flagged_b)} of {int(in_b.sum())} photos called "
        f"cartoons ({rate_b:.4%}); all 7,701: {len(flagged)} ({len(flagged) / len(lfw_x):.4%}); "
        f"limit {LFW_LIMIT:.1%}"
    )
    for i in flagged[np.argsort(-prob[flagged])][:20]:
        print(f"   {prob[i]:.3f} {names[i]}{'' if in_b[i] else ' (half A)'}")
    base_lfw = baseline_on_lfw(fitted, lfw, np.flatnonzero(half_b))
    print(f"the baseline on the same half-B photos: {base_lfw:.4%} called cartoons")
    degraded_b = (table.variant > 0) & table.found & np.tile(half_b, len(table.found) // n)
    deg_x = np.concatenate([table.embeddings[degraded_b], table.crop_features[degraded_b]], 1)
    deg_rate = float((runtime.probability_batch(deg_x) >= 0.5).mean())
    print(f"degraded copies of half B called cartoons: {deg_rate:.4%} of {len(deg_x)}")
    grey_b = grey_features(engine, lfw, np.flatnonzero(half_b), args.grey, args.seed + 1)
    grey_called = int((runtime.probability_batch(grey_b) >= 0.5).sum()) if len(grey_b) else 0
    print(f"grey copies of half-B photos called cartoons: {grey_called} of {len(grey_b)}")
    print(
        f"time per face: {ms_one:.4f} ms one at a time, {ms:.5f} ms batched "
        f"(baseline {base_ms:.4f} ms batched)"
    )
    report = {
        "recogniser_sha256": engine.files[1].sha256,
        "model_pack": args.model,
        "classifier": chosen,
        "features": f"unit embedding ({engine.recognizer.dim}) + {', '.join(CROP_FEATURES)}",
        "threshold": 0.5,
        "data": {
            "path": args.data.name,
            "sha256": digest,
            "images": len(y),
            "cartoons": int(y.sum()),
            "faces_detected": int(detected.sum()),
            "extra_real": f"LFW half A (seed {args.seed}): {len(extra_rows)} photos and "
            f"degraded copies, {len(grey_a)} grey copies, each weighted {EXTRA_WEIGHT}",
            "lfw_pairs_sha256": lfw.input_hashes,
        },
        "split": {"seed": args.seed, "test_size": 0.2, "stratified": True},
        "ours": {
            "held_out": held_out,
            "five_fold": cv[chosen],
            "tuning_on_training_split": tuning,
            "shipped": "the same recipe refitted on the whole set and the extra photos",
        },
        **result,
        "lfw": {
            "half_b_photos": int(in_b.sum()),
            "half_b_called_cartoon": len(flagged_b),
            "half_b_rate": rate_b,
            "all_photos": len(lfw_x),
            "all_called_cartoon": len(flagged),
            "limit": LFW_LIMIT,
            "flagged": [names[i] for i in flagged],
            "degraded_half_b_rate": deg_rate,
            "baseline_half_b_rate": base_lfw,
            "grey_half_b": {"checked": len(grey_b), "cartoons": grey_called},
        },
        "ms_per_face": {"one": ms_one, "batched": ms},
        "built": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m likeness_eval.cartoon " + " ".join(argv or []),
    }
    if max(rate_b, len(flagged) / len(lfw_x)) > LFW_LIMIT:
        print("FAIL: too many LFW photos called cartoons; the model is not written")
        raise SystemExit(1)
    if args.write:
        stem = args.out / CartoonModel.file_stem(engine.files[1].sha256)
        args.out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(stem.with_suffix(".npz"), **arrays)
        stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {stem}.npz and .json")


def baseline_on_lfw(model, lfw, indices: np.ndarray) -> float:
    """Share of LFW photos the baseline calls cartoons (its input: the centred half of
    the 250x250 photo, where LFW's face is, as 32x32 RGB)."""
    crops = []
    for i in indices:
        image = cv2.imread(str(lfw.image_root / lfw.images[i]))
        h, w = image.shape[:2]
        crops.append(image[h // 4 : h - h // 4, w // 4 : w - w // 4])
    return float((model.predict(pixels(crops)) == CARTOON).mean())


def grey_features(engine, lfw, indices: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Features of grey copies of up to ``limit`` LFW photos (a photo is not a
    cartoon because it is grey)."""
    from likeness.imaging import load_image

    chosen = np.random.default_rng(seed).permutation(indices)[:limit]
    out = []
    for i in chosen:
        image = load_image((lfw.image_root / lfw.images[i]).read_bytes())
        grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        faces = engine.detect(grey)
        if not faces:
            continue
        h, w = grey.shape[:2]
        crop = engine.align(grey, faces[choose_face(faces, w, h, FacePolicy.CENTRAL)])
        unit, _ = engine.embed_aligned([crop])
        out.append(np.concatenate([unit[0], crop_features(crop)]))
    return np.array(out, np.float32)


if __name__ == "__main__":
    main()
