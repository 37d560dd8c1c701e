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
    parser.add_argument("--model", help="model pack (default: LIKENESS_MODEL_PACK, buffalo_l)")
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
    if args.distributed:
        return _index_distributed(args)
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


def _index_distributed(args: argparse.Namespace) -> int:
    """Queue the folder for the Celery workers and follow the whole job as one bar."""
    from likeness.jobs import follow

    with _library(args) as lib:
        job = lib.index_directory(
            args.directory,
            recursive=not args.no_recursive,
            person_from_folder=args.person_from_folder,
            distributed=True,
        )
        print(f"job {job.id}: {job.total} files in {job.params['parts']} batches", file=sys.stderr)
        try:
            job = follow(lib.jobs, job.id, bar=not args.json and sys.stderr.isatty())
        except KeyboardInterrupt:
            print(f"\nThe workers go on with job {job.id}; see `likeness jobs`.", file=sys.stderr)
            return 130
    body = job.as_dict()
    if args.json:
        print(json.dumps(body, indent=2))
    elif job.state == "succeeded":
        r = job.result
        print(
            f"{r.get('files', 0)} files: {r.get('indexed', 0)} indexed ({r.get('faces', 0)} "
            f"faces), {r.get('skipped', 0)} already indexed, {r.get('failed', 0)} failed "
            f"({r.get('parts', 0)} batches)"
        )
        for failure in r.get("failures", []):
            print(f"  failed {failure['source']}: {failure['code']}: {failure['message']}")
    else:
        print(f"job {job.id} {job.state}: {(job.error or {}).get('message', '')}")
    if job.state != "succeeded":
        return 1
    return 0 if not job.result.get("failed") else 1


def cmd_search(args: argparse.Namespace) -> int:
    with _library(args) as lib:
        result = lib.search(args.image, top_k=args.top_k, threshold=args.threshold)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return 0
    identity = result.identity
    print(_who(identity) if identity else "unknown")
    for rank, hit in enumerate(result.candidates, 1):
        mark = "*" if hit.is_match else " "
        print(f"{mark}{rank:2d}. {hit.score:.4f}  {_who(hit)}  [image {hit.image_id}]")
    return 0


def _who(hit) -> str:
    """A name, else where the face came from (never a bare hash)."""
    if hit.person_name:
        return hit.person_name
    where = hit.source or hit.image_id
    if hit.person_id is not None:
        return f"(unnamed person {hit.person_id}: face of {where})"
    return f"(unlabelled face of {where})"


def cmd_enroll(args: argparse.Namespace) -> int:
    with _library(args) as lib:
        try:
            result = lib.enroll(
                args.name,
                args.images,
                person_id=args.person_id,
                allow_mismatch=args.allow_mismatch,
                face_checks=False if args.no_face_checks else None,
                face_policy=args.face_policy,
                new=args.new,
                consent_basis=args.consent_basis,
                enrolled_by="cli",
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


def cmd_persons_list(args: argparse.Namespace) -> int:
    with _library(args) as lib:
        persons, total = lib.list_persons(args.offset, args.limit, origin=args.origin)
    if args.json:
        print(json.dumps({"persons": [p.as_dict() for p in persons], "total": total}, indent=2))
        return 0
    for person in persons:
        name = repr(person.name) if person.name else "(unnamed)"
        faces = f"{person.face_count} face" + ("" if person.face_count == 1 else "s")
        print(f"{person.id:>8}  {person.origin:<8}  {faces:>11}  {name}")
    print(f"{len(persons)} of {total} persons")
    return 0


def cmd_persons_remove(args: argparse.Namespace) -> int:
    from likeness.storage.audit import AuditLog

    with _library(args) as lib:
        person = lib.get_person(args.person_id)
        report = lib.remove(person_id=person.id)
        AuditLog(lib.database).record(
            "cli", "person.erase", str(person.id), {"images": len(report.image_ids)}
        )
    if args.json:
        print(json.dumps({"person_id": person.id, "faces": report.faces}, indent=2))
    else:
        name = repr(person.name) if person.name else "(unnamed)"
        print(
            f"erased person {person.id} {name}: {len(report.image_ids)} photos, "
            f"{report.faces} faces and their embeddings"
        )
    return 0


def _why(rejection) -> str:
    reason = f" ({rejection.reason})" if rejection.reason else ""
    return f"{rejection.code}{reason}: {rejection.message}"


def register(subparsers) -> None:
    index = subparsers.add_parser("index", help="index every face of the images in a folder")
    index.add_argument("directory", help="folder of images (JPEG, PNG, WebP, BMP)")
    index.add_argument("--no-recursive", action="store_true", help="not the subfolders")
    index.add_argument(
        "--person-from-folder",
        action="store_true",
        help="label one face per image with its folder's name (e.g. LFW layout)",
    )
    index.add_argument(
        "--distributed",
        action="store_true",
        help="queue the work for Celery workers (LIKENESS_BROKER_URL, likeness worker); "
        "the folder must be at the same path on every worker",
    )
    _common(index)
    index.set_defaults(func=cmd_index)

    search = subparsers.add_parser("search", help="who is in this image? (1:N search)")
    search.add_argument("image", help="the photo to search")
    search.add_argument("--top-k", type=int, default=5, help="candidates to show")
    search.add_argument(
        "--threshold", type=float, default=None, help="1:N threshold (default: the one in force)"
    )
    _common(search)
    search.set_defaults(func=cmd_search)

    enroll = subparsers.add_parser("enroll", help="enrol a person from one or more photos")
    enroll.add_argument(
        "name", help="the person (names are unique: an existing one gets the photos)"
    )
    enroll.add_argument("images", nargs="+", help="photos of them, one face each")
    enroll.add_argument("--person-id", type=int, help="add to this existing person")
    enroll.add_argument(
        "--new", action="store_true", help="fail unless the name is new (never add to a person)"
    )
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
    enroll.add_argument(
        "--consent-basis", help="on what basis the person is enrolled (recorded with them)"
    )
    enroll.add_argument(
        "--face-policy",
        choices=("strict", "largest"),
        default="strict",
        help="strict: a photo must show one face; largest: use its largest face",
    )
    _common(enroll)
    enroll.set_defaults(func=cmd_enroll)

    persons = subparsers.add_parser("persons", help="list or erase persons")
    verbs = persons.add_subparsers(dest="verb", required=True)
    listing = verbs.add_parser("list", help="persons, oldest first")
    listing.add_argument("--origin", choices=("enrolled", "auto"), help="only these")
    listing.add_argument("--offset", type=int, default=0, help="skip this many")
    listing.add_argument("--limit", type=int, default=100, help="how many")
    _common(listing)
    listing.set_defaults(func=cmd_persons_list)
    remove = verbs.add_parser("remove", help="erase a person and every embedding")
    remove.add_argument("person_id", type=int, help="the person's id (likeness persons list)")
    _common(remove)
    remove.set_defaults(func=cmd_persons_remove)


def run(args: argparse.Namespace) -> int:
    return int(args.func(args) or 0)
