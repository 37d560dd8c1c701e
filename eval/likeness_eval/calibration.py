"""Threshold calibration (issue 14): the 1:1 threshold at a target FMR, and the 1:N
threshold for a gallery's size at a target FPIR, each with a bootstrap interval
and an honest warning when too few impostor pairs support the target
(``protocol.resolvable_fmr``).

Labelled scores come from sources:

* an evaluation run (``make eval``'s output folder, its ``report.json``, or the
  ``scores.npz`` beside it that holds every pair's score and label);
* ``feedback``, the stored votes on verifications (a thumbs up on a match or a
  thumbs down on a non-match is a genuine pair; the reverse an impostor pair);
* an embeddings file (``.npz`` with ``names`` and ``vectors``, e.g. of
  ``backend/benchmarks/lfw_embeddings.py``): every pair of it, millions of
  impostors, the only source deep enough for a 1:N threshold.

Every source must come from the same model version: a new model shifts every
score. The bootstrap resamples identities where they are known (every pair of
an embeddings file) and single pairs otherwise (``protocol.Pairs``).

The 1:N threshold: a stranger searched against F gallery faces has F chances of
a false match, so the target FPIR needs the per-face rate 1 - (1 - FPIR)^(1/F)
(``search_fmr``); on LFW the FPIR measured this way stayed within the target
(``likeness_eval.feedback_sim``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from likeness_eval.protocol import Pairs, every_pair, listed_pairs, resolvable_fmr


@dataclass
class LabelledScores:
    """Cosine scores of pairs and whether each pair is the same person."""

    scores: np.ndarray
    genuine: np.ndarray
    source: str
    model: str | None = None
    version: str | None = None  # the recogniser's SHA-256, when known
    votes: bool = False  # users' votes (some wrong), not a dataset's labels

    @property
    def impostors(self) -> int:
        return int((~self.genuine).sum())

    def pairs(self, floor_fmr: float) -> Pairs:
        return listed_pairs(self.scores, self.genuine)


@dataclass
class EmbeddingSet:
    """Embeddings with their people: every pair of them is labelled."""

    vectors: np.ndarray
    people: np.ndarray
    source: str
    model: str | None = None
    version: str | None = None

    def pairs(self, floor_fmr: float) -> Pairs:
        return every_pair(self.vectors, self.people, floor_fmr=floor_fmr)


Source = LabelledScores | EmbeddingSet


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
    version: str | None = None
    #: a 1:N threshold: the FPIR aimed at over a gallery of this many faces
    #: (``target_fmr`` is then the per-face rate, ``search_fmr``)
    target_fpir: float | None = None
    gallery_faces: int | None = None
    suspects_dropped: int = 0  # impostor votes above the genuine quantile, left out

    @property
    def kind(self) -> str:
        return "verify" if self.target_fpir is None else "search"

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
        if self.resolvable_fmr >= 1:
            return (
                f"{self.impostor_pairs} impostor pairs cannot resolve any FMR (10 false "
                "matches are needed to count one): this threshold is not supported by the data"
            )
        aim = (
            ""
            if self.target_fpir is None
            else f" (FPIR {self.target_fpir:g} over {self.gallery_faces} gallery faces)"
        )
        return (
            f"{self.impostor_pairs} impostor pairs resolve an FMR of "
            f"{self.resolvable_fmr:.1e} at best (10 false matches to count); the target "
            f"{self.target_fmr:g}{aim} is below that, so this threshold is not supported by "
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
            "model_version": self.version,
            "kind": self.kind,
            "target_fpir": self.target_fpir,
            "gallery_faces": self.gallery_faces,
            "suspects_dropped": self.suspects_dropped,
        }


#: Decimals a threshold is given with; it is rounded UP to them, so the threshold
#: someone copies into the settings still keeps the FMR at or under the target.
DECIMALS = 4


def round_up(value: float, decimals: int = DECIMALS) -> float:
    return math.ceil(value * 10**decimals - 1e-9) / 10**decimals


def search_fmr(target_fpir: float, gallery_faces: int) -> float:
    """The per-face false-match rate that gives ``target_fpir`` over a gallery of
    ``gallery_faces`` faces, each an independent chance of a false match."""
    return float(-np.expm1(np.log1p(-target_fpir) / max(gallery_faces, 1)))


@dataclass
class Sample:
    """The labelled pairs of several sources, checked to come from one model."""

    pairs: Pairs
    sources: list[str]
    model: str | None
    version: str | None
    suspects_dropped: int = 0


def sample(sets: list[Source], lowest_threshold_fmr: float, suspects: float = 0.0) -> Sample:
    """Every pair of ``sets``; impostors of embedding sets listed from the score at
    20 x ``lowest_threshold_fmr`` up (2 x above FMR 0.05), enough for bootstraps of
    thresholds at FMRs up to that rate. ``suspects``: leave out the impostor *votes*
    above that quantile of all genuine scores (wrong votes;
    ``Pairs.without_suspects``); a dataset's labels are kept."""
    models = {s.model for s in sets if s.model}
    if len(models) > 1:
        raise ValueError(f"the sources come from different models: {sorted(models)}")
    versions = {s.version for s in sets if s.version}
    if len(versions) > 1:
        short = sorted(v[:12] for v in versions)
        raise ValueError(f"the sources come from different recogniser files: {short}")
    if not 0 <= suspects < 1:
        raise ValueError("the suspects quantile is at least 0 and below 1")
    # room for the bootstrap below the threshold: 20x the rate while that is small,
    # at least 2x beyond (listing every pair at a high FMR costs gigabytes)
    t = lowest_threshold_fmr
    floor_fmr = min(1.0, max(2 * t, min(20 * t, 0.1)))
    parts = [s.pairs(floor_fmr) for s in sets]
    genuine = np.concatenate([p.scores[p.genuine] for p in parts])
    dropped = 0
    if suspects > 0 and len(genuine):
        line = float(np.quantile(genuine, suspects))
        for i, source in enumerate(sets):
            if getattr(source, "votes", False):
                parts[i], left_out = parts[i].without_suspects(suspects, line)
                dropped += left_out
    pairs = Pairs.combine(*parts)
    if pairs.impostor_pairs == 0 or pairs.genuine_pairs == 0:
        raise ValueError("calibration needs genuine and impostor pairs")
    model, version = next(iter(models), None), next(iter(versions), None)
    return Sample(pairs, [s.source for s in sets], model, version, dropped)


