"""``likeness thresholds [show|history|set|restore]``: the decision thresholds
stored per model version (``likeness.learning.thresholds``). A running service
takes a change within ``threshold_refresh_seconds``, without a restart."""

from __future__ import annotations

import argparse
import json
import sys

DEFAULT = "default"


def _value(text: str) -> float | None:
    """A threshold on the command line: a number, or ``default`` (the settings')."""
    if text == DEFAULT:
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number or 'default': {text!r}") from None


def open_thresholds(args: argparse.Namespace):
    """(database, book) for the pack of ``args.model`` (default: the settings')."""
    from likeness.learning.thresholds import open_book
    from likeness.settings import get_settings
    from likeness.storage import Database

    settings = get_settings()
    db = Database(args.database_url or settings.sqlalchemy_url)
    try:
        db.migrate()
        return db, open_book(db, settings, args.model)
    except BaseException:
        db.dispose()
        raise


def _searchable_faces(db) -> int:
    from sqlalchemy import func, select

    from likeness.storage.models import GalleryFace

    with db.session() as session:
        return int(
            session.scalar(select(func.count(GalleryFace.id)).where(GalleryFace.usable)) or 0
        )


def _print_in_force(book, db) -> None:
    found = book.describe()
    print(f"{found['model_pack']} (recogniser {found['model_version'][:12]})")
    for kind, label in (("verify", "1:1 verify"), ("search", "1:N search")):
        entry = found[kind]
        origin = entry["origin"]
        if origin == "database":
            origin = f"stored set {entry['set_id']}"
        elif origin == "override":
            origin = "overridden by this shell's environment or config file"
        print(f"  {label:11s} {entry['value']:.4f}  ({origin})")
    calibrated = ((found["set"] or {}).get("source") or {}).get("search") or {}
    size = calibrated.get("gallery_faces")
    if found["search"]["origin"] == "database" and size:
        now = _searchable_faces(db)
        if not size / 2 <= now <= size * 2:
            print(
                f"  note: the 1:N threshold was calibrated for {size:,} gallery faces; the gallery "
                f"has {now:,} now: recalibrate (likeness calibrate --target-fpir ... --adopt)"
            )


def _print_history(sets) -> None:
    for s in sets:
        values = "  ".join(
            f"{kind} {'default' if v is None else f'{v:.4f}'}"
            for kind, v in (("verify", s.verify), ("search", s.search))
        )
        extra = f"  {s.note}" if s.note else ""
        print(f"{s.id:5d}  {s.created_at:%Y-%m-%d %H:%M}  {values}  by {s.created_by}{extra}")


def cmd_thresholds(args: argparse.Namespace) -> int:
    from likeness.learning import KEEP

    db, book = open_thresholds(args)
    try:
        action = args.action or "show"
        if action == "set":
            if args.verify is KEEP and args.search is KEEP:
                print("error: give --verify and/or --search", file=sys.stderr)
                return 2
            made = book.adopt(args.verify, args.search, note=args.note, created_by="cli")
            print(f"adopted set {made.id}", file=sys.stderr)
        elif action == "restore":
            made = book.restore(args.set_id, created_by="cli")
            print(f"set {args.set_id} restored as set {made.id}", file=sys.stderr)
        if action == "history":
            sets = book.history(args.limit)
            if args.json:
                print(json.dumps([s.as_dict() for s in sets], indent=2))
            elif not sets:
                print("no threshold sets stored: the settings' defaults are in force")
            else:
                _print_history(sets)
        elif args.json:
            print(json.dumps(book.describe(), indent=2))
        else:
            _print_in_force(book, db)
    finally:
        db.dispose()
    return 0


def register(subparsers) -> None:
    from likeness.learning import KEEP

    parser = subparsers.add_parser(
        "thresholds", help="decision thresholds per model version: show, history, set, restore"
    )
    parser.add_argument("--model", help="model pack (default: the settings')")
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: the settings)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=cmd_thresholds, action=None)
    actions = parser.add_subparsers(dest="action")
    show = actions.add_parser("show", help="the thresholds in force and where they come from")
    history = actions.add_parser("history", help="stored sets, newest first")
    history.add_argument("--limit", type=int, default=50, help="how many sets")
    change = actions.add_parser("set", help="store a new set (the service adopts it)")
    restore = actions.add_parser("restore", help="put an earlier set back in force")
    for action in (show, history, change, restore):  # --json after the action works too
        action.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON"
        )
    for kind in ("verify", "search"):
        change.add_argument(
            f"--{kind}",
            type=_value,
            default=KEEP,
            metavar="T|default",
            help=f"the {'1:1' if kind == 'verify' else '1:N'} threshold ('default': the settings')",
        )
    change.add_argument("--note", help="why (kept in the history)")
    restore.add_argument("set_id", type=int, help="a set's id (likeness thresholds history)")
