"""Identification (1:N) from embeddings: closed-set CMC and open-set DIR against
FPIR, on a labelled image set split as the evaluation suite does (issue 16):

* gallery: the first image (by name) of every person with two images or more;
* probes: the other images of those people (their person is enrolled);
* strangers: every image of the people with one image (nobody enrolled).

CMC at rank k: the share of probes whose own person is among the k best-scoring
gallery identities. DIR at a threshold: probes whose best match is their own
person AND scores at least the threshold; FPIR: strangers whose best match scores
at least the threshold (matched to someone)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    gallery: np.ndarray  # image indices, one per enrolled identity
    probes: np.ndarray
    strangers: np.ndarray

    def as_dict(self) -> dict:
        return {
            "gallery_identities": len(self.gallery),
            "probes": len(self.probes),
            "strangers": len(self.strangers),
        }


def split(images: list[str], identities: np.ndarray) -> Split:
    """The suite's split (see the module docstring); ``images`` give the order."""
    order = np.argsort(np.asarray(images), kind="stable")
    first: dict[str, int] = {}
    counts: dict[str, int] = {}
    for i in order:
        person = str(identities[i])
        counts[person] = counts.get(person, 0) + 1
        first.setdefault(person, int(i))
    gallery = [first[p] for p in sorted(first) if counts[p] >= 2]
    enrolled = set(gallery)
    probes = [int(i) for i in order if counts[str(identities[i])] >= 2 and int(i) not in enrolled]
    strangers = [int(i) for i in order if counts[str(identities[i])] == 1]
    return Split(np.array(gallery), np.array(probes), np.array(strangers))


@dataclass
class Identification:
    ranks: np.ndarray  # 1..R
    cmc: np.ndarray  # share of probes whose person is within the first k
    probe_best: np.ndarray  # best gallery score of each probe
    probe_right: np.ndarray  # the best is the probe's own person
    stranger_best: np.ndarray  # best gallery score of each stranger
    probe_rank: np.ndarray | None = None  # rank of each probe's own person (1 = first)
    probe_top: np.ndarray | None = None  # gallery column of each probe's best match

    def dir_at(self, threshold: float) -> float:
        return float(np.mean(self.probe_right & (self.probe_best >= threshold)))

    def fpir_at(self, threshold: float) -> float:
        return float(np.mean(self.stranger_best >= threshold)) if len(self.stranger_best) else 0.0

    def threshold_at_fpir(self, fpir: float) -> float:
        """The lowest threshold with at most ``fpir`` of the strangers matched."""
        scores = np.sort(self.stranger_best)[::-1]
        if not len(scores):
            return float("-inf")  # no strangers: nothing to keep out
        allowed = int(np.floor(fpir * len(scores)))
        if allowed >= len(scores):
            return float(scores[-1])
        return float(np.nextafter(scores[allowed], np.inf))

    def curve(self, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
        """(FPIR, DIR) over every threshold the strangers and probes give."""
        grid = np.unique(np.concatenate([self.stranger_best, self.probe_best]))
        if len(grid) > points:
            grid = np.quantile(grid, np.linspace(0, 1, points))
        fpir = np.array([self.fpir_at(t) for t in grid])
        dir_ = np.array([self.dir_at(t) for t in grid])
        return fpir, dir_


def identify(
    embeddings: np.ndarray,
    identities: np.ndarray,
    parts: Split,
    max_rank: int = 20,
    distractors: np.ndarray | None = None,
    chunk: int = 512,
) -> Identification:
    """Score every probe and stranger against every gallery identity; ``distractors``
    (unit rows) join the gallery as people nobody else is."""
    x = np.asarray(embeddings, np.float32)
    _, people = np.unique(np.asarray(identities), return_inverse=True)
    gallery = x[parts.gallery]
    names = people[parts.gallery]
    if distractors is not None and len(distractors):
        gallery = np.concatenate([gallery, np.asarray(distractors, np.float32)])
        names = np.concatenate([names, np.full(len(distractors), -1)])
    ranks = np.arange(1, min(max_rank, len(names)) + 1)
    hits = np.zeros(len(ranks))
    column = {int(p): i for i, p in enumerate(people[parts.gallery])}
    best, right, ranks_of, tops = [], [], [], []
    for start in range(0, len(parts.probes), chunk):
        idx = parts.probes[start : start + chunk]
        scores = x[idx] @ gallery.T
        own = np.array([column[int(p)] for p in people[idx]])
        own_score = scores[np.arange(len(idx)), own]
        rank = 1 + np.sum(scores > own_score[:, None], axis=1)  # ties count for the probe
        hits += np.array([np.sum(rank <= k) for k in ranks])
        best.append(scores.max(axis=1))
        right.append(rank == 1)
        ranks_of.append(rank)
        tops.append(np.argmax(scores, axis=1))
    strangers = [
        (x[parts.strangers[s : s + chunk]] @ gallery.T).max(axis=1)
        for s in range(0, len(parts.strangers), chunk)
    ]
    return Identification(
        ranks=ranks,
        cmc=hits / max(len(parts.probes), 1),
        probe_best=np.concatenate(best) if best else np.zeros(0),
        probe_right=np.concatenate(right) if right else np.zeros(0, bool),
        stranger_best=np.concatenate(strangers) if strangers else np.zeros(0),
        probe_rank=np.concatenate(ranks_of) if ranks_of else np.zeros(0, int),
        probe_top=np.concatenate(tops) if tops else np.zeros(0, int),
    )


def rate_interval(rate: float, n: int, level: float = 0.90) -> list[float]:
    """Wilson interval of a rate measured on ``n`` trials (``[nan, nan]`` when none)."""
    if n <= 0:
        return [float("nan"), float("nan")]
    from scipy.stats import binomtest

    ci = binomtest(int(round(rate * n)), n).proportion_ci(confidence_level=level, method="wilson")
    return [float(ci.low), float(ci.high)]


def held_out_open_set(ident: Identification, parts: Split, half_a: np.ndarray,
                      fpir: float = 0.01) -> dict | None:  # fmt: skip
    """The open-set threshold set on the strangers of one identity half (``half_a``,
    a mask over images) at ``fpir``, then measured on the other half's strangers
    and probes: no stranger measured helped choose it."""
    fit = ident.stranger_best[half_a[parts.strangers]]
    test = ~half_a[parts.strangers]
    probes = ~half_a[parts.probes]
    if not len(fit) or not test.any() or not probes.any():
        return None
    fitted = Identification(ident.ranks, ident.cmc, ident.probe_best[probes],
                            ident.probe_right[probes], ident.stranger_best[test])  # fmt: skip
    threshold = Identification(ident.ranks, ident.cmc, np.zeros(0), np.zeros(0, bool),
                               fit).threshold_at_fpir(fpir)  # fmt: skip
    return {
        "target_fpir": fpir,
        "threshold": threshold,
        "fit_strangers": int(len(fit)),
        "strangers": int(test.sum()),
        "probes": int(probes.sum()),
        "fpir": fitted.fpir_at(threshold),
        "unknown_detection": 1.0 - fitted.fpir_at(threshold),
        "dir": fitted.dir_at(threshold),
    }
