"""Distributed indexing throughput, measured in one run on the same LFW photos and the
same PostgreSQL server: the in-process bulk indexer, then Celery workers (1, then 2
worker processes of one ONNX Runtime thread each) through ``index_distributed``.
Each run indexes into a fresh PostgreSQL schema. A worker's time is taken from the
job record (first batch started to last batch finished), so worker start-up and
model loading are not counted; the in-process run is timed around
``index_batch`` the same way (library already open).

Then a projection for 2 million photos on N machines of M cores, from the measured
per-process rate and the measured efficiency of two processes on this machine. It
is an extrapolation, and says what it leaves out.

  .venv/bin/python backend/benchmarks/bench_distributed.py \\
      --model-root ../shared/models --lfw-dir ../shared/datasets/lfw --images 600
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from likeness.library import FaceRecognitionLibrary
from likeness.settings import Settings
from likeness.storage.db import make_engine


@contextmanager
def schema(base_url: str):
    admin = make_engine(base_url).execution_options(isolation_level="AUTOCOMMIT")
    name = f"likeness_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        url = make_url(base_url).update_query_dict({"options": f"-csearch_path={name}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def photos(lfw_dir: Path, count: int) -> list[Path]:
    root = lfw_dir / "lfw-deepfunneled"
    files = sorted(root.glob("*/*.jpg"))
    return files[:count]


def settings(args, data: Path, url: str, **more) -> Settings:
    return Settings(model_root=args.model_root, model_pack="buffalo_s", data_dir=data,
                    database_url=url, **more)  # fmt: skip


def in_process(args, files, tmp: Path) -> float:
    with (
        schema(args.database_url) as url,
        FaceRecognitionLibrary(settings=settings(args, tmp / "inproc", url)) as lib,
    ):
        lib.engine.warm_up()
        start = time.perf_counter()
        report = lib.index_batch(files)
        seconds = time.perf_counter() - start
        assert report.indexed == len(files), report.as_dict()
    return len(files) / seconds


def distributed(args, files, tmp: Path, processes: int) -> float:
    import redis

    redis.Redis.from_url(args.broker).flushdb()
    with schema(args.database_url) as url:
        env = {**os.environ, "LIKENESS_MODEL_ROOT": str(args.model_root),
               "LIKENESS_MODEL_PACK": "buffalo_s", "LIKENESS_DATABASE_URL": url,
               "LIKENESS_BROKER_URL": args.broker,
               "LIKENESS_DATA_DIR": str(tmp / "worker")}  # fmt: skip
        log = tmp / f"worker-{processes}.log"
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "likeness"), "worker", "--concurrency",
             str(processes), "--loglevel", "WARNING"],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            with FaceRecognitionLibrary(settings=settings(
                args, tmp / f"submit-{processes}", url, broker_url=args.broker,
                index_batch_size=args.batch)) as lib:  # fmt: skip
                # every process loads its models on its first batch: not timed
                warm = lib.index_distributed(files[: 2 * processes], batch_size=1)
                assert lib.runner.wait(warm.id, timeout=600).state == "succeeded"
                rest = files[2 * processes :]
                job = lib.index_distributed(rest)
                done = lib.runner.wait(job.id, timeout=3600)
                assert done.state == "succeeded", done.error
                assert done.result["indexed"] == len(rest), done.result
                seconds = (done.finished_at - done.started_at).total_seconds()
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
    return len(rest) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-root", type=Path, required=True)
    parser.add_argument("--lfw-dir", type=Path, required=True)
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--database-url", default=os.environ.get(
        "LIKENESS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))  # fmt: skip
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()
    files = photos(args.lfw_dir, args.images)
    tmp = Path(tempfile.mkdtemp(prefix="likeness-bench-dist-"))
    try:
        print(f"# {len(files)} LFW photos, batches of {args.batch}, {os.cpu_count()} cores",
              flush=True)  # fmt: skip
        rates = {"in-process (2 threads)": in_process(args, files, tmp)}
        print(f"in-process            {rates['in-process (2 threads)']:6.1f} images/s", flush=True)
        for n in (1, 2):
            rate = distributed(args, files, tmp, n)
            rates[f"{n} worker processes"] = rate
            ratio = rate / rates["in-process (2 threads)"]
            print(f"Celery, {n} process{'es' if n > 1 else '  '}   {rate:6.1f} images/s "
                  f"({ratio:.2f}x in-process)", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    one, two = rates["1 worker processes"], rates["2 worker processes"]
    efficiency = two / (2 * one)
    print(f"\n# per process (1 ONNX thread): {one:.1f} images/s; 2 processes on 2 cores: "
          f"{efficiency:.0%} of twice that")  # fmt: skip
    print("# projection for 2,000,000 photos (hours), one worker process per core, at "
          "that efficiency; leaves out the database's write ceiling and reading the photos "
          "over a network share")  # fmt: skip
    print("machines x cores " + "".join(f"{m:>9d}" for m in (2, 8, 16, 32)))
    for machines in (1, 2, 4, 8):
        hours = [2_000_000 / (machines * m * one * efficiency) / 3600 for m in (2, 8, 16, 32)]
        print(f"{machines:>16d} " + "".join(f"{h:9.1f}" for h in hours))


if __name__ == "__main__":
    main()
