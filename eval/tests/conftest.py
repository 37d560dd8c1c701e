"""Shared fixtures. Real models and LFW come from ../shared (or the LIKENESS_TEST_*
variables); when they are missing the tests that need them fail, never skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("LIKENESS_SHARED", REPO.parent / "shared"))


def _dir(var: str, default: Path, probe: str) -> Path:
    path = Path(os.environ.get(var, default)).expanduser()
    if not (path / probe).exists():
        pytest.fail(
            f"{path / probe} not found: set {var} (default {default}); see ../shared/README.md",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def model_root() -> Path:
    return _dir("LIKENESS_TEST_MODEL_ROOT", SHARED / "models", "buffalo_s/w600k_mbf.onnx")


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    return _dir("LIKENESS_TEST_LFW_DIR", SHARED / "datasets" / "lfw", "pairs.txt")


@pytest.fixture(scope="session")
def engine(model_root):
    from likeness_eval.cli import build_engine

    return build_engine("buffalo_s", model_root)
