"""1:N identification on real faces (LFW) through FaceRecognitionLibrary.

Closed set: for every LFW identity with two or more images, the first image (by
file name) is enrolled; every other image of those people is a probe. Reports
rank-1 and rank-5 accuracy (is the true person first / among the first five
candidates), and rank-1 at the threshold (first AND above the 1:N threshold,
``settings.gallery_threshold``).
Open set: every image of the people with exactly one image is a probe of someone
not enrolled; reports the share answered "unknown" at the 1:N threshold.

Calibration: the same probes at thresholds from 0.20 to 0.60 give the open-set
false positive identification rate (FPIR: strangers matched to someone) and the
detection-and-identification rate (DIR: enrolled probes whose first answer is
right AND above the threshold), and the lowest threshold with FPIR <= 1%.
A stranger is compared with every enrolled person, so FPIR grows with the
gallery's size: calibrate on a gallery the size of yours.

Deterministic subset: ``--every N`` keeps every N-th identity (sorted by name).

  .venv/bin/python backend/benchmarks/bench_identification.py \\
      --model-root ../shared/models --lfw-dir ../shared/datasets/lfw
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from likeness.errors import LikenessError
from likeness.library import FaceRecognitionLibrary
from likeness.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-root", default="../shared/models")
    parser.add_argument("--model", default="buffalo_s")
    parser.add_argument("--lfw-dir", default="../shared/datasets/lfw")
    parser.add_argument("--every", type=int, default=1, help="keep every N-th identity")
    parser.add_argument("--face-policy", default=None, help="largest | central (default: settings)")
    args = parser.parse_args()

    root = Path(args.lfw_dir) / "lfw-deepfunneled"
    people = sorted(p for p in root.iterdir() if p.is_dir())[:: args.every]
    photos = {p.name: sorted(p.glob("*.jpg")) for p in people}
    enrolled = {name: files for name, files in photos.items() if len(files) >= 2}
    singles = {name: files for name, files in photos.items() if len(files) == 1}
    overrides = {"model_root": Path(args.model_root), "model_pack": args.model, "workers": 1}
    if args.face_policy:
        overrides["face_policy"] = args.face_policy
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=None, **overrides)
        lib = FaceRecognitionLibrary(settings=settings)
        lib.engine.warm_up()
        threshold = lib.search_threshold
        names = list(enrolled)
        start = time.perf_counter()
        report = lib.index_batch([enrolled[n][0] for n in names], persons=names)
        enrol_s = time.perf_counter() - start
        failed_enrol = {Path(f.source).parent.name for f in report.failed}

        rank1 = rank5 = rank1_thr = closed = closed_failed = 0
        latencies = []
        closed_top: list[tuple[float, bool]] = []  # (first score, first is right)
        open_top: list[float] = []
        for name in names:
            if name in failed_enrol:
                continue
            for probe in enrolled[name][1:]:
                try:
                    result = lib.search(probe, top_k=5)
                except LikenessError:
                    closed_failed += 1
                    continue
                latencies.append(result.timings_ms.get("search", 0.0))
                closed += 1
                ranked = [h.person_name for h in result.candidates]
                if result.candidates:
                    closed_top.append((result.candidates[0].score, ranked[0] == name))
                rank1 += bool(ranked and ranked[0] == name)
                rank5 += name in ranked[:5]
                rank1_thr += bool(result.identity and result.identity.person_name == name)
        unknown = open_total = open_failed = 0
        for files in singles.values():
            try:
                result = lib.search(files[0], top_k=5)  # at the 1:N threshold
            except LikenessError:
                open_failed += 1
                continue
            open_total += 1
            unknown += result.unknown
            if result.candidates:
                open_top.append(result.candidates[0].score)
        sweep = []
        closed_scores = np.array([s for s, _ in closed_top])
        closed_right = np.array([r for _, r in closed_top], bool)
        open_scores = np.array(open_top)
        for t in np.round(np.arange(0.20, 0.6001, 0.02), 2):
            sweep.append(
                {
                    "threshold": float(t),
                    "fpir": round(float((open_scores >= t).sum()) / max(open_total, 1), 4),
                    "dir": round(
                        float(((closed_scores >= t) & closed_right).sum()) / max(closed, 1), 4
                    ),
                }
            )
        calibrated = next((r for r in sweep if r["fpir"] <= 0.01), None)
        out = {
            "model": args.model,
            "face_policy": settings.face_policy.value,
            "threshold": threshold,
            "identities_in_subset": len(people),
            "every": args.every,
            "enrolled_persons": report.indexed,
            "enrol_failures": len(report.failed),
            "enrol_seconds": round(enrol_s, 1),
            "closed_set_probes": closed,
            "closed_set_probe_failures": closed_failed,
            "rank1": round(rank1 / max(closed, 1), 4),
            "rank5": round(rank5 / max(closed, 1), 4),
            "rank1_above_threshold": round(rank1_thr / max(closed, 1), 4),
            "open_set_probes": open_total,
            "open_set_probe_failures": open_failed,
            "open_set_unknown_rate": round(unknown / max(open_total, 1), 4),
            "sweep": sweep,
            "lowest_threshold_fpir_1pct": calibrated,
            "search_ms_p50": round(float(np.percentile(latencies, 50)), 3) if latencies else None,
        }
        print(json.dumps(out, indent=2))
        lib.close()


if __name__ == "__main__":
    main()
