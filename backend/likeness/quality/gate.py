"""The face gate: for one detected face, is it fit to use, and if not, why not?

Checks, in the order a refusal names them: ``too_small`` (the face box's shorter
side, and optionally its share of the image), ``cartoon`` (a drawing, not a
photo), ``low_quality`` (the combined score), ``spoof`` (passive liveness, only
when asked). Every threshold and switch comes from the settings."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from likeness.engine import DetectedFace, FaceEngine
from likeness.errors import LivenessUnavailableError, ModelError
from likeness.quality.cartoon import CartoonModel, crop_features
from likeness.quality.score import QualityModel
from likeness.quality.signals import measure
from likeness.settings import Settings

NO_FACE, TOO_SMALL, CARTOON, LOW_QUALITY, SPOOF = (
    "no_face",
    "too_small",
    "cartoon",
    "low_quality",
    "spoof",
)
#: Every reason, in the order that picks ``rejection_reason`` among several.
REASONS = (NO_FACE, TOO_SMALL, CARTOON, LOW_QUALITY, SPOOF)

log = logging.getLogger(__name__)


@dataclass
class FaceCheck:
    """The verdict on one face (or on an image without one)."""

    is_valid: bool
    rejection_reason: str | None
    reasons: list[str]
    scores: dict = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.is_valid

    def as_dict(self) -> dict:
        return {
            "is_valid": self.is_valid,
            "rejection_reason": self.rejection_reason,
            "reasons": list(self.reasons),
            "scores": dict(self.scores),
        }

    @classmethod
    def from_reasons(cls, reasons: Sequence[str], scores: dict) -> FaceCheck:
        ordered = [r for r in REASONS if r in reasons]
        return cls(not ordered, ordered[0] if ordered else None, ordered, scores)


def no_face_check() -> FaceCheck:
    return FaceCheck.from_reasons([NO_FACE], {})


class FaceGate:
    """Runs the checks with the thresholds of ``settings``; the cartoon classifier and
    the quality model are the ones built for the engine's recogniser."""

    def __init__(self, engine: FaceEngine, settings: Settings | None = None) -> None:
        self.engine = engine
        self.settings = settings or engine.settings
        recogniser = engine.family
        self.quality_model = QualityModel.for_recogniser(recogniser)
        self.cartoon_model = CartoonModel.for_recogniser(
            recogniser, self.settings.cartoon_threshold
        )

    # -- what is on ---------------------------------------------------------------
    def info(self) -> dict:
        """Which checks run, with their thresholds (no server paths: HTTP answers)."""
        s = self.settings
        try:
            self.liveness_model()
            liveness = "available (runs when a request asks)"
        except LivenessUnavailableError:
            liveness = "unavailable: the antispoof models are missing or altered"
        return {
            "size": {
                "on": s.check_face_size,
                "min_face_size": s.min_face_size,
                "min_face_area_ratio": s.min_face_area_ratio,
            },
            "quality": {
                "on": s.check_quality,
                "min_quality": s.min_quality,
                "model": "generic (no embedding norm)"
                if self.quality_model.generic
                else "fitted for this recogniser",
            },
            "cartoon": {
                "on": s.check_cartoon and self.cartoon_model is not None,
                "threshold": s.cartoon_threshold,
                "model": None
                if self.cartoon_model is None
                else self.cartoon_model.info.get("classifier", "loaded"),
            },
            "liveness": {"status": liveness, "threshold": s.liveness_threshold},
        }

    def liveness_model(self):
        """The liveness models; ``LivenessUnavailableError`` (without server paths;
        the full reason is logged) when they are missing or fail their hash check."""
        try:
            return self.engine.liveness()
        except ModelError as error:
            log.warning("liveness unavailable", extra={"reason": error.message})
            raise LivenessUnavailableError(
                "Liveness was asked for, but this server's liveness models are missing or "
                "altered (the antispoof folder of its model root; see the server log)."
            ) from None

    # -- checks -------------------------------------------------------------------
    def check(
        self,
        face: DetectedFace,
        crop: np.ndarray,
        embedding: np.ndarray,
        norm: float,
        image_size: tuple[int, int],
        *,
        image: np.ndarray | None = None,
        liveness: bool = False,
        bulk: bool = False,
    ) -> FaceCheck:
        """Check one face: ``crop`` is its aligned crop, ``embedding`` its unit
        embedding, ``norm`` the raw norm, ``image_size`` (width, height); liveness
        needs the ``image``. ``bulk`` (indexing a photo collection) never refuses a
        face for a small share of the image (group photos)."""
        s = self.settings
        signals = measure(face, crop, norm, image_size)
        scores = signals.as_dict()
        reasons = []
        small = signals.face_size < s.min_face_size
        if not bulk:  # a group photo's faces are a small share of it, and fine
            small = small or signals.face_area_ratio < s.min_face_area_ratio
        if s.check_face_size and small:
            reasons.append(TOO_SMALL)
        quality = self.quality_model.score(signals)
        if not math.isfinite(quality):  # never a pass by accident
            quality = 0.0
        scores["quality"] = round(quality, 4)
        if s.check_quality and quality < s.min_quality:
            reasons.append(LOW_QUALITY)
        if self.cartoon_model is not None and s.check_cartoon:
            probability = self.cartoon_model.probability(embedding, crop_features(crop))
            if not math.isfinite(probability):  # never a pass by accident
                probability = 1.0
            scores["is_cartoon"] = probability >= s.cartoon_threshold
            scores["cartoon_prob"] = round(probability, 4)
            if scores["is_cartoon"]:
                reasons.append(CARTOON)
        else:
            scores["is_cartoon"] = None
            scores["cartoon_prob"] = None
        if liveness:
            if image is None:
                raise ValueError("liveness needs the image")
            result = self.liveness_model().check(image, face)
            scores["is_live"] = result.is_live
            scores["liveness_score"] = round(result.score, 4)
            if not result.is_live:
                reasons.append(SPOOF)
        else:
            scores["is_live"] = None
            scores["liveness_score"] = None
        return FaceCheck.from_reasons(reasons, scores)

    def check_faces(
        self,
        image: np.ndarray,
        faces: Sequence[DetectedFace],
        *,
        liveness: bool = False,
        bulk: bool = False,
    ) -> list[FaceCheck]:
        """Check every face of an image (aligned and embedded in one batch)."""
        if not faces:
            return []
        crops = [self.engine.align(image, face) for face in faces]
        unit, norms = self.engine.embed_aligned(crops)
        height, width = image.shape[:2]
        return [
            self.check(
                face,
                crop,
                unit[i],
                float(norms[i]),
                (width, height),
                image=image,
                liveness=liveness,
                bulk=bulk,
            )
            for i, (face, crop) in enumerate(zip(faces, crops, strict=True))
        ]
