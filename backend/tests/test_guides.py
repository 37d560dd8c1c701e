"""The guides (``docs/guides/*.md``) run as written: every ``python`` and ``bash``
block of a guide, in order, against the shared models and LFW photos, with a real
Gunicorn when the guide talks to ``http://127.0.0.1:8000``. Each guide runs alone in
a fresh folder, and all of them run once more one after another in one folder and
one gallery, as a reader following them in order would.

A block is left out only when the line before it says why
(``<!-- not run: reason -->``): a command that needs a Docker engine or a GPU, or
that runs until stopped. Other fences (``text``, ``json``, ``yaml``) show output or
files and are not run; any other fence fails the test. A guide whose server needs
settings says so (``<!-- server: LIKENESS_X=value ... -->``). So that the examples
read as a user would type them, these strings are replaced before running (nothing
else is):

- ``http://127.0.0.1:8000``: the test's server (``make run``'s address);
- ``../shared/models``, ``../shared/datasets/lfw``: the shared models and LFW
  (``LIKENESS_SHARED``, as the other tests);
- ``.venv/bin/``: the virtualenv running the tests;
- ``postgresql://likeness:secret@127.0.0.1:5432/likeness``: a fresh schema of the
  test PostgreSQL.

Python blocks share one namespace per guide and run in this process (chdir'd to
the guide's folder, with its environment); bash blocks run as one reader's shell
(exports and the working folder carry from block to block), with ``set -euo
pipefail`` and a ``curl`` that fails on an HTTP error, so an example that stops
working fails the test. A guide's server settings must appear in the command the
guide shows for starting it.
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
import yaml

from dbtargets import postgres_schema
from paths import LFW_DIR, MODEL_ROOT, REPO, TEST_PACK
from support import GunicornServer

GUIDES = sorted((REPO / "docs" / "guides").glob("*.md"))
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
ANY_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.M)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(\S.*?)\s*-->\s*$")
SERVER_SETTINGS = re.compile(r"<!--\s*server:\s*(.+?)\s*-->")
RUN = {"python", "bash"}
SHOWN = {"text", "json", "yaml"}
SERVER = "http://127.0.0.1:8000"
PG_EXAMPLE = "postgresql://likeness:secret@127.0.0.1:5432/likeness"
#: One reader's shell across a guide's bash blocks: what a block exports, and the
#: folder it ends in, hold for the next (``STATE`` names the file that carries them).
BASH_PRELUDE = "\n".join(
    [
        '[ -f "$STATE" ] && source "$STATE"',
        """trap 'export -p > "$STATE"; echo "cd $(printf %q "$PWD")" >> "$STATE"' EXIT""",
        "set -euo pipefail",
        'curl() { command curl --silent --show-error --fail-with-body "$@"; }',
        "",
    ]
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


def in_nav_order() -> list[Path]:
    """The guides as the site lists them (the order a reader follows)."""
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]
    pages = []

    def walk(items):
        for item in items:
            for value in item.values() if isinstance(item, dict) else [item]:
                if isinstance(value, list):
                    walk(value)
                elif isinstance(value, str) and value.startswith("guides/"):
                    pages.append(REPO / "docs" / value)

    walk(nav)
    return pages


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
    assert not re.search(r"(127\.0\.0\.1|localhost):8000", code), "a server address not mapped"
    return code


def guide_env(model_root: Path) -> dict[str, str]:
    """A reader's shell: the server's model settings, nothing else of ours; the
    package imported from this tree (an absolute path: the blocks run elsewhere)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")}
    env.update(LIKENESS_MODEL_ROOT=str(model_root), LIKENESS_MODEL_PACK=TEST_PACK)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "backend"), str(REPO / "eval")])
    return env


def run_guide(guide: Path, folder: Path, model_root: Path, monkeypatch) -> None:
    """Every runnable block of ``guide``, in order, in ``folder`` (its ``data``
    holds the gallery the server and the blocks share)."""
    text = guide.read_text()
    env = {**guide_env(model_root), "STATE": str(folder / f".shell-{guide.stem}")}
    for key in [k for k in os.environ if k.startswith("LIKENESS_")]:
        monkeypatch.delenv(key)
    for key in ("LIKENESS_MODEL_ROOT", "LIKENESS_MODEL_PACK"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.chdir(folder)
    namespace: dict = {"__name__": "__guide__"}
    runnable = [b for b in blocks(guide) if b.lang in RUN and b.not_run is None]
    with contextlib.ExitStack() as stack:
        server = SERVER
        if any(SERVER in b.code for b in runnable):
            wanted = SERVER_SETTINGS.search(text)
            settings = dict(kv.split("=", 1) for kv in wanted.group(1).split()) if wanted else {}
            live = GunicornServer(model_root, folder / "data", workers=1, **settings).start()
            stack.callback(live.stop)
            server = live.url
        wanted_pg = any(PG_EXAMPLE in b.code for b in runnable)
        pg_url = stack.enter_context(postgres_schema()) if wanted_pg else PG_EXAMPLE
        stack.callback(_close_libraries, namespace)
        for block in runnable:
            code = substitute(block.code, server, pg_url)
            where = f"{guide.name}:{block.line}"
            if block.lang == "python":
                exec(compile(code, where, "exec"), namespace)  # noqa: S102 - the guide's own code
                continue
            done = subprocess.run(
                ["bash", "-c", BASH_PRELUDE + code],
                cwd=folder,
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


def test_every_guide_is_in_the_site_navigation():
    assert GUIDES, "no guides found"
    assert sorted(in_nav_order()) == GUIDES, "mkdocs.yml's nav and docs/guides differ"


@pytest.mark.parametrize("guide", GUIDES, ids=[g.stem for g in GUIDES])
def test_fences_are_run_or_say_why_not(guide):
    found = blocks(guide)
    fences = len(ANY_FENCE.findall(guide.read_text()))
    assert fences == 2 * len(found), f"{guide.name}: a fence the test cannot read (~~~, indented)"
    for block in found:
        where = f"{guide.name}:{block.line}"
        assert block.lang in RUN | SHOWN, f"{where}: fence language {block.lang!r}"
        if block.lang in SHOWN:
            assert block.not_run is None, f"{where}: a {block.lang} block is never run"
    text = guide.read_text()
    marker = SERVER_SETTINGS.search(text)
    if marker:  # the reader starts the server the test starts
        line = text.count("\n", 0, marker.start()) + 1
        shown = next(b for b in found if b.line > line)
        for setting in marker.group(1).split():
            assert setting in shown.code, f"{guide.name}:{shown.line} does not show {setting}"


@pytest.mark.slow
@pytest.mark.parametrize("guide", GUIDES, ids=[g.stem for g in GUIDES])
def test_guide_runs_as_written(guide, model_root, lfw_dir, tmp_path, monkeypatch):
    run_guide(guide, tmp_path, model_root, monkeypatch)


@pytest.mark.slow
def test_the_guides_run_one_after_another(model_root, lfw_dir, tmp_path, monkeypatch):
    """A reader following the guides in order keeps one gallery throughout (and
    restarts the service where a guide asks for other settings)."""
    for guide in in_nav_order():
        run_guide(guide, tmp_path, model_root, monkeypatch)
