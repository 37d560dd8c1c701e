"""``likeness feedback export``: write every vote (on verifications and on search
results, told apart by ``kind``) as CSV or JSON lines (formats in
``likeness.storage.feedback``). Registered by ``likeness.cli``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

WHERE = "set LIKENESS_DATA_DIR or LIKENESS_DATABASE_URL, or pass --database-url"


def open_votes(database_url: str | None):
    """The existing database holding the votes: nothing is created (no stray SQLite
    file), and no schema is changed (no tables: a clear error). Only the audit entry
    of the export is written."""
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


def _print_balance(report: dict, out: str) -> None:
    checks = report["checks"]
    dropped = ", ".join(
        f"{k[8:].replace('_', ' ')} {v}" for k, v in checks.items() if k.startswith("dropped_")
    )
    say = sys.stderr.write
    say(
        f"{report['rows']} {report['format']} from {checks.get('votes', 0)} votes -> {out} "
        f"({report['faces_with_crops']} faces with crops)\n"
    )
    say(
        f"  dropped: {dropped or 'none'}; faces never checked: {checks.get('faces_unchecked', 0)}\n"
    )
    for side, c in report["splits"].items():
        if report["format"] == "pairs":
            rows = f"{c.get('genuine', 0)} genuine and {c.get('impostor', 0)} impostor pairs"
            rows += (
                f" ({c.get('from_verify', 0)} from verify, {c.get('from_search', 0)} from search)"
            )
        else:
            origins = ", ".join(
                f"{v} {k[9:].replace('_', ' ')}" for k, v in c.items() if k.startswith("negative_")
            )
            rows = f"{c.get('triplets', 0)} triplets (negatives: {origins or 'none'})"
        say(f"  {side}: {rows}; {c['faces']} faces of {c['identities']} identities\n")


def _audit(db, args: argparse.Namespace) -> None:
    """Every export of votes (embeddings: biometric data) is in the audit log, written
    before the first byte leaves (as the HTTP export does): so the export needs
    INSERT on ``audit_log``, besides reading the votes."""
    from likeness.storage.audit import AuditLog

    where = "standard output" if args.out == "-" else Path(args.out).name
    AuditLog(db).record("cli", "feedback.export", None, {"format": args.format, "to": where})


def cmd_feedback_export(args: argparse.Namespace) -> int:
    """The audit entry is written once the export can go ahead (its destination
    opened or checked) and before any vote is read out."""
    from likeness.errors import ConflictError, ValidationError
    from likeness.storage.feedback import export_feedback

    if args.format in ("pairs", "triplets"):  # training data: a folder (floor 3's export)
        from likeness.learning.export import export_training

        if args.out == "-":
            print("error: --format pairs|triplets writes a folder: give --out DIR", file=sys.stderr)
            return 2
        if Path(args.out).exists():
            raise ConflictError(f"{args.out} exists already: export into a new folder")
        if not 0 <= args.val_share < 1:
            raise ValidationError("the validation share is at least 0 and below 1")
        db = open_votes(args.database_url)
        try:
            _audit(db, args)
            report = export_training(
                db,
                args.out,
                args.format,
                model=args.model,
                val_share=args.val_share,
                seed=args.seed,
            )
        finally:
            db.dispose()
        _print_balance(report, args.out)
        return 0
    db = open_votes(args.database_url)
    try:
        if args.out == "-":
            _audit(db, args)
            count = export_feedback(db, args.format, sys.stdout)
        else:
            with open(args.out, "w", encoding="utf-8", newline="") as out:
                _audit(db, args)
                count = export_feedback(db, args.format, out)
    finally:
        db.dispose()
    print(f"exported {count} feedback records ({args.format})", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    feedback = subparsers.add_parser("feedback", help="votes on verifications and searches")
    actions = feedback.add_subparsers(dest="action", required=True)
    export = actions.add_parser(
        "export", help="every feedback record (CSV or JSONL), or training data (pairs, triplets)"
    )
    export.add_argument(
        "--format",
        choices=("jsonl", "csv", "pairs", "triplets"),
        default="jsonl",
        help="records (jsonl, csv) or training data (pairs, triplets: a folder)",
    )
    export.add_argument(
        "--out",
        default="-",
        help="file (default: standard output), or a new folder for training data",
    )
    export.add_argument(
        "--model", help="only votes of this model pack, or version (SHA-256 or its prefix)"
    )
    export.add_argument(
        "--val-share", type=float, default=0.2, help="training data: identities for validation"
    )
    export.add_argument("--seed", type=int, default=0, help="training data: the split's seed")
    export.add_argument(
        "--database-url", default=None, help="SQLAlchemy URL (default: LIKENESS_* settings)"
    )
    export.set_defaults(func=cmd_feedback_export)
