"""1:1 verification of two images: the one code path behind ``/api/verify`` and
``FaceRecognitionLibrary.compare``."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from likeness.engine import Comparison, FaceEmbedding, FaceEngine
from likeness.errors import LikenessError
from likeness.imaging import ImageLimits, load_image
from likeness.quality import SPOOF, FaceCheck, FaceGate
from likeness.settings import FacePolicy

ImageSource = str | Path | bytes | np.ndarray


@dataclass
class Verification:
    id: str
    comparison: Comparison
    embeddings: dict[str, FaceEmbedding]
    policy: FacePolicy
    timings_ms: dict[str, float] = field(default_factory=dict)
    checks: dict[str, FaceCheck] = field(default_factory=dict)  # field name -> its face's

    @property
    def reason(self) -> str | None:
        """Why the answer is "no match" although the faces may look alike: ``spoof``
        when liveness was asked and a face is not live."""
        if any(SPOOF in check.reasons for check in self.checks.values()):
            return SPOOF
        return None

    @property
    def is_match(self) -> bool:
        return bool(self.comparison.is_match) and self.reason is None

    @property
    def similarity(self) -> float:
        """Cosine similarity of the two faces' embeddings."""
        return float(self.comparison.similarity)

    @property
    def threshold(self) -> float:
        """The 1:1 decision threshold the answer used."""
        return float(self.comparison.threshold)


def embed_source(
    engine: FaceEngine,
    source: ImageSource,
    policy: FacePolicy | str | None = None,
    limits: ImageLimits | None = None,
) -> FaceEmbedding:
    """Decode (timed as ``decode``), detect, choose and embed one image."""
    return _embed_image(engine, source, policy, limits)[0]


def _embed_image(engine, source, policy, limits, index=None) -> tuple[FaceEmbedding, np.ndarray]:
    start = time.perf_counter()
    image = load_image(source, limits)
    decode_ms = (time.perf_counter() - start) * 1000
    result = engine.embed(image, policy, index=index)
    result.timings_ms = {"decode": decode_ms, **result.timings_ms}
    return result, image


def check_embedded(
    gate: FaceGate, embedded: FaceEmbedding, image: np.ndarray, liveness: bool = False
) -> FaceCheck:
    """The face checks of the face ``embedded`` came from (timed as ``checks``)."""
    start = time.perf_counter()
    check = gate.check(
        embedded.face,
        embedded.crop,
        embedded.embedding,
        embedded.norm,
        embedded.image_size,
        image=image,
        liveness=liveness,
    )
    embedded.timings_ms["checks"] = (time.perf_counter() - start) * 1000
    return check


def verify(
    engine: FaceEngine,
    sources: dict[str, ImageSource],
    policy: FacePolicy | str | None = None,
    limits: ImageLimits | None = None,
    *,
    gate: FaceGate | None = None,
    liveness: bool | Collection[str] = False,
    faces: Mapping[str, int] | None = None,
    threshold: float | None = None,
) -> Verification:
    """Compare the two images of ``sources`` (field name -> image). Errors name the
    field. With a ``gate``, each chosen face is checked, and for liveness too when
    asked (``True``: every image; or the field names of the camera shots): a face
    that is not live makes the answer "no match", reason ``spoof``. ``faces``: field
    name -> the index of the face to use (as a group photo's earlier answer listed
    them) instead of the policy's choice. ``threshold``: the 1:1 threshold in force
    (default: the settings')."""
    if len(sources) != 2:
        raise ValueError("verify needs exactly two images")
    policy = FacePolicy(policy or engine.settings.face_policy)
    started = time.perf_counter()
    timings: dict[str, float] = defaultdict(float)
    embeddings: dict[str, FaceEmbedding] = {}
    checks: dict[str, FaceCheck] = {}
    live_fields = set(sources) if liveness is True else set(liveness or ())
    if live_fields - set(sources):
        raise ValueError(f"liveness names unknown fields: {sorted(live_fields - set(sources))}")
    if live_fields and gate is None:
        raise ValueError("liveness needs a gate")
    errors: list[LikenessError] = []
    for name, source in sources.items():
        try:
            index = (faces or {}).get(name)
            embeddings[name], image = _embed_image(engine, source, policy, limits, index)
            if gate is not None:
                checks[name] = check_embedded(gate, embeddings[name], image, name in live_fields)
        except LikenessError as error:
            errors.append(error.with_field(name))  # the other image is still looked at
            continue
        del image
        for stage, ms in embeddings[name].timings_ms.items():
            timings[stage] += ms
    if errors:
        raise errors[0].with_others(errors[1:])
    start = time.perf_counter()
    first, second = embeddings.values()
    comparison = engine.compare(first, second, threshold)
    timings["compare"] = (time.perf_counter() - start) * 1000
    timings["total"] = (time.perf_counter() - started) * 1000
    return Verification(uuid.uuid4().hex, comparison, embeddings, policy, dict(timings), checks)
