"""1:1 verification of two images: the one code path behind ``/api/verify`` and
``FaceRecognitionLibrary.compare``."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from likeness.engine import Comparison, FaceEmbedding, FaceEngine
from likeness.errors import LikenessError
from likeness.imaging import ImageLimits, load_image
from likeness.settings import FacePolicy

ImageSource = str | Path | bytes | np.ndarray


@dataclass
class Verification:
    id: str
    comparison: Comparison
    embeddings: dict[str, FaceEmbedding]
    policy: FacePolicy
    timings_ms: dict[str, float] = field(default_factory=dict)


def embed_source(
    engine: FaceEngine,
    source: ImageSource,
    policy: FacePolicy | str | None = None,
    limits: ImageLimits | None = None,
) -> FaceEmbedding:
    """Decode (timed as ``decode``), detect, choose and embed one image."""
    start = time.perf_counter()
    image = load_image(source, limits)
    decode_ms = (time.perf_counter() - start) * 1000
    result = engine.embed(image, policy)
    result.timings_ms = {"decode": decode_ms, **result.timings_ms}
    return result


def verify(
    engine: FaceEngine,
    sources: dict[str, ImageSource],
    policy: FacePolicy | str | None = None,
    limits: ImageLimits | None = None,
) -> Verification:
    """Compare the two images of ``sources`` (field name -> image). Errors name the field."""
    if len(sources) != 2:
        raise ValueError("verify needs exactly two images")
    policy = FacePolicy(policy or engine.settings.face_policy)
    started = time.perf_counter()
    timings: dict[str, float] = defaultdict(float)
    embeddings: dict[str, FaceEmbedding] = {}
    for name, source in sources.items():
        try:
            embeddings[name] = embed_source(engine, source, policy, limits)
        except LikenessError as error:
            raise error.with_field(name) from None
        for stage, ms in embeddings[name].timings_ms.items():
            timings[stage] += ms
    start = time.perf_counter()
    first, second = embeddings.values()
    comparison = engine.compare(first, second)
    timings["compare"] = (time.perf_counter() - start) * 1000
    timings["total"] = (time.perf_counter() - started) * 1000
    return Verification(uuid.uuid4().hex, comparison, embeddings, policy, dict(timings))
