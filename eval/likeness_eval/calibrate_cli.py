"""``likeness calibrate``: the 1:1 threshold at a target FMR, and with
``--target-fpir`` the 1:N threshold for the gallery's size, from labelled scores
(evaluation runs, embeddings files, stored votes), each with a bootstrap interval
and a warning when the impostor pairs cannot support the target. ``--adopt``
stores the result as the running model version's threshold set: the service
takes it without a restart (``likeness thresholds`` shows, lists and restores).
Registered by ``likeness.cli`` when the evaluation package is installed."""

from __future__ import annotations

import argparse
import json
import sys

from likeness.errors import NotFoundError, ValidationError

#: Impostor votes above this quantile of the genuine scores are left out of a
#: calibration from votes: wrong "different" votes, which moved the 1:N threshold
#: from 0.35 to 0.63 at 2% wrong votes in ``likeness_eval.feedback_sim``.
SUSPECTS = 0.05
#: A 1:1 threshold that lets more than 1 impostor in 10 through protects nothing
#: (and would list most of an embedding set's pairs)
MAX_TARGET_FMR = 0.1


def _feedback_rows(database_url: str | None) -> list[tuple]:
    """Every vote as (score, is_match, vote, pack, version): votes on verifications,
    and votes on search results (the pair of the searched face and the gallery face
    shown, scored from their stored embeddings; a thumbs up is a genuine pair)."""
    import numpy as np
    from likeness.feedback_cli import open_votes
    from likeness.storage.models import Feedback, SearchFeedback
    from sqlalchemy import select

    verify = (
        Feedback.similarity,
        Feedback.is_match,
        Feedback.vote,
        Feedback.model_pack,
        Feedback.model_version,
    )
    search = (
        SearchFeedback.query_embedding,
        SearchFeedback.result_embedding,
        SearchFeedback.vote,
        SearchFeedback.model_pack,
        SearchFeedback.model_version,
    )
    db = open_votes(database_url)
    try:
        with db.session() as session:
            rows = [tuple(row) for row in session.execute(select(*verify))]
            for query, result, vote, pack, version in session.execute(select(*search)):
                score = float(np.frombuffer(query, np.float32) @ np.frombuffer(result, np.float32))
                rows.append((score, True, vote, pack, version))
            return rows
    finally:
        db.dispose()


def _gallery_faces(database_url: str | None) -> int:
    """Searchable faces in the gallery of the settings' database (nothing created)."""
    from likeness.feedback_cli import open_votes
    from likeness.storage.models import GalleryFace, PersonExemplar
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    try:
        db = open_votes(database_url)
    except NotFoundError as error:
        where = error.message.split(";")[0]
        raise ValidationError(
            f"the gallery's size is unknown ({where}): give --gallery-faces N"
        ) from None
    try:
        with db.session() as session:
            usable = select(func.count(GalleryFace.id)).where(GalleryFace.usable)
            faces = int(session.scalar(usable) or 0)  # only usable faces are searched
            try:  # and confirmed faces: each one more chance of a false match
                faces += int(session.scalar(select(func.count(PersonExemplar.id))) or 0)
            except SQLAlchemyError:  # a database from before learned templates
                session.rollback()
            return faces
    finally:
        db.dispose()


def _running(args: argparse.Namespace) -> tuple[str, str]:
    """The pack and recogniser version thresholds are adopted for."""
    from likeness.engine.modelpack import resolve_pack
    from likeness.settings import get_settings

    settings = get_settings()
    pack = args.model or settings.model_pack
    return pack, resolve_pack(settings.model_root, pack, verify=False)[1].sha256


def _print(result, label: str) -> None:
    low, high = result.interval
    if result.kind == "verify":
        aim = f"FMR {result.target_fmr:g}"
        rates = f"FMR {result.fmr:.2e}, FNMR {100 * result.fnmr:.2f}%"
    else:
        aim = (
            f"FPIR {result.target_fpir:g} over {result.gallery_faces:,} gallery faces "
            f"(per-face FMR {result.target_fmr:.2e})"
        )
        rates = f"per-face FMR {result.fmr:.2e}, FNMR {100 * result.fnmr:.2f}%"
    print(
        f"{label} threshold {result.threshold:.4f} at {aim} "
        f"(90% interval {low:.4f} to {high:.4f}); on these pairs {rates}"
    )
    print(
        f"  {result.genuine_pairs:,} genuine and {result.impostor_pairs:,} impostor pairs from "
        f"{', '.join(result.sources)}" + (f" ({result.model})" if result.model else "")
    )
    if result.suspects_dropped:
        print(
            f"  left out {result.suspects_dropped} impostor votes scoring like the same person "
            "(likely wrong votes; --suspects 0 keeps them)"
        )
    if result.warning:
        print(f"  warning: {result.warning}")


