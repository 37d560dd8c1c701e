"""``likeness keys create|list|revoke``, ``likeness audit`` and ``likeness purge``:
API keys, the audit log and retention, on the database of the settings
(registered by ``likeness.cli``)."""

from __future__ import annotations

import argparse
import json
import sys


def _database(args: argparse.Namespace):
    from likeness.settings import get_settings
    from likeness.storage import Database

    db = Database(args.database_url or get_settings().sqlalchemy_url)
    db.migrate()
    return db


def cmd_keys_create(args: argparse.Namespace) -> int:
    from likeness.auth import KeyStore

    db = _database(args)
    try:
        new = KeyStore(db).create(args.name, args.scope)  # audited by the store
    finally:
        db.dispose()
    print(new.token)
    print(
        f"key {new.key.key_id} ({new.key.name}, scope {new.key.scope}): shown once, "
        "stored only as a hash",
        file=sys.stderr,
    )
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    from likeness.auth import KeyStore

    db = _database(args)
    try:
        keys = KeyStore(db).list()
    finally:
        db.dispose()
    if args.json:
        print(json.dumps([k.as_dict() for k in keys], indent=2))
        return 0
    for key in keys:
        state = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%d %H:%M}"
        used = f"last used {key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never used"
        print(f"{key.key_id}  {key.scope:6s}  {state:24s}  {used:28s}  {key.name}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from likeness.auth import KeyStore
    from likeness.storage.audit import AuditLog

    db = _database(args)
    try:
        key = KeyStore(db).revoke(args.key_id)
        AuditLog(db).record("cli", "key.revoke", key.key_id)
    finally:
        db.dispose()
    print(f"key {key.key_id} ({key.name}) revoked", file=sys.stderr)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from likeness.storage.audit import AuditLog

    db = _database(args)
    try:
        entries = AuditLog(db).entries(args.limit)
    finally:
        db.dispose()
    for entry in entries:
        print(json.dumps(entry))
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from likeness.gallery.retention import expire_persons
    from likeness.settings import get_settings
    from likeness.storage.audit import AuditLog
    from likeness.storage.retention import purge

    settings = get_settings()
    db = _database(args)
    try:
        report = purge(db, settings, actor="cli").as_dict()
        expired = expire_persons(db, settings)
        if expired:
            AuditLog(db).record("cli", "retention.expire", None, {"person_ids": expired})
        report["persons_expired"] = len(expired)
    finally:
        db.dispose()
    print(json.dumps(report))
    return 0


def register(subparsers) -> None:
    from likeness.auth import SCOPES

    keys = subparsers.add_parser("keys", help="API keys (scoped, stored hashed)")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a key; it is printed once")
    create.add_argument("--name", required=True, help="who or what uses it")
    create.add_argument(
        "--scope",
        choices=SCOPES,
        required=True,
        help="what it may do (each includes the ones before)",
    )
    create.set_defaults(func=cmd_keys_create)
    listing = actions.add_parser("list", help="every key (no secrets)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_keys_list)
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", help="the key's id (likeness keys list)")
    revoke.set_defaults(func=cmd_keys_revoke)
    audit = subparsers.add_parser("audit", help="the audit log, newest first (JSON lines)")
    audit.add_argument("--limit", type=int, default=100, help="how many entries")
    audit.set_defaults(func=cmd_audit)
    purge = subparsers.add_parser(
        "purge", help="delete biometric data past its retention (LIKENESS_* settings)"
    )
    purge.set_defaults(func=cmd_purge)
    for parser in (create, listing, revoke, audit, purge):
        parser.add_argument(
            "--database-url", default=None, help="SQLAlchemy URL (default: LIKENESS_* settings)"
        )
