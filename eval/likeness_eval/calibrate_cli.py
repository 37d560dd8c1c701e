"""``likeness calibrate``: the 1:1 threshold at a target FMR from labelled scores
(evaluation runs and stored votes), with a bootstrap interval and a warning when
the impostor pairs cannot support the target. Registered by ``likeness.cli`` when
the evaluation package is installed. It reports; it does not change the service's
threshold (``LIKENESS_MATCH_THRESHOLD`` does that today)."""

from __future__ import annotations

import argparse
import json

from likeness.errors import NotFoundError, ValidationError


def _feedback_rows(database_url: str | None):
    from likeness.storage.feedback_cli import open_votes
    from likeness.storage.models import Feedback
    from sqlalchemy import select

    db = open_votes(database_url)
    try:
        with db.session() as session:
            return session.execute(
                select(Feedback.similarity, Feedback.is_match, Feedback.vote, Feedback.model_pack)
            ).all()
    finally:
        db.dispose()


def cmd_calibrate(args: argparse.Namespace) -> int:
    from likeness_eval.calibration import calibrate, from_eval_run, from_feedback

    try:
        sets = []
        for source in args.sources:
            if source == "feedback":
                sets.append(from_feedback(_feedback_rows(args.database_url), args.model))
            else:
                sets.append(from_eval_run(source))
        result = calibrate(sets, args.target_fmr, rounds=args.rounds)
    except FileNotFoundError as error:
        raise NotFoundError(str(error)) from None
    except ValueError as error:
        raise ValidationError(str(error)) from None
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
        return 0
    low, high = result.interval
    print(
        f"threshold {result.threshold:.4f} at FMR {result.target_fmr:g} "
        f"(90% interval {low:.4f} to {high:.4f}); on these pairs FMR {result.fmr:.2e}, "
        f"FNMR {100 * result.fnmr:.2f}%"
    )
    print(
        f"  {result.genuine_pairs} genuine and {result.impostor_pairs} impostor pairs from "
        f"{', '.join(result.sources)}" + (f" ({result.model})" if result.model else "")
    )
    if result.warning:
        print(f"  warning: {result.warning}")
    return 0


def register(subparsers) -> None:
    calibrate = subparsers.add_parser(
        "calibrate", help="the 1:1 threshold at a target FMR, from evaluation runs and votes"
    )
    calibrate.add_argument("--target-fmr", type=float, default=1e-3)
    calibrate.add_argument(
        "--from",
        dest="sources",
        action="append",
        required=True,
        metavar="SOURCE",
        help="an evaluation run (its folder or report.json) or 'feedback' (the votes)",
    )
    calibrate.add_argument("--model", help="only votes of this model pack")
    calibrate.add_argument("--database-url", help="SQLAlchemy URL (default: the settings)")
    calibrate.add_argument("--rounds", type=int, default=200, help="bootstrap resamples")
    calibrate.add_argument("--json", action="store_true")
    calibrate.set_defaults(func=cmd_calibrate)
