"""Fairness (issue 16): verification error rates broken down by a group-label file.

The file is CSV ``image,group`` (a header line and ``#`` comments are optional);
``image`` names an LFW photo as ``Name/Name_0001.jpg``, ``Name_0001.jpg`` or
``Name_0001``. One global threshold is set at a fixed FMR over every cross-identity
pair of the labelled View 2 photos (the way a deployment runs: one threshold for
everybody), then each group's FNMR (its genuine pairs: every pair of two photos of
one person, both in the group) and FMR (impostor pairs with both photos in the
group) are read at it. The headline is the ratio of the largest to the smallest
group FNMR; above ``FLAG_RATIO`` flags a problem (a group's genuine pairs fail twice
as often). A group's AUC compares its genuine pairs with its own impostor pairs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from likeness_eval.protocol import BINS, identity_of, impostor_scores

FMR = 1e-3
FLAG_RATIO = 2.0
MIN_GENUINE = 100  # fewer genuine pairs than this: the group's FNMR is noise


def _key(image: str) -> str:
    return image.strip().replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]


def read_groups(path: Path) -> dict[str, str]:
    """photo stem -> group, from the CSV. ``ValueError`` names the line at fault."""
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


def _genuine(x: np.ndarray, people: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Scores of every pair of two photos of one person among ``members``."""
    scores = []
    for person in np.unique(people[members]):
        idx = members[people[members] == person]
        if len(idx) < 2:
            continue
        s = x[idx] @ x[idx].T
        scores.append(s[np.triu_indices(len(idx), 1)])
    return np.concatenate(scores) if scores else np.zeros(0)


def fairness(embeddings: np.ndarray, images: list[str], labels: dict[str, str],
             fmr: float = FMR) -> dict:  # fmt: skip
    """Per-group rates at one threshold (see the module docstring)."""
    x = np.asarray(embeddings, np.float32)
    keys = [_key(i) for i in images]
    group = np.array([labels.get(k, "") for k in keys])
    labelled = np.flatnonzero(group != "")
    if not len(labelled):
        raise ValueError("no photo of this set is in the label file")
    people = np.array([identity_of(i) for i in images])
    everyone = impostor_scores(x[labelled], people[labelled])
    try:
        threshold = everyone.threshold_at(fmr)
    except ValueError as error:
        raise ValueError(f"too few labelled photos for FMR {fmr:g}: {error}") from None
    rows = {}
    for name in sorted(set(group[labelled])):
        members = np.flatnonzero(group == name)
        genuine = _genuine(x, people, members)
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
    # a group without a single failure counts as one (the ratio is then a lower bound)
    rated = {
        k: max(v["fnmr"], 1 / v["genuine_pairs"]) for k, v in rows.items() if v["fnmr"] is not None
    }
    ratio = max(rated.values()) / min(rated.values()) if len(rated) >= 2 else None
    return {
        "labelled_photos": int(len(labelled)),
        "fmr": fmr,
        "threshold": threshold,
        "impostor_pairs": everyone.pairs,
        "groups": rows,
        "fnmr_ratio": ratio,
        "flagged": ratio is not None and ratio > FLAG_RATIO,
        "thin_groups": sorted(k for k, v in rows.items() if v["genuine_pairs"] < MIN_GENUINE),
    }
