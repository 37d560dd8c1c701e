"""Face checks: is a detected face fit to use (size, quality, cartoon, liveness)?"""

from likeness.quality.gate import (
    CARTOON,
    LOW_QUALITY,
    NO_FACE,
    REASONS,
    SPOOF,
    TOO_SMALL,
    FaceCheck,
    FaceGate,
    no_face_check,
)
from likeness.quality.signals import Signals, measure

__all__ = [
    "CARTOON",
    "LOW_QUALITY",
    "NO_FACE",
    "REASONS",
    "SPOOF",
    "TOO_SMALL",
    "FaceCheck",
    "FaceGate",
    "Signals",
    "measure",
    "no_face_check",
]
