"""Which clustering method, measured (issue 12): the same kNN graph, three methods,
on every face of LFW's 7,701 photos and on LFW mixed with IMFDB and Yale.

* thresholded components with cannot-link constraints (``threshold_components``);
* Chinese Whispers (``chinese_whispers``);
* HDBSCAN (scikit-learn) on the embeddings reduced to 64 dimensions by PCA
  (no threshold; min cluster size 2; noise faces are singletons; no constraints).

Quality is BCubed and pairwise precision, recall and F1 against the folder names
(the face nearest each photo's centre is labelled; other faces are not), plus the
cannot-link violations (two faces of one photo in one cluster), over a sweep of
thresholds::

    .venv/bin/python -m likeness_eval.clustering --lfw ../shared/datasets/lfw \\
        --mixed ../shared/datasets/cartoon-or-real --model-root ../shared/models
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from likeness.clustering import chinese_whispers, knn_edges, threshold_components

from likeness_eval.cluster_data import FaceSet, build
from likeness_eval.cluster_metrics import bcubed, cannot_link_violations, pairwise

THRESHOLDS = [round(0.30 + 0.05 * i, 2) for i in range(8)]  # 0.30 .. 0.65
K = 10


def images_of(lfw: Path, mixed: Path | None) -> list[tuple[Path, str, str]]:
    from likeness_eval.datasets import load_lfw

    pairs = load_lfw(lfw)
    out = [(pairs.image_root / name, name.split("/")[0], "LFW") for name in pairs.images]
    if mixed is not None:
        for folder, tag in (("IMFDB", "IMFDB"), ("Yale_face_database", "Yale")):
            for path in sorted((mixed / folder).glob("*.png")):
                out.append((path, f"{tag}:{path.stem.rsplit('_', 1)[0]}", tag))
    return out


def evaluate(faces: FaceSet, name: str) -> dict:
    n = len(faces.embeddings)
    start = time.perf_counter()
    edges = knn_edges(faces.embeddings, k=K, min_similarity=0.0)
    graph_s = time.perf_counter() - start
    print(
        f"\n## {name}: {n} faces, {int((faces.label >= 0).sum())} labelled, "
        f"{len(np.unique(faces.image))} photos; kNN graph (k={K}) {graph_s:.1f} s, "
        f"{len(edges)} edges"
    )
    print(
        f"{'method':22s} {'thr':>5s} {'BCubed P':>9s} {'R':>6s} {'F':>6s} "
        f"{'pair F':>7s} {'clusters':>8s} {'violations':>10s} {'s':>6s}"
    )
    rows = []

    def report(method, thr, labels, seconds):
        b, p = bcubed(labels, faces.label), pairwise(labels, faces.label)
        v = cannot_link_violations(labels, faces.image)
        row = {
            "method": method,
            "threshold": thr,
            "bcubed": b,
            "pairwise": p,
            "clusters": int(labels.max()) + 1,
            "violations": v,
            "seconds": seconds,
        }
        rows.append(row)
        print(
            f"{method:22s} {thr if thr is not None else '-':>5} {b['precision']:9.4f} "
            f"{b['recall']:6.4f} {b['f1']:6.4f} {p['f1']:7.4f} {row['clusters']:8d} "
            f"{v:10d} {seconds:6.2f}"
        )

    for thr in THRESHOLDS:
        for method, fn in (
            ("components", threshold_components),
            ("chinese whispers", chinese_whispers),
        ):
            start = time.perf_counter()
            labels = fn(n, edges, thr, groups=faces.image)
            report(method, thr, labels, time.perf_counter() - start)
    start = time.perf_counter()
    labels = hdbscan(faces.embeddings)
    report("hdbscan (pca 64)", None, labels, time.perf_counter() - start)
    return {"faces": n, "edges": len(edges), "graph_seconds": graph_s, "rows": rows}


def hdbscan(vectors: np.ndarray) -> np.ndarray:
    from sklearn.cluster import HDBSCAN
    from sklearn.decomposition import PCA

    reduced = PCA(64, random_state=0).fit_transform(vectors)
    labels = HDBSCAN(min_cluster_size=2).fit_predict(reduced)
    noise = labels < 0
    labels[noise] = labels.max() + 1 + np.arange(int(noise.sum()))
    return labels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", type=Path, required=True)
    parser.add_argument("--mixed", type=Path, help="cartoon-or-real folder (IMFDB, Yale)")
    parser.add_argument("--model-root", type=Path, required=True)
    parser.add_argument("--model", default="buffalo_s")
    parser.add_argument("--out", type=Path, default=Path("eval/out/clustering"))
    args = parser.parse_args(argv)
    from likeness_eval.cli import build_engine, default_cache_dir

    engine = build_engine(args.model, args.model_root)
    report = {}
    lfw_faces = build(engine, images_of(args.lfw, None), default_cache_dir())
    report["lfw"] = evaluate(lfw_faces, "LFW")
    if args.mixed is not None:
        mixed_faces = build(engine, images_of(args.lfw, args.mixed), default_cache_dir())
        report["mixed"] = evaluate(mixed_faces, "LFW + IMFDB + Yale")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out / 'report.json'}")


if __name__ == "__main__":
    main()
