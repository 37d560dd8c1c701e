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
from functools import cached_property

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


# -- labelled pairs with identity-level bootstrap ------------------------------------
@dataclass(frozen=True)
class Pairs:
    """Labelled pair scores whose bootstrap resamples *units*: the identities of an
    every-pair set (a pair weighs w[a] x w[b]; a genuine pair w[identity]), or single
    pairs (votes, a pair list: each its own unit). Impostor pairs of every-pair sets
    are listed only from ``floor`` up; the others are counted through ``images``
    (images per identity unit), so millions of pairs cost a few megabytes."""

    scores: np.ndarray  # float64, listed pairs
    genuine: np.ndarray  # bool
    unit_a: np.ndarray  # int64
    unit_b: np.ndarray  # int64; -1 when the pair is weighed by unit_a alone
    images: np.ndarray  # float64 per unit: images of an identity unit, 0 for a pair unit
    group: np.ndarray  # int64 per unit: the every-pair set it belongs to (-1: pair unit)
    floor: float = -1.0  # impostor pairs below it (of every-pair sets) are not listed

    @property
    def n_units(self) -> int:
        return len(self.images)

    @property
    def impostor_pairs(self) -> int:
        return int(round(self.impostor_total(np.ones(self.n_units))))

    @property
    def genuine_pairs(self) -> int:
        return int(self.genuine.sum())

    def weights(self, unit_weights: np.ndarray | None) -> np.ndarray:
        """Each listed pair's weight under ``unit_weights`` (None: all 1)."""
        if unit_weights is None:
            return np.ones(len(self.scores))
        w = unit_weights[self.unit_a]
        two = self.unit_b >= 0
        w[two] *= unit_weights[self.unit_b[two]]
        return w

    def impostor_total(self, unit_weights: np.ndarray) -> float:
        """Every impostor pair, listed or not, weighed: explicit impostor pairs plus,
        per every-pair set, the pairs between different identities."""
        explicit = (~self.genuine) & (self.unit_b < 0)
        total = float(unit_weights[self.unit_a[explicit]].sum())
        sets = self.group >= 0
        if sets.any():
            wm = unit_weights[sets] * self.images[sets]
            g = self.group[sets]
            s = np.bincount(g, weights=wm)
            sq = np.bincount(g, weights=wm * wm)
            total += float(((s * s - sq) / 2).sum())
        return total

    def threshold_at(self, target_fmr: float, unit_weights: np.ndarray | None = None) -> float:
        """The lowest threshold that lets at most ``target_fmr`` of the (weighed)
        impostor pairs through: just above the first pair that would exceed it."""
        w = np.ones(self.n_units) if unit_weights is None else unit_weights
        order = self._impostor_order
        cumulative = np.cumsum(self.weights(w)[order])
        allowed = np.floor(target_fmr * self.impostor_total(w) * (1 + 1e-9))
        over = int(np.searchsorted(cumulative, allowed, side="right"))
        if over >= len(order) and self.floor <= -1 and len(order):
            return float(self.scores[order[-1]])  # every impostor listed, all may pass
        if over >= len(order):
            raise ValueError(
                f"the listed impostor pairs (from {self.floor:.4f}) do not reach FMR "
                f"{target_fmr:g}: list more of them (a lower floor)"
            )
        return float(np.nextafter(self.scores[order[over]], np.inf))

    @cached_property
    def _impostor_order(self) -> np.ndarray:
        impostors = np.flatnonzero(~self.genuine)
        return impostors[np.argsort(-self.scores[impostors], kind="stable")]

    def fmr_at(self, threshold: float, unit_weights: np.ndarray | None = None) -> float:
        if threshold < self.floor:
            raise ValueError(f"FMR below the listed floor {self.floor:.4f} is not known")
        w = np.ones(self.n_units) if unit_weights is None else unit_weights
        passing = (~self.genuine) & (self.scores >= threshold)
        return float(self.weights(w)[passing].sum() / max(self.impostor_total(w), 1e-12))

    def fnmr_at(self, threshold: float, unit_weights: np.ndarray | None = None) -> float:
        weights = self.weights(unit_weights)[self.genuine]
        below = self.scores[self.genuine] < threshold
        return float(weights[below].sum() / max(weights.sum(), 1e-12))

    def interval(
        self,
        statistic: Callable[[np.ndarray], float],
        rounds: int = 200,
        seed: int = 0,
        level: float = 0.90,
    ) -> tuple[float, float]:
        """Bootstrap interval of ``statistic(unit_weights)``: each unit drawn a
        Poisson(1) number of times (identities move with all their pairs)."""
        rng = np.random.default_rng(seed)
        values = [
            statistic(rng.poisson(1.0, self.n_units).astype(np.float64)) for _ in range(rounds)
        ]
        tail = (1 - level) / 2 * 100
        return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))

    def without_suspects(self, quantile: float, line: float | None = None) -> tuple[Pairs, int]:
        """The pairs without the impostor-labelled pairs that score above the
        ``quantile`` of the genuine scores (or above ``line``, when given): far
        likelier a same-person pair voted "different" than a true impostor, and
        each one moves a threshold deep in the tail a long way (``feedback_sim``).
        Dropped pairs of every-pair sets stay counted in the total (a handful among
        millions)."""
        if line is None:
            if not 0 < quantile < 1 or not self.genuine.any():
                return self, 0
            line = float(np.quantile(self.scores[self.genuine], quantile))
        keep = self.genuine | (self.scores < line)
        dropped = int((~keep).sum())
        if dropped == 0:
            return self, 0
        trimmed = Pairs(
            self.scores[keep],
            self.genuine[keep],
            self.unit_a[keep],
            self.unit_b[keep],
            self.images,
            self.group,
            self.floor,
        )
        return trimmed, dropped

    @staticmethod
    def combine(*parts: Pairs) -> Pairs:
        """One sample of several sources (units and sets kept apart)."""
        offsets = np.cumsum([0] + [p.n_units for p in parts[:-1]])
        groups = np.cumsum([0] + [int(p.group.max(initial=-1)) + 1 for p in parts[:-1]])
        return Pairs(
            scores=np.concatenate([p.scores for p in parts]),
            genuine=np.concatenate([p.genuine for p in parts]),
            unit_a=np.concatenate([p.unit_a + o for p, o in zip(parts, offsets, strict=True)]),
            unit_b=np.concatenate(
                [
                    np.where(p.unit_b >= 0, p.unit_b + o, -1)
                    for p, o in zip(parts, offsets, strict=True)
                ]
            ),
            images=np.concatenate([p.images for p in parts]),
            group=np.concatenate(
                [
                    np.where(p.group >= 0, p.group + g, -1)
                    for p, g in zip(parts, groups, strict=True)
                ]
            ),
            floor=max(p.floor for p in parts),
        )


