"""``likeness models list|show|activate|rollback``: the model versions of the pack
(``likeness.registry``). The model root, pack and database come from the settings,
as everywhere else; running services follow an activation within
``model_refresh_seconds``, without a restart."""

from __future__ import annotations

import argparse
import json
import sys


def _registry(args: argparse.Namespace):
    """(database, registry) without loading any model."""
    from likeness.registry import ModelRegistry
    from likeness.settings import load_settings
    from likeness.storage import Database

    overrides = {"model_pack": args.model} if args.model else {}
    if args.model_root:
        overrides["model_root"] = args.model_root
    if args.index_dir:
        overrides["data_dir"] = args.index_dir
    settings = load_settings(args.config, **overrides)
    db = Database(settings.sqlalchemy_url)
    db.migrate()
    return db, ModelRegistry(db, settings)


def _headline(version) -> str:
    gate = (version.metrics or {}).get("gate") or {}
    fnmr = gate.get("fnmr_at_fmr_1e-3") or {}
    measured = ""
    if fnmr:
        measured = f"  FNMR@FMR1e-3 {100 * fnmr['candidate']:.2f}% (base {100 * fnmr['base']:.2f}%)"
    return (
        f"{'*' if version.status == 'active' else ' '} {version.id:<40} {version.status:<9} "
        f"{version.origin:<10} gate {version.gate:<7} {version.sha256[:12]}{measured}"
    )


def cmd_list(args: argparse.Namespace) -> int:
    db, registry = _registry(args)
    try:
        versions = registry.list()
    finally:
        db.dispose()
    if args.json:
        print(json.dumps([v.as_dict(metrics=False) for v in versions], indent=2))
        return 0
    for version in versions:
        print(_headline(version))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    db, registry = _registry(args)
    try:
        version = registry.get(args.id)
        card = registry.card(version)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps({**version.as_dict(), "card": card}, indent=2, default=str))
    else:
        print(card)
    return 0


def _offline(args: argparse.Namespace, rollback: bool) -> dict:
    """Switch without loading the active version (its file may be what is broken)."""
    from likeness.gallery.store import GalleryStore
    from likeness.registry.tasks import switch_to

    db, registry = _registry(args)
    try:
        target = registry.rollback_target().id if rollback else args.id
        store = GalleryStore(db, registry.settings.model_pack)
        return switch_to(db, registry.settings, store, registry, target, rollback or args.force)
    finally:
        db.dispose()


def _switch(args: argparse.Namespace, rollback: bool) -> int:
    from likeness.errors import ModelError
    from likeness.gallery_cli import _library

    refresh = 2.0
    try:
        lib = _library(args)
    except ModelError as error:  # the active version cannot load: switch without it
        print(f"likeness: the active version cannot be loaded ({error.code}); switching "
              "without it", file=sys.stderr)  # fmt: skip
        result = _offline(args, rollback)
        job = {"state": "succeeded", "result": result}
    else:
        with lib:
            bar = not args.json and sys.stderr.isatty()
            if rollback:
                record = lib.rollback_model(progress_bar=bar, created_by="cli")
            else:
                record = lib.activate_model(
                    args.id, force=args.force, progress_bar=bar, created_by="cli"
                )
            job = record.as_dict()
            refresh = lib.settings.model_refresh_seconds
    if args.json:
        print(json.dumps(job, indent=2))
    elif job["state"] == "succeeded":
        r = job["result"]
        print(
            f"{r['version']} is active (was {r['previous_version']}); "
            f"{r['reembedded']} faces re-embedded; running services follow within "
            f"{refresh:g} s"
        )
        if r.get("note"):
            print(f"note: {r['note']}")
    else:
        print(f"likeness: {job['error']['code']}: {job['error']['message']}", file=sys.stderr)
    return 0 if job["state"] == "succeeded" else 1


def register(models: argparse._SubParsersAction) -> None:
    """Add the version commands to ``likeness models``."""
    from likeness.gallery_cli import _common

    listing = models.add_parser("list", help="the pack's versions (* marks the active one)")
    _common(listing)
    listing.set_defaults(func=cmd_list)
    show = models.add_parser("show", help="a version's model card")
    show.add_argument("id", help="a version id (likeness models list)")
    _common(show)
    show.set_defaults(func=cmd_show)
    activate = models.add_parser(
        "activate", help="re-embed the gallery under a version and switch to it"
    )
    activate.add_argument("id", help="a version id (likeness models list)")
    activate.add_argument(
        "--force", action="store_true", help="activate a version the gate did not pass"
    )
    _common(activate)
    activate.set_defaults(func=lambda a: _switch(a, rollback=False))
    rollback = models.add_parser("rollback", help="switch back to the version active before")
    _common(rollback)
    rollback.set_defaults(func=lambda a: _switch(a, rollback=True))
