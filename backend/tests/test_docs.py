"""The documentation site builds with warnings as errors (broken links, a generated
page that fails), and its reference covers the code: every setting, every error
code, every CLI command and every public method of the library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from paths import REPO


def test_the_site_builds_strict_and_covers_the_code(tmp_path):
    site = tmp_path / "site"
    # no models: the reference is built from the code alone (make docs on any machine)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")}
    env["LIKENESS_MODEL_ROOT"] = str(tmp_path / "no-models")
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
    assert 'id="searchresponse"' in http and "Scope <code>verify</code>" in http
    assert "every_face" in http  # request bodies, field by field
    for guide in ("verify", "gallery", "thresholds", "clustering", "feedback", "deployment"):
        assert (site / "guides" / guide / "index.html").is_file(), guide
    assert "make test" in (site / "guides" / "quickstart" / "index.html").read_text()
    assert (site / "search" / "search_index.json").stat().st_size > 10_000  # the search box


def test_the_reference_documents_what_the_server_serves(make_settings):
    """The HTTP reference is built from ``route_app`` (no models): the same document
    as the running app's ``/api/openapi.json``."""
    from likeness.api import create_app, route_app
    from likeness.api.openapi import build

    served = create_app(make_settings())
    offline = route_app(served.config["LIKENESS"])
    with served.app_context():
        expected = build(served)
    with offline.app_context():
        assert build(offline) == expected


def test_the_settings_page_yaml_example_loads(tmp_path):
    import re

    from likeness.settings import load_settings

    page = (REPO / "docs" / "reference" / "settings.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", page, re.S).group(1)
    path = tmp_path / "likeness.yaml"
    path.write_text(example)
    settings = load_settings(path)
    assert settings.model_pack == "buffalo_s"
    assert settings.verification_max_days is None
    assert settings.trusted_hosts == ["faces.example.org"]


def test_the_quick_start_gives_the_readme_commands():
    """The quick start shows the README's two commands as text (readable on GitHub
    too), and they are the README's."""
    import re

    first = re.compile(r"```bash\n(.*?)```", re.S)
    readme = first.search((REPO / "README.md").read_text()).group(1)
    quickstart = first.search((REPO / "docs" / "guides" / "quickstart.md").read_text()).group(1)
    assert quickstart == readme