def listed_pairs(scores: np.ndarray, genuine: np.ndarray) -> Pairs:
    """Pairs given one by one (votes, a pair list): each pair is its own unit."""
    n = len(scores)
    return Pairs(
        scores=np.asarray(scores, np.float64),
        genuine=np.asarray(genuine, bool),
        unit_a=np.arange(n, dtype=np.int64),
        unit_b=np.full(n, -1, np.int64),
        images=np.zeros(n),
        group=np.full(n, -1, np.int64),
    )


def every_pair(
    embeddings: np.ndarray,
    identities: Sequence[str],
    floor_fmr: float = 1e-2,
    chunk: int = 2048,
) -> Pairs:
    """Every pair of an embedding set: all genuine pairs (same identity), and the
    impostor pairs (different identities) from the score at ``floor_fmr`` up, the
    rest counted. Units are identities."""
    x = np.asarray(embeddings, np.float32)
    names, ids = np.unique(np.asarray(identities), return_inverse=True)
    histogram = impostor_scores(x, identities, chunk)
    floor_fmr = min(max(floor_fmr, resolvable_fmr(histogram.pairs)), 1.0)
    floor = histogram.threshold_at(floor_fmr) if floor_fmr < 1 else -1.0
    scores, genuine, unit_a, unit_b = [], [], [], []
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk] @ x[start:].T
        rows = np.arange(start, min(start + chunk, len(x)))
        cols = np.arange(start, len(x))
        upper = cols[None, :] > rows[:, None]
        same = ids[rows][:, None] == ids[cols][None, :]
        for mask, is_genuine in ((upper & same, True), (upper & ~same & (block >= floor), False)):
            r, c = np.nonzero(mask)
            scores.append(block[r, c].astype(np.float64))
            genuine.append(np.full(len(r), is_genuine))
            unit_a.append(ids[rows[r]])
            unit_b.append(np.full(len(r), -1, np.int64) if is_genuine else ids[cols[c]])
    return Pairs(
        scores=np.concatenate(scores),
        genuine=np.concatenate(genuine),
        unit_a=np.concatenate(unit_a).astype(np.int64),
        unit_b=np.concatenate(unit_b).astype(np.int64),
        images=np.bincount(ids, minlength=len(names)).astype(np.float64),
        group=np.zeros(len(names), np.int64),
        floor=floor,
    )
