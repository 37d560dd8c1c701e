"""``likeness feedback export``: write every vote (on verifications and on search
results, told apart by ``kind``) as CSV or JSON lines (formats in
``likeness.storage.feedback``). Registered by ``likeness.cli``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

WHERE = "set LIKENESS_DATA_DIR or LIKENESS_DATABASE_URL, or pass --database-url"


def open_votes(database_url: str | None):
    """The existing database holding the votes, for reading: nothing is created (no
    stray SQLite file), and no schema is changed (no tables: a clear error)."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from likeness.errors import NotFoundError
    from likeness.settings import get_settings
    from likeness.storage import Database

    url = make_url(database_url or get_settings().sqlalchemy_url)
    sqlite_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if sqlite_file and not Path(url.database).is_file():
        raise NotFoundError(f"no database at {Path(url.database).resolve()}; {WHERE}")
    db = Database(url.render_as_string(hide_password=False))
    tables = inspect(db.engine)
    if not (tables.has_table("feedback") and tables.has_table("search_feedback")):
        db.dispose()
        raise NotFoundError(
            f"no feedback tables in {url.render_as_string(hide_password=True)}; start the "
            f"service once (it migrates the schema), or {WHERE}"
        )
    return db


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from likeness.storage.feedback import export_feedback

    db = open_votes(args.database_url)
    try:
        if args.out == "-":
            count = export_feedback(db, args.format, sys.stdout)
        else:
            with open(args.out, "w", encoding="utf-8", newline="") as out:
                count = export_feedback(db, args.format, out)
    finally:
        db.dispose()
    print(f"exported {count} feedback records ({args.format})", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    feedback = subparsers.add_parser("feedback", help="votes on verifications and searches")
    actions = feedback.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="write every feedback record (CSV or JSONL)")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--out", default="-", help="file to write (default: standard output)")
    export.add_argument(
        "--database-url", default=None, help="SQLAlchemy URL (default: LIKENESS_* settings)"
    )
    export.set_defaults(func=cmd_feedback_export)
