"""API overhead and worker scaling, measured in one run on the same images.

1. The engine alone, in this process: ``likeness.verification.verify`` on the
   same image bytes (decode, detect, embed, compare), with the same ONNX Runtime
   thread count as a 1-worker server.
2. ``POST /api/verify`` over real HTTP to Gunicorn with 1 worker, one request at a
   time: p50/p95 latency, and the ratio API p50 / engine p50.
3. Throughput (requests/s) with concurrent clients against 1 and 2 workers.

Usage (or `make bench`):
    python backend/benchmarks/bench_api.py \
        --model-root ../shared/models --lfw-dir ../shared/datasets/lfw
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from likeness.engine import FaceEngine  # noqa: E402
from likeness.settings import Settings  # noqa: E402
from likeness.verification import verify  # noqa: E402
from likeness_eval.latency import post_verify as post  # noqa: E402

from support import GunicornServer  # noqa: E402


def lfw_pairs(lfw_dir: Path, count: int) -> list[tuple[bytes, bytes]]:
    lines = (lfw_dir / "pairs.txt").read_text().splitlines()[1:]
    root = lfw_dir / "lfw-deepfunneled"
    if not root.is_dir():
        root = lfw_dir / "lfw"
    pairs = []
    for line in lines[:: max(1, len(lines) // count)][:count]:
        p = line.split("\t")
        a, b = ((p[0], p[1]), (p[0], p[2])) if len(p) == 3 else ((p[0], p[1]), (p[2], p[3]))
        pairs.append(tuple((root / n / f"{n}_{int(i):04d}.jpg").read_bytes() for n, i in (a, b)))
    return pairs


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def report(label: str, values: list[float]) -> None:
    print(f"{label:32s} p50 {pct(values, 50):6.1f} ms  p95 {pct(values, 95):6.1f} ms")


def latency(model_root: Path, url: str, pairs, threads: int, rounds: int, spinning: bool):
    """Engine alone and API, one request at a time, interleaved pair by pair so
    that drift in machine speed hits both the same way."""
    engine = FaceEngine(
        Settings(
            model_root=model_root,
            model_pack="buffalo_s",
            intra_op_threads=threads,
            ort_spinning=spinning,
        )
    )
    engine.warm_up()
    session = requests.Session()
    for a, b in pairs[:5]:
        verify(engine, {"image1": a, "image2": b})
        post(session, url, a, b)
    engine_ms, api_ms = [], []
    for _ in range(rounds):
        for a, b in pairs:
            start = time.perf_counter()
            verify(engine, {"image1": a, "image2": b})
            engine_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            post(session, url, a, b)
            api_ms.append((time.perf_counter() - start) * 1000)
    return engine_ms, api_ms


def throughput(url: str, pairs, clients: int, seconds: float) -> float:
    done = [0] * clients
    stop = time.monotonic() + seconds

    def client(k: int) -> None:
        session = requests.Session()
        i = k
        while time.monotonic() < stop:
            a, b = pairs[i % len(pairs)]
            post(session, url, a, b)
            done[k] += 1
            i += clients

    for k in range(clients):  # warm each worker
        post(requests.Session(), url, *pairs[k % len(pairs)])
    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-root", type=Path, required=True)
    parser.add_argument("--lfw-dir", type=Path, required=True)
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--spinning",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="ONNX Runtime thread spinning, for the engine and the servers alike",
    )
    args = parser.parse_args()
    pairs = lfw_pairs(args.lfw_dir, args.pairs)
    cores = os.cpu_count() or 1
    print(
        f"buffalo_s, {len(pairs)} LFW pairs x {args.rounds} rounds, {cores} cores, "
        f"ORT spinning {'on' if args.spinning else 'off'}"
    )

    results = {}
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"likeness-bench-{os.getpid()}"
    # (workers, ONNX Runtime threads per worker); 0 = the default, cores / workers.
    for workers, threads in ((1, 0), (1, 1), (2, 0)):
        server = GunicornServer(
            args.model_root,
            tmp / f"w{workers}t{threads}",
            workers=workers,
            LIKENESS_LOG_LEVEL="WARNING",
            LIKENESS_ORT_SPINNING=str(args.spinning).lower(),
            LIKENESS_INTRA_OP_THREADS=str(threads),
        ).start()
        try:
            if (workers, threads) == (1, 0):
                engine_ms, api_ms = latency(
                    args.model_root,
                    server.url,
                    pairs,
                    threads=cores,
                    rounds=args.rounds,
                    spinning=args.spinning,
                )
                report(f"engine alone ({cores} threads)", engine_ms)
                report("API, 1 worker, sequential", api_ms)
                ratio = pct(api_ms, 50) / pct(engine_ms, 50)
                print(f"API p50 / engine p50 = {ratio:.3f}   (target <= 1.15)")
            clients = 2 * workers
            rate = throughput(server.url, pairs, clients=clients, seconds=args.seconds)
            results[(workers, threads)] = rate
            per_worker = threads or cores // workers
            print(
                f"throughput, {workers} worker(s) x {per_worker} ORT thread(s), "
                f"{clients} clients: {rate:.1f} req/s"
            )
        finally:
            server.stop()
    scale = results[(2, 0)] / results[(1, 0)]
    print(f"2 workers / 1 worker (defaults) = {scale:.2f}x   (target >= 1.6)")
    same = results[(2, 0)] / results[(1, 1)]
    print(f"2 workers / 1 worker (1 ORT thread each) = {same:.2f}x")
    print(
        f"summary: api_over_engine_p50={ratio:.3f} workers_scaling={scale:.2f} "
        f"engine_p50_ms={statistics.median(engine_ms):.1f}"
    )


if __name__ == "__main__":
    main()
