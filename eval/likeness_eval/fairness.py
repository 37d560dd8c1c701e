"""Fairness (issue 16): verification error rates broken down by a group-label file.

The file is CSV ``image,group`` (a header line and ``#`` comments are optional);
``image`` names an LFW photo as ``Name/Name_0001.jpg``, ``Name_0001.jpg``,
``Name_0001`` or ``Name_1``, or a person as ``Name`` (all their photos). One global
threshold is set at a fixed FMR over every cross-identity pair of the labelled View
2 photos (the way a deployment runs: one threshold for everybody), then each group's
FNMR (its genuine pairs: every pair of two photos of one person, both in the group)
and FMR (impostor pairs with both photos in the group) are read at it. The headline
is the ratio of the largest to the smallest group FNMR over the groups with enough
genuine pairs, with how far each group's people-resampled interval lets it go; a
problem is flagged when even its lowest value is above ``FLAG_RATIO`` (a group's
genuine pairs fail twice as often, and not by the luck of which people are in it).
A group's AUC compares its genuine pairs with its own impostor pairs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from likeness_eval.protocol import BINS, identity_of, impostor_scores

FMR = 1e-3
FLAG_RATIO = 2.0
MIN_GENUINE = 100  # fewer genuine pairs than this: the group's FNMR is noise


def _key(image: str) -> str:
    """``Name_0001`` from any of the accepted spellings (``Name_1`` is padded)."""
    stem = image.strip().replace("\\", "/").rsplit("/", 1)[-1]
    if stem.lower().endswith((".jpg", ".jpeg", ".png")):
        stem = stem.rsplit(".", 1)[0]
    name, _, number = stem.rpartition("_")
    return f"{name}_{int(number):04d}" if name and number.isdigit() else stem


def group_of(image: str, labels: dict[str, str]) -> str:
    """The group of one photo: its own label, else its person's ("" when neither)."""
    return labels.get(_key(image)) or labels.get(identity_of(image), "")


