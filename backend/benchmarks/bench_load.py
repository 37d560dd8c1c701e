"""Load and faults over real HTTP on loopback (issue 10).

1. Saturation: ``--clients`` threads send ``POST /api/verify`` (LFW pairs, a new
   connection each) to Gunicorn with 2 workers for ``--seconds`` (300 by default):
   throughput, p50/p99 latency, errors (5xx, refused connections), and each
   worker's RSS at the start and the end.
2. A worker killed with SIGKILL mid-run (``--kill-worker``): Gunicorn replaces it;
   the requests that fail are counted (those in flight on that worker), and the
   time until both workers serve again.

    .venv/bin/python backend/benchmarks/bench_load.py --model-root ../shared/models \
        --lfw-dir ../shared/datasets/lfw --seconds 300
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from bench_api import lfw_pairs  # noqa: E402

from support import GunicornServer  # noqa: E402


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def run_load(server: GunicornServer, pairs, clients: int, seconds: float, on_tick=None) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(k: int) -> None:
        i = k
        while time.monotonic() < deadline:
            a, b = pairs[i % len(pairs)]
            i += clients
            start = time.perf_counter()
            try:
                r = requests.post(
                    f"{server.url}/api/verify",
                    files={"image1": ("a.jpg", a), "image2": ("b.jpg", b)},
                    timeout=60,
                )
                kind = None if r.status_code < 500 else f"HTTP {r.status_code}"
            except requests.RequestException as exc:
                kind = type(exc).__name__
            with lock:
                if kind is None:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors[kind] = errors.get(kind, 0) + 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    if on_tick is not None:
        on_tick()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "throughput": len(latencies) / wall,
        "p50_ms": float(np.percentile(ms, 50)) if len(ms) else float("nan"),
        "p99_ms": float(np.percentile(ms, 99)) if len(ms) else float("nan"),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-root", type=Path, required=True)
    parser.add_argument("--lfw-dir", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--kill-seconds", type=float, default=30, help="length of phase 2")
    args = parser.parse_args()
    pairs = lfw_pairs(args.lfw_dir, 50)
    with tempfile.TemporaryDirectory() as folder:
        server = GunicornServer(args.model_root, Path(folder), workers=2).start()
        try:
            workers = sorted(server.worker_pids())
            start_rss = {pid: rss_mb(pid) for pid in workers}
            print(
                f"# 2 workers x {os.environ.get('LIKENESS_THREADS', 4)} threads, "
                f"{args.clients} clients, {args.seconds:.0f} s of POST /api/verify",
                flush=True,
            )
            result = run_load(server, pairs, args.clients, args.seconds)
            end_rss = {pid: rss_mb(pid) for pid in workers}
            print(
                f"saturation: {result['requests']} requests, {result['throughput']:.1f} req/s, "
                f"p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms, "
                f"errors {sum(result['errors'].values())} {result['errors'] or ''}"
            )
            for pid in workers:
                print(
                    f"worker {pid}: RSS {start_rss[pid]:.0f} MB at start, "
                    f"{end_rss[pid]:.0f} MB at end"
                )

            victim = workers[0]
            replaced: dict = {}

            def kill_later() -> None:
                time.sleep(args.kill_seconds / 3)
                os.kill(victim, signal.SIGKILL)
                killed_at = time.monotonic()
                while time.monotonic() - killed_at < 120:
                    now = server.worker_pids()
                    if len(now) == 2 and victim not in now:
                        replaced["seconds"] = time.monotonic() - killed_at
                        return
                    time.sleep(0.05)

            killer = threading.Thread(target=kill_later)
            faults = run_load(server, pairs, args.clients, args.kill_seconds, on_tick=killer.start)
            killer.join()
            print(
                f"worker SIGKILLed after {args.kill_seconds / 3:.0f} s "
                f"of {args.kill_seconds:.0f} s: "
                f"{faults['requests']} answered, failed {sum(faults['errors'].values())} "
                f"{faults['errors'] or ''}; replacement worker process up after "
                f"{replaced.get('seconds', float('nan')):.1f} s (then it loads its models)"
            )
        finally:
            server.stop()
    print(
        "# command: .venv/bin/python backend/benchmarks/bench_load.py "
        f"--model-root {args.model_root} --lfw-dir {args.lfw_dir} --seconds {args.seconds:.0f}"
    )


if __name__ == "__main__":
    main()
