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
    import os

    env = {**os.environ, "LIKENESS_MODEL_PACK": TEST_PACK, "LIKENESS_MODEL_ROOT": str(model_root)}
    from_settings = subprocess.run(
        [sys.executable, "-m", "likeness.cli", "models", "check"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert from_settings.returncode == 0, from_settings.stderr  # pack and root: the settings'
    assert f"{TEST_PACK}/w600k_mbf.onnx" in from_settings.stdout


def test_every_argument_says_what_it_is():
    """The CLI reference (docs/reference/cli.md) is every command's --help: each
    option and argument has a help text, options show their defaults, and no
    description carries reST markup."""
    import argparse

    from likeness.cli import build_parser

    missing, markup = [], []

    def walk(name: str, parser: argparse.ArgumentParser) -> None:
        if "``" in (parser.description or ""):
            markup.append(name)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    walk(f"{name} {sub_name}", sub)
            elif not action.help:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")

    parser = build_parser()
    walk("likeness", parser)
    assert not missing, f"arguments without help: {missing}"
    assert not markup, f"reST markup in descriptions: {markup}"
    search = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[
        "search"
    ]
    assert "(default: 5)" in search.format_help()
