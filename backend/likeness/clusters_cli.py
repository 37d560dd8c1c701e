"""``likeness cluster`` (a full run, with a progress bar) and ``likeness clusters
list|show|name|merge|split|not-this-person|export`` (registered by ``likeness.cli``)."""

from __future__ import annotations

import argparse
import json
import sys

#: Help of the positional arguments the tidying commands share.
ARGUMENT_HELP = {
    "id": "a cluster's id (likeness clusters list)",
    "name": "its name (unique in the gallery)",
    "keep": "the cluster that stays",
    "other": "the cluster whose faces join it",
    "face": "a face id (likeness clusters show)",
}


def _library(args: argparse.Namespace):
    from likeness.gallery_cli import _library as gallery_library

    return gallery_library(args)


def cmd_cluster(args: argparse.Namespace) -> int:
    with _library(args) as lib:
        job = lib.cluster(
            progress_bar=not args.json and sys.stderr.isatty(),
            threshold=args.threshold,
            created_by="cli",
        )
    if args.json:
        print(json.dumps(job.as_dict(), indent=2))
    elif job.state == "succeeded":
        r = job.result
        print(
            f"{r['faces']} faces: {r['clusters']} people ({r['new_clusters']} new, "
            f"{r['removed_clusters']} gone), {r['unassigned']} unassigned, "
            f"{r['changed_faces']} faces assigned or moved, {r['seconds']:.1f} s"
        )
    else:
        print(f"likeness: {job.error['code']}: {job.error['message']}", file=sys.stderr)
    return 0 if job.state == "succeeded" else 1


def cmd_clusters_list(args: argparse.Namespace) -> int:
    with _library(args) as lib:
        clusters, total = lib.clusters(0, args.limit)
    if args.json:
        print(json.dumps({"clusters": clusters, "total": total}, indent=2))
        return 0
    print(f"{total} clusters")
    for c in clusters:
        cohesion = "-" if c["cohesion"] is None else f"{c['cohesion']:.3f}"
        print(f"  {c['id']:>8}  {c['size']:>6} faces  cohesion {cohesion}  {c['name'] or ''}")
    return 0


def _show(cluster: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(cluster, indent=2))
        return
    cohesion = "-" if cluster["cohesion"] is None else f"{cluster['cohesion']:.3f}"
    print(
        f"cluster {cluster['id']} {cluster['name'] or '(unnamed)'}: {cluster['size']} faces, "
        f"cohesion {cohesion}, representative face {cluster['representative_face_id']}"
    )
    if "face_ids" in cluster:
        print("  faces: " + " ".join(str(f) for f in cluster["face_ids"]))


def cmd_clusters_show(args: argparse.Namespace) -> int:
    with _library(args) as lib:
        _show(lib.get_cluster(args.id), args.json)
    return 0


def cmd_clusters_name(args: argparse.Namespace) -> int:
    with _library(args) as lib:
        _show(lib.name_cluster(args.id, args.name), args.json)
    return 0


def cmd_clusters_merge(args: argparse.Namespace) -> int:
    with _library(args) as lib:
        _show(lib.merge_clusters(args.keep, args.other), args.json)
    return 0


def cmd_clusters_split(args: argparse.Namespace) -> int:
    if bool(args.faces) == (args.threshold is not None):
        print("likeness: give face ids or --threshold (not both)", file=sys.stderr)
        return 2
    with _library(args) as lib:
        if args.faces:
            _show(lib.split_cluster(args.id, args.faces), args.json)
            return 0
        result = lib.recluster(args.id, args.threshold)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    _show(result["kept"], False)
    for cluster in result["new_clusters"]:
        _show(cluster, False)
    return 0


def cmd_clusters_not_this_person(args: argparse.Namespace) -> int:
    with _library(args) as lib:
        left = lib.not_this_person(args.face)
    if args.json:
        print(json.dumps({"face_id": args.face, "left": left}))
    else:
        print(f"face {args.face} " + (f"left person {left}" if left else "was in no person"))
    return 0


def cmd_clusters_export(args: argparse.Namespace) -> int:
    """One row per face: face id, image id, source path, cluster id and name."""
    import contextlib
    import csv

    from likeness.storage.feedback import csv_cell

    with _library(args) as lib:
        target = (
            open(args.out, "w", newline="", encoding="utf-8")  # noqa: SIM115
            if args.out
            else contextlib.nullcontext(sys.stdout)
        )
        with target as out:
            count, writer = 0, None
            for row in lib.export_clusters():
                if args.format == "jsonl":
                    out.write(json.dumps(row) + "\n")
                else:
                    if writer is None:
                        writer = csv.DictWriter(out, fieldnames=list(row))
                        writer.writeheader()
                    writer.writerow({k: csv_cell(_cell(v)) for k, v in row.items()})
                count += 1
    if args.out:
        print(f"{count} faces written to {args.out}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from likeness.gallery_cli import _common

    run = sub.add_parser("cluster", help="group every usable face into people (a full run)")
    run.add_argument("--threshold", type=float, help="cosine to join faces (default: settings)")
    _common(run)
    run.set_defaults(func=cmd_cluster)
    clusters = sub.add_parser("clusters", help="the people clustering found").add_subparsers(
        dest="clusters_command", required=True
    )
    listing = clusters.add_parser("list", help="clusters, largest first")
    listing.add_argument("--limit", type=int, default=50, help="how many")
    _common(listing)
    listing.set_defaults(func=cmd_clusters_list)
    for name, func, text, arguments in (
        ("show", cmd_clusters_show, "one cluster and its face ids", [("id", int)]),
        (
            "name",
            cmd_clusters_name,
            "name a cluster (confirms its faces)",
            [("id", int), ("name", str)],
        ),
        ("merge", cmd_clusters_merge, "OTHER's faces join KEEP", [("keep", int), ("other", int)]),
        (
            "split",
            cmd_clusters_split,
            "chosen faces leave as a new cluster (or --threshold: re-cluster tighter)",
            [("id", int)],
        ),
        (
            "not-this-person",
            cmd_clusters_not_this_person,
            "a face leaves its person for good",
            [("face", int)],
        ),
    ):
        command = clusters.add_parser(name, help=text)
        for argument, kind in arguments:
            command.add_argument(argument, type=kind, help=ARGUMENT_HELP[argument])
        if name == "split":
            command.add_argument("faces", type=int, nargs="*", help="face ids to split off")
            command.add_argument(
                "--threshold", type=float, help="or re-cluster it at this tighter threshold"
            )
        _common(command)
        command.set_defaults(func=func)
    export = clusters.add_parser("export", help="one row per face with its cluster")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="file format")
    export.add_argument("--out", help="file to write (default: standard output)")
    _common(export)
    export.set_defaults(func=cmd_clusters_export)


def _cell(value):
    """Booleans as in the JSON lines export (true/false), not Python's True/False."""
    return {True: "true", False: "false"}.get(value, value) if isinstance(value, bool) else value
