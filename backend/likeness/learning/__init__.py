"""The learning loop: votes -> calibrated thresholds (and, later, training data
and fine-tuned models)."""

from likeness.learning.thresholds import KEEP, InForce, ThresholdBook, ThresholdSet

__all__ = ["KEEP", "InForce", "ThresholdBook", "ThresholdSet"]
