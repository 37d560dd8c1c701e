"""Where the tests find models and data (overridable by environment)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("LIKENESS_SHARED", REPO.parent / "shared"))
MODEL_ROOT = Path(os.environ.get("LIKENESS_TEST_MODEL_ROOT", SHARED / "models"))
LFW_DIR = Path(os.environ.get("LIKENESS_TEST_LFW_DIR", SHARED / "datasets" / "lfw"))
TEST_PACK = "buffalo_s"
DATA = Path(__file__).parent / "data"
