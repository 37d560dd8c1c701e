"""The published cartoon-vs-real baseline, reproduced (issue 11): 32x32 RGB
pixels, KernelPCA(80, polynomial kernel), MLP(100, 100), on
``../shared/datasets/cartoon-or-real`` (IIIT-CFW cartoons against IMFDB and Yale
photos), a stratified 80/20 split with a fixed seed, then 5-fold cross-validation.
Published: 97.2% accuracy, precision 1.0 on real faces.

    .venv/bin/python backend/benchmarks/cartoon_baseline.py \
        --data ../shared/datasets/cartoon-or-real
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import cv2
import numpy as np
from sklearn.decomposition import KernelPCA
from sklearn.metrics import accuracy_score, precision_score, recall_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline

CARTOON, REAL = 1, 0
FOLDERS = {"IIIT-CFW": CARTOON, "IMFDB": REAL, "Yale_face_database": REAL}


def load(data: Path) -> tuple[np.ndarray, np.ndarray, str]:
    pixels, labels, digest = [], [], hashlib.sha256()
    for folder, label in FOLDERS.items():
        for path in sorted((data / folder).glob("*.png")):
            raw = path.read_bytes()
            digest.update(raw)
            image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
            small = cv2.resize(image, (32, 32), interpolation=cv2.INTER_AREA)
            pixels.append(small[:, :, ::-1].reshape(-1) / 255.0)  # RGB
            labels.append(label)
    return np.array(pixels, np.float32), np.array(labels), digest.hexdigest()


def baseline(seed: int):
    return make_pipeline(
        KernelPCA(n_components=80, kernel="poly"),
        MLPClassifier(hidden_layer_sizes=(100, 100), max_iter=500, random_state=seed),
    )


def scores(truth, predicted) -> dict:
    return {
        "accuracy": accuracy_score(truth, predicted),
        "precision_real": precision_score(truth, predicted, pos_label=REAL, zero_division=0),
        "recall_cartoon": recall_score(truth, predicted, pos_label=CARTOON, zero_division=0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=20261125)
    args = parser.parse_args()
    x, y, digest = load(args.data)
    print(f"# {len(y)} faces ({int(y.sum())} cartoons), data sha256 {digest[:16]}")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=args.seed
    )
    model = baseline(args.seed).fit(x_train, y_train)
    start = time.perf_counter()
    predicted = model.predict(x_test)
    per_face = (time.perf_counter() - start) / len(x_test) * 1000
    held_out = scores(y_test, predicted)
    print(
        "held-out 20%: "
        + ", ".join(f"{k} {v:.4f}" for k, v in held_out.items())
        + f"; {per_face:.3f} ms per face (batched)"
    )
    folds = []
    for train, test in StratifiedKFold(5, shuffle=True, random_state=args.seed).split(x, y):
        fitted = baseline(args.seed).fit(x[train], y[train])
        folds.append(scores(y[test], fitted.predict(x[test])))
    for key in folds[0]:
        values = np.array([f[key] for f in folds])
        print(f"5-fold {key}: {values.mean():.4f} +- {values.std():.4f}")
    print(f"# command: .venv/bin/python backend/benchmarks/cartoon_baseline.py --data {args.data}")


if __name__ == "__main__":
    main()
