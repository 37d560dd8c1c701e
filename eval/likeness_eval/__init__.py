"""Reproducible verification benchmarks of the Likeness face engine."""

__version__ = "0.1.0"
