"""Gallery subcommands of ``likeness``: ``index DIR``, ``search IMAGE``,
``enroll NAME IMAGES...`` (registered by ``likeness.cli``)."""

from __future__ import annotations

import argparse
import json
import sys

from likeness.errors import NoPhotoAcceptedError


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML settings file (else LIKENESS_CONFIG / env)")
    parser.add_argument(
        "--index-dir", help="folder of the gallery database and index (default: data_dir)"
    )
    parser.add_argument("--model", help="model pack (default: settings, buffalo_l)")
    parser.add_argument("--model-root", help="folder holding the model packs")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _library(args: argparse.Namespace):
    from likeness.library import FaceRecognitionLibrary

    overrides = {}
    if args.model_root:
        overrides["model_root"] = args.model_root
    return FaceRecognitionLibrary(
        config_path=args.config, index_dir=args.index_dir, model_name=args.model, **overrides
    )


def cmd_index(args: argparse.Namespace) -> int:
    with _library(args) as lib:
        report = lib.index_directory(
            args.directory,
            recursive=not args.no_recursive,
            person_from_folder=args.person_from_folder,
            progress_bar=not args.json and sys.stderr.isatty(),
        )
        if not lib.wait(0):
            print(
                f"Building the search index for {lib.stats()['faces']} faces; "
                "waiting for it to finish (Ctrl-C is safe: it is rebuilt on next open).",
                file=sys.stderr,
                flush=True,
            )
            lib.wait()
        body = report.as_dict()
        body["gallery"] = lib.stats()
    if args.json:
        print(json.dumps(body, indent=2))
    else:
        print(
            f"{report.total} files: {report.indexed} indexed ({report.faces} faces), "
            f"{report.skipped} already indexed, {len(report.failed)} failed, "
            f"{report.seconds:.1f} s ({report.images_per_second:.1f} images/s)"
        )
        if report.unusable:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.reasons.items()))
            print(f"  {report.unusable} faces kept but not searched (face checks: {reasons})")
        if report.clustering:
            c = report.clustering
            print(
                f"  clusters: {c['joined']} faces joined a person, {c['new_clusters']} new "
                f"clusters, {c['waiting']} faces wait for more evidence"
            )
        for failure in report.failed:
            print(f"  failed {failure.source}: {failure.code}: {failure.message}")
    return 0 if not report.failed else 1


def cmd_search(args: argparse.Namespace) -> int:
    with _library(args) as lib:
        result = lib.search(args.image, top_k=args.top_k, threshold=args.threshold)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return 0
    identity = result.identity
    print(f"{identity.person_name or identity.image_id}" if identity else "unknown")
    for rank, hit in enumerate(result.candidates, 1):
        mark = "*" if hit.is_match else " "
        who = hit.person_name or f"(unlabelled face of {hit.source or hit.image_id})"
        print(f"{mark}{rank:2d}. {hit.score:.4f}  {who}  [image {hit.image_id}]")
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    with _library(args) as lib:
        person_id = args.person_id
        if person_id is None and not args.new:
            found = lib.store.find_persons(args.name)
            if len(found) == 1:
                person_id = found[0].id
        try:
            result = lib.enroll(
                args.name,
                args.images,
                person_id=person_id,
                allow_mismatch=args.allow_mismatch,
                face_checks=False if args.no_face_checks else None,
            )
        except NoPhotoAcceptedError as error:
            if args.json:
                body = {"error": {"code": error.code, "message": error.message}}
                body["rejected"] = [r.as_dict() for r in error.rejected]
                print(json.dumps(body, indent=2))
                return 1
            print(f"error: {error.code}: {error.message}", file=sys.stderr)
            for rejection in error.rejected:
                print(f"  rejected {rejection.source}: {_why(rejection)}")
            return 1
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        person = result.person
        label = repr(person.name) if person.name else "(an unnamed cluster)"
        print(f"person {person.id} {label}: {person.face_count} faces enrolled")
        for item in result.accepted:
            print(f"  accepted {item['source']}")
        for rejection in result.rejected:
            print(f"  rejected {rejection.source}: {_why(rejection)}")
    return 0 if result.accepted else 1


def _why(rejection) -> str:
    reason = f" ({rejection.reason})" if rejection.reason else ""
    return f"{rejection.code}{reason}: {rejection.message}"


def register(subparsers) -> None:
    index = subparsers.add_parser("index", help="index every face of the images in a folder")
    index.add_argument("directory")
    index.add_argument("--no-recursive", action="store_true")
    index.add_argument(
        "--person-from-folder",
        action="store_true",
        help="label one face per image with its folder's name (e.g. LFW layout)",
    )
    _common(index)
    index.set_defaults(func=cmd_index)

    search = subparsers.add_parser("search", help="who is in this image? (1:N search)")
    search.add_argument("image")
    search.add_argument("--top-k", type=int, default=5)
    search.add_argument("--threshold", type=float, default=None)
    _common(search)
    search.set_defaults(func=cmd_search)

    enroll = subparsers.add_parser("enroll", help="enrol a person from one or more photos")
    enroll.add_argument("name")
    enroll.add_argument("images", nargs="+")
    enroll.add_argument("--person-id", type=int, help="add to this existing person")
    enroll.add_argument("--new", action="store_true", help="always create a new person")
    enroll.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="enrol faces that do not match the person's other photos (it changed a lot)",
    )
    enroll.add_argument(
        "--no-face-checks",
        action="store_true",
        help="enrol faces that fail the face checks (too small, low quality, cartoon)",
    )
    _common(enroll)
    enroll.set_defaults(func=cmd_enroll)


def run(args: argparse.Namespace) -> int:
    return int(args.func(args) or 0)
