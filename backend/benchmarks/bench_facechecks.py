"""What the face checks cost, measured in one run on the same LFW images.

Over real HTTP to Gunicorn (1 worker, one request at a time), the variants are
interleaved image by image so that drift hits them all alike:

* ``/api/detect`` with ``checks=false`` (detection alone: the baseline), with the
  checks (align + embed + checks for every face), and with liveness too;
* ``/api/verify`` with ``checks=false`` and with the checks (target: at most +5%,
  since verify embeds anyway), and with liveness;

then, in this process on the same faces, each check alone per face: the signals and
quality score, the cartoon classifier (target < 1 ms) and liveness (target < 15 ms).

    .venv/bin/python backend/benchmarks/bench_facechecks.py \\
        --model-root ../shared/models --lfw-dir ../shared/datasets/lfw
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from bench_api import lfw_pairs  # noqa: E402

from likeness.engine import FaceEngine  # noqa: E402
from likeness.quality import FaceGate  # noqa: E402
from likeness.quality.cartoon import crop_features  # noqa: E402
from likeness.quality.signals import measure  # noqa: E402
from likeness.settings import Settings  # noqa: E402

from support import GunicornServer  # noqa: E402

VARIANTS = {
    "detect, no checks (baseline)": ("detect", {"checks": "false"}),
    "detect + checks": ("detect", {}),
    "detect + checks + liveness": ("detect", {"liveness": "true"}),
    "verify, no checks": ("verify", {"checks": "false"}),
    "verify + checks": ("verify", {}),
    "verify + checks + liveness": ("verify", {"liveness": "true"}),
}


def per_face(model_root: Path, pairs, threads: int) -> dict[str, list[float]]:
    """Each check alone, per face, in this process (ms)."""
    settings = Settings(model_root=model_root, model_pack="buffalo_s", intra_op_threads=threads)
    engine = FaceEngine(settings)
    gate = FaceGate(engine)
    liveness = gate.liveness_model()
    times: dict[str, list[float]] = {"signals + quality": [], "cartoon": [], "liveness": []}
    for a, _ in pairs:
        image = cv2.imdecode(np.frombuffer(a, np.uint8), cv2.IMREAD_COLOR)
        face = engine.detect(image)[0]
        crop = engine.align(image, face)
        unit, norms = engine.embed_aligned([crop])
        start = time.perf_counter()
        signals = measure(face, crop, float(norms[0]), (image.shape[1], image.shape[0]))
        gate.quality_model.score(signals)
        times["signals + quality"].append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        gate.cartoon_model.probability(unit[0], crop_features(crop))
        times["cartoon"].append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        liveness.check(image, face)
        times["liveness"].append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-root", type=Path, required=True)
    parser.add_argument("--lfw-dir", type=Path, required=True)
    parser.add_argument("--images", type=int, default=60, help="LFW pairs to use")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    pairs = lfw_pairs(args.lfw_dir, args.images)
    threads = 2
    env = {"LIKENESS_INTRA_OP_THREADS": str(threads), "LIKENESS_RATE_LIMITS": "false"}
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    data_dir = Path(tempfile.mkdtemp(prefix="likeness-bench-"))
    server = GunicornServer(args.model_root, data_dir, workers=1, **env)
    server.start()
    try:
        http = requests.Session()
        for _ in range(2):  # warm up, liveness models included
            for endpoint, options in VARIANTS.values():
                _call(http, server.url, endpoint, options, pairs[0])
        for _ in range(args.rounds):
            for pair in pairs:
                for name, (endpoint, options) in VARIANTS.items():
                    start = time.perf_counter()
                    _call(http, server.url, endpoint, options, pair)
                    times[name].append((time.perf_counter() - start) * 1000)
    finally:
        server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)
    print(
        f"# {len(pairs)} LFW pairs x {args.rounds} rounds, 1 Gunicorn worker, "
        f"{threads} ONNX Runtime threads, one request at a time"
    )
    base = {
        "detect": statistics.median(times["detect, no checks (baseline)"]),
        "verify": statistics.median(times["verify, no checks"]),
    }
    print(f"{'request':32s} {'p50 ms':>8s} {'p95 ms':>8s}  vs no checks")
    for name, values in times.items():
        endpoint = VARIANTS[name][0]
        p50, p95 = statistics.median(values), float(np.percentile(values, 95))
        print(f"{name:32s} {p50:8.1f} {p95:8.1f}  x{p50 / base[endpoint]:.3f}")
    ratio = statistics.median(times["verify + checks"]) / base["verify"]
    print(
        f"verify + checks / verify: x{ratio:.3f} (target <= x1.05): "
        f"{'met' if ratio <= 1.05 else 'MISSED'}"
    )
    faces = per_face(args.model_root, pairs, threads)
    print("per face, in process:")
    for name, values in faces.items():
        print(
            f"  {name:20s} p50 {statistics.median(values):7.3f} ms  "
            f"p95 {float(np.percentile(values, 95)):7.3f} ms"
        )
    print(
        f"cartoon < 1 ms: {'met' if statistics.median(faces['cartoon']) < 1 else 'MISSED'}; "
        f"liveness < 15 ms: {'met' if statistics.median(faces['liveness']) < 15 else 'MISSED'}"
    )
    print(
        "# command: .venv/bin/python backend/benchmarks/bench_facechecks.py "
        f"--model-root {args.model_root} --lfw-dir {args.lfw_dir} --images {args.images}"
    )


def _call(http, url: str, endpoint: str, options: dict, pair) -> None:
    if endpoint == "detect":
        files = {"image": ("a.jpg", pair[0], "image/jpeg")}
    else:
        files = {
            "image1": ("a.jpg", pair[0], "image/jpeg"),
            "image2": ("b.jpg", pair[1], "image/jpeg"),
        }
    response = http.post(f"{url}/api/{endpoint}", files=files, data=options, timeout=60)
    response.raise_for_status()


if __name__ == "__main__":
    main()
