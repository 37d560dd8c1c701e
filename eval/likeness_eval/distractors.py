"""Synthetic faces fitted to real embeddings, for galleries larger than any labelled
set we hold: the 1:N benchmark's two-covariance model (x = mu + b + w; b ~ N(0, Sb)
between people, w ~ N(0, Sw) within a person), sampled and projected back to the
unit sphere. The evaluation suite grows its identification gallery with them; the
gallery and clustering benchmarks build their test data from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DIM = 512


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def cosine_moments(x: np.ndarray, labels: np.ndarray, rng, n: int = 20_000):
    """Mean/sd of genuine and impostor cosine similarities of unit rows ``x``."""
    order = np.argsort(labels, kind="stable")
    first, second = order[:-1], order[1:]
    same = labels[first] == labels[second]
    gen = np.einsum("ij,ij->i", x[first[same]], x[second[same]])
    a, b = rng.integers(0, len(x), (2, n))
    keep = labels[a] != labels[b]
    imp = np.einsum("ij,ij->i", x[a[keep]], x[b[keep]])
    return float(gen.mean()), float(gen.std()), float(imp.mean()), float(imp.std())


class LfwModel:
    """The two-covariance model of real embeddings ``vectors`` labelled by ``names``
    (people with one image count towards the between-person part only)."""

    def __init__(self, names: np.ndarray, vectors: np.ndarray) -> None:
        x = np.asarray(vectors, np.float64)
        _, labels = np.unique(np.asarray(names), return_inverse=True)
        if x.ndim != 2 or len(x) != len(labels):
            raise ValueError("one name per embedding row is needed")
        counts = np.bincount(labels)
        if np.sum(counts >= 2) < 2:
            raise ValueError("fitting needs at least two people with two embeddings or more")
        self.dim = x.shape[1]
        self.real = (x, labels)
        self.mu = x.mean(axis=0)
        means = np.zeros((counts.size, x.shape[1]))
        np.add.at(means, labels, x)
        means /= counts[:, None]
        multi = counts[labels] >= 2
        dev = (x - means[labels])[multi] * np.sqrt(
            counts[labels][multi] / (counts[labels][multi] - 1)
        )[:, None]
        within = dev.T @ dev / len(dev)
        # Real faces vary in how far they sit from their person's centre (pose, age,
        # light); a shared Gaussian would not. Each sample's noise is scaled by a
        # factor drawn from the real deviations' norms (mean square 1).
        norms = np.linalg.norm(dev, axis=1)
        self.scales = (norms / np.sqrt(np.mean(norms**2))).astype(np.float32)
        total = np.cov(x, rowvar=False)
        self.within = self._root(within)
        self.between = self._root(total - within)

    @classmethod
    def from_npz(cls, path: str | Path) -> LfwModel:
        """From ``lfw_embeddings.py``'s file (arrays ``names`` and ``vectors``)."""
        with np.load(path) as data:
            return cls(data["names"], data["vectors"])

    @staticmethod
    def _root(cov: np.ndarray) -> np.ndarray:
        values, vectors = np.linalg.eigh((cov + cov.T) / 2)
        return (vectors * np.sqrt(np.clip(values, 0, None))).astype(np.float32)

    def centroids(self, rng, n: int) -> np.ndarray:
        z = rng.standard_normal((n, self.dim), dtype=np.float32)
        return (self.mu.astype(np.float32) + z @ self.between.T).astype(np.float32)

    def samples(self, rng, centroids: np.ndarray) -> np.ndarray:
        z = rng.standard_normal(centroids.shape, dtype=np.float32)
        scale = rng.choice(self.scales, len(centroids))[:, None]
        return unit(centroids + scale * (z @ self.within.T))

    def people(self, rng, n: int, chunk: int = 100_000) -> np.ndarray:
        """One enrolment photo each of ``n`` new people (unit rows)."""
        out = np.empty((n, self.dim), np.float32)
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            out[start : start + m] = self.samples(rng, self.centroids(rng, m))
        return out

    def fit_check(self, rng) -> dict:
        """Genuine and impostor cosine moments, real against fitted (people with
        as many images as the real ones have), to print beside any result."""
        x, labels = self.real
        counts = np.bincount(labels)
        cents = self.centroids(rng, len(counts))
        fitted = self.samples(rng, cents[labels])
        real = cosine_moments(unit(x), labels, rng)
        fake = cosine_moments(fitted, labels, rng)
        keys = ("genuine_mean", "genuine_sd", "impostor_mean", "impostor_sd")
        return {
            "real": dict(zip(keys, real, strict=True)),
            "fitted": dict(zip(keys, fake, strict=True)),
        }
