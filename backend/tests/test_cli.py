"""The ``likeness`` command line: environment doctor and model checks."""

from __future__ import annotations

import subprocess
import sys

from paths import TEST_PACK


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "likeness.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_doctor_finds_exactly_one_opencv_and_working_imports():
    result = run("doctor")
    assert result.returncode == 0, result.stderr
    assert "opencv-python-headless==" in result.stdout
    assert "CPUExecutionProvider" in result.stdout


def test_models_check_ok_and_missing(model_root, tmp_path):
    ok = run("models", "check", "--pack", TEST_PACK, "--root", str(model_root))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count(" ok") == 2
    missing = run("models", "check", "--pack", "buffalo_l", "--root", str(tmp_path))
    assert missing.returncode == 2
    assert "MODEL_FILES_MISSING" in missing.stderr and "det_10g.onnx" in missing.stderr
    assert "Traceback" not in missing.stderr
