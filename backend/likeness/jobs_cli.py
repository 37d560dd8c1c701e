"""``likeness jobs [--kind K] [--limit N] [--json]``: recent jobs and their progress;
``likeness worker``: a Celery worker for scale-out (registered by ``likeness.cli``)."""

from __future__ import annotations

import argparse
import json


def cmd_jobs(args: argparse.Namespace) -> int:
    from likeness.jobs import JobStore
    from likeness.settings import load_settings
    from likeness.storage import Database

    settings = load_settings(args.config)
    database = Database(settings.sqlalchemy_url)
    try:
        database.migrate()
        jobs = JobStore(database).list(args.kind, args.limit)
    finally:
        database.dispose()
    if args.json:
        print(json.dumps([job.as_dict() for job in jobs], indent=2))
        return 0
    if not jobs:
        print("no jobs")
    for job in jobs:
        total = "?" if job.total is None else job.total
        what = job.error["code"] if job.error else (job.message or "")
        print(
            f"{job.id}  {job.kind:20s} {job.state:10s} {job.done}/{total}  "
            f"{job.created_at:%Y-%m-%d %H:%M:%S}  {what}"
        )
    return 0


def worker_library(config: str | None):
    """A worker process's library: settings from the environment (and ``config``),
    ONNX Runtime at one thread unless ``LIKENESS_INTRA_OP_THREADS`` says otherwise
    (scale by processes), and no search index (a worker only writes the gallery:
    nothing to build at start, to hold, to save per batch, or to keep an erased face
    in)."""
    from likeness.library import FaceRecognitionLibrary
    from likeness.settings import load_settings

    settings = load_settings(config)
    update: dict = {"gallery_index": False}
    if settings.intra_op_threads == 0:
        update["intra_op_threads"] = 1
    return FaceRecognitionLibrary(settings=settings.model_copy(update=update), bulk_workers=1)


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a Celery worker on this machine until stopped (Ctrl-C, SIGTERM)."""
    import os
    import sys

    from likeness.jobs.celery_app import QUEUES, make_celery
    from likeness.settings import load_settings

    settings = load_settings(args.config)
    if not settings.broker_url:
        print("likeness worker: set LIKENESS_BROKER_URL (e.g. redis://127.0.0.1:6379/0)",
              file=sys.stderr)  # fmt: skip
        return 2
    if not settings.broker_url.startswith(("redis://", "rediss://", "amqp://")):
        print(f"likeness worker: LIKENESS_BROKER_URL must start with redis:// (or rediss://, "
              f"amqp://), e.g. redis://127.0.0.1:6379/0; it is {settings.broker_url!r}",
              file=sys.stderr)  # fmt: skip
        return 2
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown or not queues:
        print(f"likeness worker: unknown queue {', '.join(unknown) or '(none)'}; "
              f"choose from {', '.join(QUEUES)}", file=sys.stderr)  # fmt: skip
        return 2
    from likeness.jobs.celery_tasks import use_context

    use_context(lambda: worker_library(args.config))
    app = make_celery(settings)
    app.worker_main([
        "worker", "--queues", ",".join(queues),
        "--concurrency", str(args.concurrency or os.cpu_count() or 1),
        "--loglevel", args.loglevel, "--without-gossip", "--without-mingle",
        *(["--hostname", args.hostname] if args.hostname else []),
    ])  # fmt: skip
    return 0


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("jobs", help="recent jobs (clustering runs...) and their progress")
    parser.add_argument("--kind", help="only jobs of this kind")
    parser.add_argument("--limit", type=_positive, default=20, help="how many (default 20)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--config", help="YAML settings file (else LIKENESS_CONFIG / env)")
    parser.set_defaults(func=cmd_jobs)

    worker = sub.add_parser(
        "worker", help="a Celery worker: runs queued jobs and distributed indexing batches"
    )
    worker.add_argument("--queues", default="index,jobs",
                        help="comma-separated: index, jobs, cluster (give cluster one "
                        "worker process of its own; default index,jobs)")  # fmt: skip
    worker.add_argument("--concurrency", type=_positive, default=None,
                        help="worker processes, one ONNX thread each (default: cores)")  # fmt: skip
    worker.add_argument("--loglevel", default="INFO", help="Celery's log level")
    worker.add_argument("--hostname", help="worker name (default: celery@<host>)")
    worker.add_argument("--config", help="YAML settings file (else LIKENESS_CONFIG / env)")
    worker.set_defaults(func=cmd_worker)