def check_labels(images: list[str], labels: dict[str, str], fmr: float = FMR) -> int:
    """Before any work: how many photos of ``images`` the labels name; ``ValueError``
    when none, or too few for a threshold at ``fmr``."""
    people = [identity_of(i) for i in images if group_of(i, labels)]
    if not people:
        example = next(iter(labels))
        raise ValueError(
            f"no photo of this set is in the label file (it names e.g. {example!r}; "
            "expected photos like Aaron_Peirsol/Aaron_Peirsol_0001.jpg or people like "
            "Aaron_Peirsol)"
        )
    _, counts = np.unique(people, return_counts=True)
    pairs = int((len(people) ** 2 - np.sum(counts.astype(np.int64) ** 2)) // 2)
    if pairs < 10 / fmr:
        raise ValueError(
            f"too few labelled photos for FMR {fmr:g}: {len(people)} photos make {pairs} "
            f"cross-identity pairs, and {int(10 / fmr)} are needed"
        )
    return len(people)


def read_groups(path: Path) -> dict[str, str]:
    """photo stem (or person) -> group, from the CSV. ``ValueError`` names the file
    and the line at fault."""
    try:
        return _read_groups(path)
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text (save the label file as UTF-8)") from None


def _read_groups(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        first = True
        for number, row in enumerate(csv.reader(handle), 1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            header = [c.strip().lower() for c in row] == ["image", "group"]
            was_first, first = first, False
            if was_first and header:
                continue
            if len(row) != 2 or not row[0].strip() or not row[1].strip():
                raise ValueError(f"{path}:{number}: expected 'image,group', got {row!r}")
            key, group = _key(row[0]), row[1].strip()
            if out.get(key, group) != group:
                raise ValueError(f"{path}:{number}: {row[0]} is in two groups")
            out[key] = group
    if not out:
        raise ValueError(f"{path}: no labels")
    return out


def _genuine(x: np.ndarray, people: np.ndarray, members: np.ndarray, threshold: float):
    """(scores of every pair of two photos of one person among ``members``, and per
    person with such pairs: [failures below ``threshold``, pairs])."""
    scores, counts = [], []
    for person in np.unique(people[members]):
        idx = members[people[members] == person]
        if len(idx) < 2:
            continue
        s = (x[idx] @ x[idx].T)[np.triu_indices(len(idx), 1)]
        scores.append(s)
        counts.append((int(np.sum(s < threshold)), len(s)))
    return (np.concatenate(scores) if scores else np.zeros(0),
            np.array(counts, np.int64).reshape(-1, 2))  # fmt: skip


def fairness(embeddings: np.ndarray, images: list[str], labels: dict[str, str],
             fmr: float = FMR, *, rounds: int = 1000, seed: int = 0) -> dict:  # fmt: skip
    """Per-group rates at one threshold (see the module docstring)."""
    x = np.asarray(embeddings, np.float32)
    group = np.array([group_of(i, labels) for i in images])
    labelled = np.flatnonzero(group != "")
    if not len(labelled):
        raise ValueError("no photo of this set is in the label file")
    people = np.array([identity_of(i) for i in images])
    everyone = impostor_scores(x[labelled], people[labelled])
    try:
        threshold = everyone.threshold_at(fmr)
    except ValueError as error:
        raise ValueError(f"too few labelled photos for FMR {fmr:g}: {error}") from None
    rows, per_person = {}, {}
    for name in sorted(set(group[labelled])):
        members = np.flatnonzero(group == name)
        genuine, per_person[name] = _genuine(x, people, members, threshold)
        impostor = impostor_scores(x[members], people[members])
        row = {
            "photos": int(len(members)),
            "people": int(len(np.unique(people[members]))),
            "genuine_pairs": int(len(genuine)),
            "impostor_pairs": int(impostor.pairs),
            "fnmr": float(np.mean(genuine < threshold)) if len(genuine) else None,
            "fmr": impostor.fmr_at(threshold) if impostor.pairs else None,
            "auc": None,
        }
        if len(genuine) and impostor.pairs:
            # AUC from the impostor histogram: P(genuine > impostor) + ties / 2
            below = np.concatenate([[0], np.cumsum(impostor.counts)])
            at = np.clip(np.searchsorted(BINS, genuine, side="right") - 1, 0, len(BINS) - 2)
            row["auc"] = float(np.mean((below[at] + impostor.counts[at] / 2) / impostor.pairs))
        rows[name] = row
    rated = sorted(k for k, v in rows.items() if v["genuine_pairs"] >= MIN_GENUINE)
    ratio = fnmr_ratio({k: per_person[k] for k in rated}, rounds=rounds, seed=seed)
    return {
        "labelled_photos": int(len(labelled)),
        "fmr": fmr,
        "threshold": threshold,
        "impostor_pairs": everyone.pairs,
        "groups": rows,
        **ratio,
        "rated_groups": rated,
        "thin_groups": sorted(k for k, v in rows.items() if v["genuine_pairs"] < MIN_GENUINE),
    }


def group_interval(counts: np.ndarray, rng, rounds: int, level: float) -> tuple[float, float]:
    """A group's FNMR interval from rows [failures, pairs] per person: people
    resampled (one person's failures move together); a group without a failure
    gets the exact one-sided bound with each person as one trial (conservative)."""
    tail = (1 - level) / 2
    if counts[:, 0].sum() == 0:
        return 0.0, float(1 - tail ** (1 / len(counts)))
    pick = rng.integers(0, len(counts), (rounds, len(counts)))
    draws = counts[pick, 0].sum(axis=1) / np.maximum(counts[pick, 1].sum(axis=1), 1)
    low, high = np.quantile(draws, [tail, 1 - tail])
    return float(low), float(high)


def fnmr_ratio(per_person: dict[str, np.ndarray], *, rounds: int = 1000, seed: int = 0,
               level: float = 0.90) -> dict:  # fmt: skip
    """The largest/smallest FNMR ratio over groups, each given per person as rows of
    [failures, genuine pairs], and how far the groups' intervals let it go: at
    least (the highest group's lower bound over the lowest group's upper bound) and
    at most. A few people hold most failures, so a point ratio flags noise: a
    problem is flagged only when even the "at least" ratio is above ``FLAG_RATIO``.
    A group without failures leaves the point ratio and the "at most" unbounded."""
    if len(per_person) < 2:
        return {"fnmr_ratio": None, "ratio_at_least": None, "ratio_at_most": None,
                "group_intervals_90": {}, "flagged": False}  # fmt: skip
    rng = np.random.default_rng(seed)
    rates = {k: c[:, 0].sum() / c[:, 1].sum() for k, c in per_person.items()}
    spans = {k: group_interval(c, rng, rounds, level) for k, c in per_person.items()}
    high, low = max(rates.values()), min(rates.values())
    point = 1.0 if high == 0 else (None if low == 0 else float(high / low))
    floor = max(lo for lo, _ in spans.values()) / min(hi for _, hi in spans.values())
    ceiling_low = min(lo for lo, _ in spans.values())
    ceiling = None if ceiling_low == 0 else max(hi for _, hi in spans.values()) / ceiling_low
    at_least = max(1.0, float(floor))
    return {
        "fnmr_ratio": point,
        "ratio_at_least": at_least,
        "ratio_at_most": None if ceiling is None else float(ceiling),
        "group_intervals_90": {k: list(v) for k, v in spans.items()},
        "flagged": bool(at_least > FLAG_RATIO),
    }
