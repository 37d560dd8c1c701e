"""``likeness jobs [--kind K] [--limit N] [--json]``: recent jobs and their progress
(registered by ``likeness.cli``)."""

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
