"""The measurement protocol shared by the face checks, calibration, the fine-tuning
gate and the evaluation suite (``../shared/ARCHITECTURE.md``):

* identity-disjoint halves of a labelled image set (fit on one, report on the other);
* every cross-identity pair as the impostor side, scored in chunks (never an n x n
  matrix in memory) and summarised by a fine histogram;
* bootstrap confidence intervals;
* no claim below the FMR the impostor pairs can resolve (``resolvable_fmr``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: Histogram of impostor scores: cosine in [-1, 1] in steps of 1e-4.
BINS = np.linspace(-1.0, 1.0, 20_001)


def identity_of(image: str) -> str:
    """The person of an LFW-style path ``Name/Name_0001.jpg`` (or ``Name_0001.jpg``)."""
    stem = image.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return stem.rsplit("_", 1)[0]


def identity_halves(images: Sequence[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two boolean masks over ``images`` that split the identities in half at random
    (seeded): no person has images on both sides."""
    identities = np.array([identity_of(i) for i in images])
    names = np.unique(identities)
    order = np.random.default_rng(seed).permutation(len(names))
    first = set(names[order[: len(names) // 2]])
    mask = np.array([name in first for name in identities])
    return mask, ~mask


@dataclass(frozen=True)
class ImpostorScores:
    """Every cross-identity pair's score, as a histogram over ``BINS``."""

    counts: np.ndarray
    pairs: int

    def threshold_at(self, fmr: float) -> float:
        """The lowest threshold whose FMR (share of impostors >= it) is <= ``fmr``."""
        if fmr < resolvable_fmr(self.pairs):
            raise ValueError(
                f"FMR {fmr:g} is below what {self.pairs} impostor pairs can resolve "
                f"({resolvable_fmr(self.pairs):g})"
            )
        above = np.cumsum(self.counts[::-1])[::-1]  # impostors >= each bin's lower edge
        ok = np.flatnonzero(above <= fmr * self.pairs)
        return float(BINS[ok[0]]) if len(ok) else 1.0

    def fmr_at(self, threshold: float) -> float:
        start = int(np.searchsorted(BINS, threshold, side="left"))
        return float(self.counts[start:].sum() / self.pairs)


def resolvable_fmr(impostor_pairs: int, errors: int = 10) -> float:
    """The lowest FMR worth claiming from this many impostor pairs: one that still
    leaves ``errors`` false matches to count."""
    return errors / max(impostor_pairs, 1)


def impostor_scores(
    embeddings: np.ndarray, identities: Sequence[str], chunk: int = 2048
) -> ImpostorScores:
    """Scores of every pair of rows with different identities (unit vectors)."""
    x = np.asarray(embeddings, np.float32)
    ids = np.unique(np.asarray(identities), return_inverse=True)[1]
    counts = np.zeros(len(BINS) - 1, np.int64)
    pairs = 0
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk] @ x[start:].T  # rows i, columns j >= start
        rows = np.arange(start, min(start + chunk, len(x)))
        cols = np.arange(start, len(x))
        keep = (cols[None, :] > rows[:, None]) & (ids[rows][:, None] != ids[cols][None, :])
        values = block[keep]
        pairs += len(values)
        counts += np.histogram(np.clip(values, -1, 1 - 1e-9), BINS)[0]
    return ImpostorScores(counts, pairs)


def bootstrap(
    statistic: Callable[[np.ndarray], float | np.ndarray],
    n: int,
    *,
    rounds: int = 200,
    seed: int = 0,
    level: float = 0.90,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of ``statistic(indices)`` over ``rounds`` resamples of ``range(n)``
    with replacement (whole groups at a time when ``groups`` labels each item, e.g.
    by identity, so related items move together)."""
    rng = np.random.default_rng(seed)
    values = []
    if groups is None:
        for _ in range(rounds):
            values.append(statistic(rng.integers(0, n, n)))
    else:
        labels, inverse = np.unique(groups, return_inverse=True)
        members = [np.flatnonzero(inverse == g) for g in range(len(labels))]
        for _ in range(rounds):
            chosen = rng.integers(0, len(labels), len(labels))
            values.append(statistic(np.concatenate([members[g] for g in chosen])))
    values = np.asarray(values, np.float64)
    tail = (1 - level) / 2 * 100
    return np.percentile(values, tail, axis=0), np.percentile(values, 100 - tail, axis=0)