def calibrate_sample(
    data: Sample,
    target_fmr: float,
    rounds: int = 200,
    seed: int = 0,
    *,
    target_fpir: float | None = None,
    gallery_faces: int | None = None,
) -> Calibration:
    """The threshold at ``target_fmr`` over every pair of ``data``, rounded up to
    ``DECIMALS`` (the FMR and FNMR are those of the rounded threshold)."""
    if not 0 < target_fmr < 1:
        raise ValueError("the target FMR is between 0 and 1")
    if rounds < 1:
        raise ValueError("the bootstrap needs at least one round")
    pairs = data.pairs
    threshold = round_up(pairs.threshold_at(target_fmr))

    def resampled(weights: np.ndarray) -> float:
        try:
            return round_up(pairs.threshold_at(target_fmr, weights))
        except ValueError:  # a resample whose threshold lies below the listed pairs
            return pairs.floor

    low, high = pairs.interval(resampled, rounds=rounds, seed=seed)
    low, high = round(low, DECIMALS), round(high, DECIMALS)
    return Calibration(
        target_fmr=target_fmr,
        threshold=threshold,
        interval=(low, high),
        fmr=pairs.fmr_at(threshold),
        fnmr=pairs.fnmr_at(threshold),
        genuine_pairs=pairs.genuine_pairs,
        impostor_pairs=pairs.impostor_pairs,
        sources=list(data.sources),
        model=data.model,
        version=data.version,
        target_fpir=target_fpir,
        gallery_faces=gallery_faces,
        suspects_dropped=data.suspects_dropped,
    )


