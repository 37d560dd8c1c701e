"""The documentation site builds with warnings as errors (broken links, a generated
page that fails), and its reference covers the code: every setting, every error
code, every CLI command and every public method of the library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from paths import REPO


def test_the_site_builds_strict_and_covers_the_code(model_root, tmp_path):
    site = tmp_path / "site"
    env = {**os.environ, "LIKENESS_MODEL_ROOT": str(model_root), "LIKENESS_MODEL_PACK": "buffalo_s"}
    run = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-d", str(site)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "WARNING" not in run.stderr

    from likeness import errors
    from likeness.cli import build_parser
    from likeness.library import FaceRecognitionLibrary
    from likeness.settings import Settings

    settings = (site / "reference" / "settings" / "index.html").read_text()
    for name in Settings.model_fields:
        assert f"LIKENESS_{name.upper()}" in settings, name
    codes = (site / "reference" / "errors" / "index.html").read_text()
    for cls in vars(errors).values():
        if isinstance(cls, type) and issubclass(cls, errors.LikenessError):
            assert f"<code>{cls.code}</code>" in codes, cls.code
    cli = (site / "reference" / "cli" / "index.html").read_text()
    for command in build_parser()._subparsers._group_actions[0].choices:
        assert f"likeness {command}" in cli, command
    library = (site / "reference" / "library" / "index.html").read_text()
    public = [n for n in dir(FaceRecognitionLibrary) if not n.startswith("_")]
    missing = [
        n for n in public if f'id="likeness.library.FaceRecognitionLibrary.{n}"' not in library
    ]
    assert not missing, missing
    http = (site / "reference" / "http" / "index.html").read_text()
    assert "POST /api/verify" in http and "GET /api/jobs/{job_id}" in http
    assert "make test" in (site / "guides" / "quickstart" / "index.html").read_text()
    assert (site / "search" / "search_index.json").stat().st_size > 10_000  # the search box