def _adopt(args: argparse.Namespace, results: list) -> None:
    """Store the thresholds for the model version the scores came from."""
    from likeness.learning import KEEP
    from likeness.thresholds_cli import open_thresholds

    first = results[0]
    if args.model and first.model and args.model != first.model:
        raise ValidationError(f"the scores come from {first.model}, not {args.model}")
    args.model = args.model or first.model
    db, book = open_thresholds(args)
    try:
        problems = [r.warning for r in results if r.warning]
        if first.version is None:
            problems.append(
                "the sources do not say which recogniser file made the scores "
                f"(the service runs {book.model_pack} {book.model_version[:12]})"
            )
        elif first.version != book.model_version:
            raise ValidationError(
                f"the scores come from recogniser {first.version[:12]}, but {book.model_pack} "
                f"here is {book.model_version[:12]}: a new model version shifts every score"
            )
        if problems and not args.force:
            raise ValidationError(
                "not adopted: " + "; ".join(problems) + " (--force adopts anyway)"
            )
        values = {r.kind: r.threshold for r in results}
        made = book.adopt(
            values.get("verify", KEEP),
            values.get("search", KEEP),
            source={r.kind: r.as_dict() for r in results},
            note=args.note or "likeness calibrate",
            created_by="cli (likeness calibrate)",
        )
    finally:
        db.dispose()
    print(
        f"adopted as threshold set {made.id} for {made.model_pack} "
        f"({made.model_version[:12]}); the service takes it within its refresh interval",
        file=sys.stderr,
    )


def cmd_calibrate(args: argparse.Namespace) -> int:
    from likeness_eval.calibration import (
        calibrate_sample,
        calibrate_search,
        from_feedback,
        load_source,
        sample,
        search_fmr,
    )

    if not 0 < args.target_fmr <= MAX_TARGET_FMR:
        raise ValidationError(
            f"--target-fmr is a false-match rate above 0 and at most {MAX_TARGET_FMR:g}"
        )
    if args.target_fpir is not None and args.gallery_faces is None:
        args.gallery_faces = _gallery_faces(args.database_url)
        if args.gallery_faces == 0:
            raise ValidationError("the gallery is empty: give --gallery-faces N")
    running = _running(args) if args.adopt else (args.model, None)
    try:
        sets = []
        for source in args.sources:
            if source == "feedback":  # when adopting, only the running version's votes
                rows = _feedback_rows(args.database_url)
                sets.append(from_feedback(rows, *running))
            else:
                sets.append(load_source(source))
        rates = [args.target_fmr]
        if args.target_fpir is not None:
            if not 0 < args.target_fpir < 1:
                raise ValueError("the target FPIR is between 0 and 1")
            rates.append(search_fmr(args.target_fpir, args.gallery_faces))
        suspects = args.suspects
        if suspects is None:  # votes hold wrong ones; evaluation labels do not
            suspects = SUSPECTS if "feedback" in args.sources else 0.0
        data = sample(sets, max(rates), suspects)
        results = [calibrate_sample(data, args.target_fmr, rounds=args.rounds)]
        if args.target_fpir is not None:
            results.append(
                calibrate_search(data, args.target_fpir, args.gallery_faces, rounds=args.rounds)
            )
    except FileNotFoundError as error:
        raise NotFoundError(str(error)) from None
    except ValueError as error:
        raise ValidationError(str(error)) from None
    if args.json:
        body = results[0].as_dict()
        if len(results) > 1:
            body["search"] = results[1].as_dict()
        print(json.dumps(body, indent=2))
    else:
        for result, label in zip(results, ("1:1", "1:N"), strict=False):
            _print(result, label)
    if args.adopt:
        _adopt(args, results)
    return 0


def register(subparsers) -> None:
    calibrate = subparsers.add_parser(
        "calibrate",
        help="thresholds at a target FMR (1:1) and FPIR (1:N), from evaluation data and votes",
    )
    calibrate.add_argument(
        "--target-fmr", type=float, default=1e-3, help="1:1 false-match rate to aim at"
    )
    calibrate.add_argument(
        "--target-fpir",
        type=float,
        help="also the 1:N threshold: strangers matched to someone at most this often",
    )
    calibrate.add_argument(
        "--gallery-faces",
        type=int,
        help="the gallery size the 1:N threshold is for (default: the gallery's own)",
    )
    calibrate.add_argument(
        "--from",
        dest="sources",
        action="append",
        required=True,
        metavar="SOURCE",
        help="an evaluation run (its folder or report.json), an embeddings .npz "
        "(names, vectors), or 'feedback' (the votes)",
    )
    calibrate.add_argument(
        "--suspects",
        type=float,
        help="leave out impostor-labelled pairs above this quantile of the genuine scores "
        f"(default: {SUSPECTS} with votes among the sources, else 0)",
    )
    calibrate.add_argument("--model", help="only votes of this model pack")
    calibrate.add_argument("--database-url", help="SQLAlchemy URL (default: the settings)")
    calibrate.add_argument("--rounds", type=int, default=200, help="bootstrap resamples")
    calibrate.add_argument("--json", action="store_true", help="print JSON")
    calibrate.add_argument(
        "--adopt", action="store_true", help="store the thresholds; the service takes them"
    )
    calibrate.add_argument("--note", help="why (kept in the threshold history)")
    calibrate.add_argument(
        "--force", action="store_true", help="adopt even when the data cannot support the target"
    )
    calibrate.set_defaults(func=cmd_calibrate)
