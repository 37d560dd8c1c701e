"""``likeness feedback export``: write every feedback record as CSV or JSON lines
(formats in ``likeness.storage.feedback``). Registered by ``likeness.cli``."""

from __future__ import annotations

import argparse
import sys


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from sqlalchemy import inspect

    from likeness.errors import NotFoundError
    from likeness.settings import get_settings
    from likeness.storage import Database
    from likeness.storage.feedback import export_feedback

    db = Database(args.database_url or get_settings().sqlalchemy_url)
    try:
        # Exporting never changes the schema: a database without the table is an error.
        if not inspect(db.engine).has_table("feedback"):
            raise NotFoundError(
                f"no feedback table in the {db.backend} database; start the service once "
                "(it migrates the schema) or check LIKENESS_DATABASE_URL / --database-url"
            )
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
    feedback = subparsers.add_parser("feedback", help="votes on verifications")
    actions = feedback.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="write every feedback record (CSV or JSONL)")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--out", default="-", help="file to write (default: standard output)")
    export.add_argument(
        "--database-url", default=None, help="SQLAlchemy URL (default: LIKENESS_* settings)"
    )
    export.set_defaults(func=cmd_feedback_export)
