"""``filter_image``: the gate's verdict on the face an image would be used for (the
face chosen by the face policy), the one code path behind the library, the HTTP
API and the CLI."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from likeness.engine import DetectedFace, choose_face
from likeness.imaging import ImageLimits, load_image
from likeness.quality.gate import FaceCheck, FaceGate, no_face_check
from likeness.settings import FacePolicy


@dataclass
class FilterResult:
    check: FaceCheck
    face: DetectedFace | None
    faces_found: int
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def is_valid(self) -> bool:
        return self.check.is_valid

    def as_dict(self) -> dict:
        return {
            **self.check.as_dict(),
            "face": None if self.face is None else self.face.as_dict(),
            "faces_found": self.faces_found,
        }


def filter_array(
    gate: FaceGate,
    image: np.ndarray,
    policy: FacePolicy | str | None = None,
    *,
    liveness: bool = False,
) -> FilterResult:
    """Detect, choose a face by ``policy``, embed it and check it."""
    engine = gate.engine
    timings: dict[str, float] = {}
    start = time.perf_counter()
    faces = engine.detect(image)
    timings["detect"] = (time.perf_counter() - start) * 1000
    if not faces:
        return FilterResult(no_face_check(), None, 0, timings)
    height, width = image.shape[:2]
    face = faces[
        choose_face(faces, width, height, FacePolicy(policy or engine.settings.face_policy))
    ]
    start = time.perf_counter()
    crop = engine.align(image, face)
    unit, norms = engine.embed_aligned([crop])
    timings["embed"] = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    check = gate.check(
        face, crop, unit[0], float(norms[0]), (width, height), image=image, liveness=liveness
    )
    timings["checks"] = (time.perf_counter() - start) * 1000
    return FilterResult(check, face, len(faces), timings)


def filter_source(
    gate: FaceGate,
    source,
    limits: ImageLimits | None = None,
    policy: FacePolicy | str | None = None,
    *,
    liveness: bool = False,
) -> FilterResult:
    """``filter_array`` on a path, bytes or BGR array (decoding timed as ``decode``)."""
    start = time.perf_counter()
    image = load_image(source, limits)
    decode = (time.perf_counter() - start) * 1000
    result = filter_array(gate, image, policy, liveness=liveness)
    result.timings_ms = {"decode": decode, **result.timings_ms}
    return result
