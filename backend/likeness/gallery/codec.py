"""How the gallery stores vectors and lists of face ids in database columns."""

from __future__ import annotations

import numpy as np


def ids_to_bytes(ids) -> bytes:
    return np.asarray(list(ids), "<i8").tobytes()


def ids_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<i8").astype(np.int64)


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, np.float32).reshape(-1).tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.float32)