def calibrate(
    sets: list[Source], target_fmr: float, rounds: int = 200, seed: int = 0
) -> Calibration:
    """The 1:1 threshold at ``target_fmr`` over every pair of ``sets``."""
    if not 0 < target_fmr < 1:
        raise ValueError("the target FMR is between 0 and 1")
    return calibrate_sample(sample(sets, target_fmr), target_fmr, rounds, seed)


def calibrate_search(
    sets: list[Source] | Sample,
    target_fpir: float,
    gallery_faces: int,
    rounds: int = 200,
    seed: int = 0,
) -> Calibration:
    """The 1:N threshold that keeps strangers matched to someone (FPIR) at
    ``target_fpir`` in a gallery of ``gallery_faces`` faces."""
    if not 0 < target_fpir < 1:
        raise ValueError("the target FPIR is between 0 and 1")
    if gallery_faces < 1:
        raise ValueError("the gallery size is at least one face")
    rate = search_fmr(target_fpir, gallery_faces)
    data = sets if isinstance(sets, Sample) else sample(sets, rate)
    return calibrate_sample(
        data, rate, rounds, seed, target_fpir=target_fpir, gallery_faces=gallery_faces
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
        facts = json.loads(report.read_text()) if report.is_file() else {}
        model = facts.get("model")
        files = (facts.get("engine") or {}).get("files") or []
        version = next((f.get("sha256") for f in files if f.get("task") == "recognition"), None)
    except (OSError, ValueError, KeyError, AttributeError) as error:
        raise ValueError(f"{folder} is not an evaluation run ({error})") from None
    if len(scores) != len(genuine):
        raise ValueError(f"{npz}: scores and labels differ in length")
    return LabelledScores(scores, genuine, str(folder), model, version)


def from_feedback(rows, model: str | None = None, version: str | None = None) -> LabelledScores:
    """Votes as labelled pairs: ``rows`` of (similarity, is_match, vote, model_pack,
    model_version); only ``model``'s (and ``version``'s) when given. A vote on a
    search result comes as (its query-to-face score, True, vote, ...): up is genuine."""
    packs = {row[3] for row in rows}
    if model is None and len(packs) > 1:
        raise ValueError(f"the votes come from several model packs {sorted(packs)}: pass --model")
    if model is None and packs:
        model = next(iter(packs))
    kept = [r for r in rows if (model is None or r[3] == model)]
    versions = {r[4] for r in kept}
    if version is None and len(versions) > 1:
        raise ValueError(
            f"the votes of {model} come from {len(versions)} recogniser files: a new "
            "model version shifts every score; calibrate for the running one (--adopt)"
        )
    if version is None and versions:
        version = next(iter(versions))
    kept = [r for r in kept if version is None or r[4] == version]
    scores = np.asarray([float(r[0]) for r in kept])
    genuine = np.asarray([bool(r[1]) == (r[2] == "up") for r in kept], bool)  # right/wrong
    return LabelledScores(scores, genuine, "feedback", model, version, votes=True)


def from_embeddings(path: str | Path) -> EmbeddingSet:
    """An embeddings file: ``names`` (the person of each row) and ``vectors`` (unit
    embeddings), optionally ``model`` and ``model_version``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            people = np.asarray(data["names"]).astype(str)
            vectors = np.asarray(data["vectors"], np.float32)
            model = str(data["model"]) if "model" in data.files else None
            version = str(data["model_version"]) if "model_version" in data.files else None
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(
            f"{path} is not an embeddings file with names and vectors ({error})"
        ) from None
    if vectors.ndim != 2 or len(vectors) != len(people) or len(vectors) < 2:
        raise ValueError(f"{path}: names and vectors do not match")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return EmbeddingSet(vectors / np.maximum(norms, 1e-12), people, str(path), model, version)


def load_source(source: str) -> Source:
    """An evaluation run (folder, report.json, scores.npz) or an embeddings file."""
    path = Path(source)
    if path.suffix == ".npz" and path.name != "scores.npz":
        if not path.is_file():
            raise FileNotFoundError(f"no such embeddings file: {path}")
        return from_embeddings(path)
    return from_eval_run(path)
