"""Embedding every image of a pair set through the engine the API serves.

Per image (folder sets): ``likeness.imaging.load_image`` -> ``engine.detect`` ->
the face nearest the image centre (``choose_face``, policy CENTRAL) ->
``engine.embed_faces``. Aligned sets (``.bin``) go straight to ``engine.embed_aligned``.

No image is ever dropped. When the detector finds no face, the image is embedded
from a *centre crop*: the largest centred square, resized to the recogniser's input
(112x112) and passed to ``engine.embed_aligned``. Such images are counted and listed.

Each image's whole path (read, hash, decode, detect, embed) runs in a thread pool
with one image per core and a bounded prefetch; the engine uses one ONNX Runtime
thread per call, and results are collected in order.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from likeness.engine import FaceEngine, choose_face
from likeness.imaging import ImageLimits, load_image
from likeness.settings import FacePolicy
from tqdm import tqdm

from likeness_eval.datasets import PairSet

POLICY = FacePolicy.CENTRAL
#: Bump when the way an embedding is computed changes (invalidates caches).
PIPELINE_VERSION = 1
ALIGNED_BATCH = 64


def centre_crop(image: np.ndarray, size: int = 112) -> np.ndarray:
    """The largest centred square of ``image``, resized to ``size`` x ``size``."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[top : top + side, left : left + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interp)


class EmbeddingCache:
    """Embeddings on disk, one ``.npz`` per pipeline configuration (model file hashes,
    flip, detector settings, face policy), keyed inside by the image file's SHA-256."""

    def __init__(self, directory: Path | None, config: dict) -> None:
        self.config = config
        blob = json.dumps(config, sort_keys=True).encode()
        self.key = hashlib.sha256(blob).hexdigest()[:20]
        self.path = None if directory is None else Path(directory) / f"{self.key}.npz"
        self.entries: dict[str, tuple[np.ndarray, bool, int]] = {}
        self.dirty = False
        if self.path is not None and self.path.is_file():
            with np.load(self.path, allow_pickle=False) as data:
                for sha, emb, no_face, n_faces in zip(
                    data["sha"], data["emb"], data["no_face"], data["n_faces"], strict=True
                ):
                    self.entries[str(sha)] = (emb, bool(no_face), int(n_faces))

    def get(self, sha: str):
        return self.entries.get(sha)

    def put(self, sha: str, emb: np.ndarray, no_face: bool, n_faces: int) -> None:
        self.entries[sha] = (np.asarray(emb, np.float32), no_face, n_faces)
        self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty or not self.entries:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        shas = list(self.entries)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}.npz")
        np.savez(
            tmp,
            sha=np.array(shas),
            emb=np.stack([self.entries[s][0] for s in shas]),
            no_face=np.array([self.entries[s][1] for s in shas]),
            n_faces=np.array([self.entries[s][2] for s in shas]),
        )
        os.replace(tmp, self.path)
        self.path.with_suffix(".json").write_text(json.dumps(self.config, indent=2))
        self.dirty = False


def cache_config(engine: FaceEngine, flip: bool, aligned: bool) -> dict:
    """The cache key: every engine setting that can change an embedding (the
    engine lists them) plus this pipeline's own choices."""
    return {
        **engine.embedding_settings(),
        "pipeline_version": PIPELINE_VERSION,
        "flip": bool(flip),
        "aligned_input": bool(aligned),
        "policy": POLICY.value,
    }


@dataclass
class EmbeddingRun:
    embeddings: np.ndarray  # (N, D) unit vectors, one per image of the pair set
    no_face: np.ndarray  # (N,) bool: centre-crop fallback used
    n_faces: np.ndarray  # (N,) faces the detector found (-1 for aligned inputs)
    cached: int = 0
    computed: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def images_per_second(self) -> float | None:
        wall = self.timings_s.get("embed_wall", 0.0)
        return self.computed / wall if self.computed and wall > 0 else None


