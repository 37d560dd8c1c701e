"""Likeness: self-hosted face verification and recognition on InsightFace models."""

__version__ = "0.1.0"

__all__ = ["FaceRecognitionLibrary", "__version__"]


def __getattr__(name: str):
    # Lazy: ``import likeness`` stays light (no ONNX Runtime / FAISS import).
    if name == "FaceRecognitionLibrary":
        from likeness.library import FaceRecognitionLibrary

        return FaceRecognitionLibrary
    raise AttributeError(f"module 'likeness' has no attribute {name!r}")
