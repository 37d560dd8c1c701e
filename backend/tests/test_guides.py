"""The guides (``docs/guides/*.md``) run as written: every ``python`` and ``bash``
block of a guide, in order, against the shared models and LFW photos, in a fresh
folder with a real Gunicorn when the guide talks to ``http://127.0.0.1:8000``.

A block is left out only when the line before it says why
(``<!-- not run: reason -->``): a command that needs a Docker engine or a GPU, or
that runs until stopped. Other fences (``text``, ``json``, ``yaml``) show output or
files and are not run. So that the examples read as a user would type them, these
strings are replaced before running (nothing else is):

- ``http://127.0.0.1:8000``: the test's server (``make run``'s address);
- ``../shared/models``, ``../shared/datasets/lfw``: the shared models and LFW
  (``LIKENESS_SHARED``, as the other tests);
- ``.venv/bin/``: the virtualenv running the tests;
- ``postgresql://likeness@127.0.0.1:5432/likeness``: a fresh schema of the test
  PostgreSQL.

Python blocks share one namespace per guide and run in this process (chdir'd to
the guide's folder, with its environment); bash blocks run with ``set -euo
pipefail`` and a ``curl`` that fails on an HTTP error, so an example that stops
working fails the test.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from dbtargets import postgres_schema
from paths import LFW_DIR, MODEL_ROOT, REPO, TEST_PACK
from support import GunicornServer

GUIDES = sorted((REPO / "docs" / "guides").glob("*.md"))
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(\S.*?)\s*-->\s*$")
RUN = {"python", "bash"}
SHOWN = {"text", "json", "yaml"}
SERVER = "http://127.0.0.1:8000"
PG_EXAMPLE = "postgresql://likeness@127.0.0.1:5432/likeness"
BASH_PRELUDE = (
    'set -euo pipefail\ncurl() { command curl --silent --show-error --fail-with-body "$@"; }\n'
)


@dataclass
class Block:
    lang: str
    code: str
    line: int
    not_run: str | None


def blocks(path: Path) -> list[Block]:
    text = path.read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip().splitlines()
        reason = NOT_RUN.search(before[-1]) if before else None
        found.append(
            Block(
                match.group(1),
                match.group(2),
                text.count("\n", 0, match.start()) + 1,
                reason.group(1) if reason else None,
            )
        )
    return found


def substitute(code: str, server: str, pg_url: str) -> str:
    for old, new in (
        (SERVER, server),
        ("../shared/models", str(MODEL_ROOT)),
        ("../shared/datasets/lfw", str(LFW_DIR)),
        (".venv/bin/", str(Path(sys.executable).parent) + "/"),
        (PG_EXAMPLE, pg_url),
    ):
        code = code.replace(old, new)
    assert "../shared" not in code, "a path into ../shared the test cannot map"
    return code


def test_every_guide_is_in_the_site_navigation():
    nav = (REPO / "mkdocs.yml").read_text()
    assert GUIDES, "no guides found"
    for guide in GUIDES:
        assert f"guides/{guide.name}" in nav, f"{guide.name} is not in mkdocs.yml's nav"


@pytest.mark.parametrize("guide", GUIDES, ids=[g.stem for g in GUIDES])
def test_fences_are_run_or_say_why_not(guide):
    for block in blocks(guide):
        where = f"{guide.name}:{block.line}"
        assert block.lang in RUN | SHOWN, f"{where}: fence language {block.lang!r}"
        if block.lang in SHOWN:
            assert block.not_run is None, f"{where}: a {block.lang} block is never run"


@pytest.mark.slow
@pytest.mark.parametrize("guide", GUIDES, ids=[g.stem for g in GUIDES])
def test_guide_runs_as_written(guide, model_root, lfw_dir, tmp_path, monkeypatch):
    runnable = [b for b in blocks(guide) if b.lang in RUN and b.not_run is None]
    text = guide.read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")}
    env.update(LIKENESS_MODEL_ROOT=str(model_root), LIKENESS_MODEL_PACK=TEST_PACK)
    for key in [k for k in os.environ if k.startswith("LIKENESS_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__guide__"}
    with contextlib.ExitStack() as stack:
        server = SERVER
        if SERVER in text:
            live = GunicornServer(model_root, tmp_path / "data", workers=1).start()
            stack.callback(live.stop)
            server = live.url
        pg_url = stack.enter_context(postgres_schema()) if PG_EXAMPLE in text else PG_EXAMPLE
        stack.callback(_close_libraries, namespace)
        for block in runnable:
            code = substitute(block.code, server, pg_url)
            where = f"{guide.name}:{block.line}"
            if block.lang == "python":
                exec(compile(code, where, "exec"), namespace)  # noqa: S102 - the guide's own code
                continue
            done = subprocess.run(
                ["bash", "-c", BASH_PRELUDE + code],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            print(f"--- {where}\n{done.stdout}{done.stderr}")
            assert done.returncode == 0, (
                f"{where} exited {done.returncode}\n--- stdout\n{done.stdout}"
                f"\n--- stderr\n{done.stderr}"
            )


def _close_libraries(namespace: dict) -> None:
    from likeness import FaceRecognitionLibrary

    for value in namespace.values():
        if isinstance(value, FaceRecognitionLibrary):
            value.close()
