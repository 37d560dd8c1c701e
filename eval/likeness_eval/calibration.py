"""1:1 threshold calibration from labelled scores (issue 14, first part): the
threshold at a target FMR, with a bootstrap interval and an honest warning when
too few impostor pairs support the target (``protocol.resolvable_fmr``).

Labelled scores come from sources: an evaluation run (``make eval``'s output
folder, or its ``report.json``, beside which ``scores.npz`` holds every pair's
score and label) or ``feedback``, the stored votes on verifications (a thumbs up
on a match or a thumbs down on a non-match is a genuine pair; the reverse an
impostor pair). Every source must come from the same model pack: a new model
shifts every score.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from likeness_eval.protocol import bootstrap, resolvable_fmr


@dataclass
class LabelledScores:
    """Cosine scores of pairs and whether each pair is the same person."""

    scores: np.ndarray
    genuine: np.ndarray
    source: str
    model: str | None = None

    @property
    def impostors(self) -> int:
        return int((~self.genuine).sum())


def threshold_at_fmr(impostor: np.ndarray, target: float) -> float:
    """The lowest threshold whose FMR (share of impostor scores >= it) is at most
    ``target``: just above the score of the impostor pair that would exceed it."""
    ranked = np.sort(np.asarray(impostor, np.float64))[::-1]
    allowed = int(np.floor(target * len(ranked) * (1 + 1e-9)))  # impostors that may pass
    if allowed >= len(ranked):
        return float(ranked[-1])
    return float(np.nextafter(ranked[allowed], np.inf))


@dataclass
class Calibration:
    target_fmr: float
    threshold: float
    interval: tuple[float, float]  # bootstrap (5%, 95%) of the threshold
    fmr: float  # on these pairs, at the threshold
    fnmr: float
    genuine_pairs: int
    impostor_pairs: int
    sources: list[str] = field(default_factory=list)
    model: str | None = None

    @property
    def resolvable_fmr(self) -> float:
        return resolvable_fmr(self.impostor_pairs)

    @property
    def supported(self) -> bool:
        """Whether the impostor pairs can resolve the target at all."""
        return self.target_fmr >= self.resolvable_fmr

    @property
    def warning(self) -> str | None:
        if self.supported:
            return None
        return (
            f"{self.impostor_pairs} impostor pairs resolve an FMR of "
            f"{self.resolvable_fmr:.1e} at best (10 false matches to count); the target "
            f"{self.target_fmr:g} is below that, so this threshold is not supported by "
            "the data: add impostor pairs (every cross-identity pair of an evaluation "
            "set) or aim higher"
        )

    def as_dict(self) -> dict:
        return {
            "target_fmr": self.target_fmr,
            "threshold": self.threshold,
            "interval": list(self.interval),
            "fmr": self.fmr,
            "fnmr": self.fnmr,
            "genuine_pairs": self.genuine_pairs,
            "impostor_pairs": self.impostor_pairs,
            "resolvable_fmr": self.resolvable_fmr,
            "supported": self.supported,
            "warning": self.warning,
            "sources": list(self.sources),
            "model": self.model,
        }


#: Decimals a threshold is given with; it is rounded UP to them, so the threshold
#: someone copies into the settings still keeps the FMR at or under the target.
DECIMALS = 4


def round_up(value: float, decimals: int = DECIMALS) -> float:
    return math.ceil(value * 10**decimals - 1e-9) / 10**decimals


def calibrate(
    sets: list[LabelledScores], target_fmr: float, rounds: int = 200, seed: int = 0
) -> Calibration:
    """The threshold at ``target_fmr`` over every pair of ``sets``, rounded up to
    ``DECIMALS`` (the FMR and FNMR are those of the rounded threshold)."""
    if not 0 < target_fmr < 1:
        raise ValueError("the target FMR is between 0 and 1")
    if rounds < 1:
        raise ValueError("the bootstrap needs at least one round")
    models = {s.model for s in sets if s.model}
    if len(models) > 1:
        raise ValueError(f"the sources come from different models: {sorted(models)}")
    scores = np.concatenate([np.asarray(s.scores, np.float64) for s in sets])
    genuine = np.concatenate([np.asarray(s.genuine, bool) for s in sets])
    impostor, matches = scores[~genuine], scores[genuine]
    if len(impostor) == 0 or len(matches) == 0:
        raise ValueError("calibration needs genuine and impostor pairs")
    threshold = round_up(threshold_at_fmr(impostor, target_fmr))
    low, high = bootstrap(
        lambda idx: round_up(threshold_at_fmr(impostor[idx], target_fmr)),
        len(impostor),
        rounds=rounds,
        seed=seed,
    )
    return Calibration(
        target_fmr=target_fmr,
        threshold=threshold,
        interval=(float(low), float(high)),
        fmr=float(np.mean(impostor >= threshold)),
        fnmr=float(np.mean(matches < threshold)),
        genuine_pairs=len(matches),
        impostor_pairs=len(impostor),
        sources=[s.source for s in sets],
        model=next(iter(models), None),
    )


def from_eval_run(path: str | Path) -> LabelledScores:
    """An evaluation run's pairs: its folder, or its ``report.json``."""
    path = Path(path)
    folder = path.parent if path.name in ("report.json", "scores.npz") else path
    npz, report = folder / "scores.npz", folder / "report.json"
    if not npz.is_file():
        raise FileNotFoundError(f"no scores.npz in {folder} (the output of make eval)")
    try:
        with np.load(npz, allow_pickle=False) as data:
            scores = np.asarray(data["scores"], np.float64).reshape(-1)
            genuine = np.asarray(data["issame"], bool).reshape(-1)
        model = json.loads(report.read_text()).get("model") if report.is_file() else None
    except (OSError, ValueError, KeyError, AttributeError) as error:
        raise ValueError(f"{folder} is not an evaluation run ({error})") from None
    if len(scores) != len(genuine):
        raise ValueError(f"{npz}: scores and labels differ in length")
    return LabelledScores(scores, genuine, str(folder), model)


def from_feedback(rows, model: str | None = None) -> LabelledScores:
    """Votes on verifications as labelled pairs: ``rows`` of (similarity, is_match,
    vote, model_pack); only ``model``'s when given."""
    packs = {pack for *_, pack in rows}
    if model is None and len(packs) > 1:
        raise ValueError(f"the votes come from several model packs {sorted(packs)}: pass --model")
    if model is None and packs:
        model = next(iter(packs))
    scores, genuine = [], []
    for similarity, is_match, vote, pack in rows:
        if model is not None and pack != model:
            continue
        scores.append(float(similarity))
        genuine.append(bool(is_match) == (vote == "up"))  # right match, or wrong non-match
    return LabelledScores(np.asarray(scores), np.asarray(genuine, bool), "feedback", model)
