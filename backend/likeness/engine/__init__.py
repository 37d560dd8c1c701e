"""The face engine: the only code that talks to ONNX Runtime."""

from likeness.engine.face_engine import FaceEngine, choose_face, cosine
from likeness.engine.types import Comparison, DetectedFace, FaceEmbedding

__all__ = ["Comparison", "DetectedFace", "FaceEmbedding", "FaceEngine", "choose_face", "cosine"]
