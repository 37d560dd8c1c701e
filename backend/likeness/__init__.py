"""Likeness: self-hosted face verification and recognition on InsightFace models."""

__version__ = "0.1.0"