def _reader(pairset: PairSet, cache: EmbeddingCache, engine: FaceEngine, flip: bool):
    """Per-image work for the pool: read, hash, check the cache, decode and, unless the
    set is pre-aligned, detect and embed. ONNX Runtime releases the GIL, so the pool
    runs one image per core (the engine uses one intra-op thread), which scales
    better on CPU than one image at a time on several intra-op threads."""
    crop = engine.recognizer.crop_size

    def read(index: int):
        start = time.perf_counter()
        if pairset.blobs is not None:
            data = pairset.blobs[index]
        else:
            data = pairset.path(index).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        hit = cache.get(sha)
        image = None
        result = None
        if hit is None:
            image = load_image(data, ImageLimits(max_bytes=max(len(data), 1)))
        decode = time.perf_counter() - start
        if hit is None and not pairset.aligned:
            start = time.perf_counter()
            faces = engine.detect(image)
            detect = time.perf_counter() - start
            start = time.perf_counter()
            if faces:
                height, width = image.shape[:2]
                k = choose_face(faces, width, height, POLICY)
                unit, _ = engine.embed_faces(image, [faces[k]], flip=flip)
            else:
                unit, _ = engine.embed_aligned([centre_crop(image, crop)], flip=flip)
            result = (unit[0], not faces, len(faces), detect, time.perf_counter() - start)
            image = None
        return sha, hit, image, decode, result

    return read


def embed_pairset(
    engine: FaceEngine,
    pairset: PairSet,
    *,
    flip: bool = False,
    cache_dir: Path | None = None,
    decode_threads: int = 0,
    prefetch: int = 64,
    progress: bool = True,
) -> EmbeddingRun:
    """Embed every image of ``pairset`` (cache first), in pair-set image order."""
    cache = EmbeddingCache(cache_dir, cache_config(engine, flip, pairset.aligned))
    n = len(pairset.images)
    dim = engine.recognizer.dim
    crop = engine.recognizer.crop_size
    embeddings = np.zeros((n, dim), np.float32)
    no_face = np.zeros(n, bool)
    n_faces = np.full(n, -1, np.int64)
    timings = {"decode_cpu": 0.0, "decode_wait": 0.0, "detect": 0.0, "embed": 0.0}
    cached = computed = 0
    pending_aligned: list[tuple[int, str, np.ndarray]] = []

    def flush_aligned() -> None:
        nonlocal computed
        if not pending_aligned:
            return
        start = time.perf_counter()
        crops = [c for _, _, c in pending_aligned]
        unit, _ = engine.embed_aligned(crops, flip=flip)
        timings["embed"] += time.perf_counter() - start
        for (i, sha, _), vec in zip(pending_aligned, unit, strict=True):
            embeddings[i] = vec
            cache.put(sha, vec, False, -1)
        computed += len(pending_aligned)
        pending_aligned.clear()

    read = _reader(pairset, cache, engine, flip)
    wall_start = time.perf_counter()
    bar = tqdm(total=n, desc=f"embed {pairset.name}", unit="img", disable=not progress)
    workers = decode_threads or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        queue: deque = deque()
        next_index = 0
        while queue or next_index < n:
            while next_index < n and len(queue) < prefetch:
                queue.append((next_index, pool.submit(read, next_index)))
                next_index += 1
            i, future = queue.popleft()
            start = time.perf_counter()
            sha, hit, image, cpu, result = future.result()
            timings["decode_wait"] += time.perf_counter() - start
            timings["decode_cpu"] += cpu
            if hit is not None:
                embeddings[i], no_face[i], n_faces[i] = hit
                cached += 1
            elif pairset.aligned:
                if image.shape[:2] != (crop, crop):
                    image = cv2.resize(image, (crop, crop), interpolation=cv2.INTER_AREA)
                pending_aligned.append((i, sha, image))
                if len(pending_aligned) >= ALIGNED_BATCH:
                    flush_aligned()
            else:
                vec, missed, found, detect, embed = result
                timings["detect"] += detect
                timings["embed"] += embed
                embeddings[i], no_face[i], n_faces[i] = vec, missed, found
                cache.put(sha, vec, bool(missed), found)
                computed += 1
            bar.update(1)
        flush_aligned()
    bar.close()
    timings["embed_wall"] = time.perf_counter() - wall_start
    start = time.perf_counter()
    cache.save()
    timings["cache_save"] = time.perf_counter() - start
    return EmbeddingRun(embeddings, no_face, n_faces, cached, computed, timings)


def pair_scores(embeddings: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Cosine similarity of every pair (embeddings are unit vectors)."""
    a, b = embeddings[pairs[:, 0]], embeddings[pairs[:, 1]]
    return np.einsum("ij,ij->i", a, b).astype(np.float64)
