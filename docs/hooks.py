"""MkDocs hooks: the reference pages' generated parts, built from the code at build
time (``<!-- generated: NAME -->`` markers). The HTTP page needs the models
(``LIKENESS_MODEL_ROOT``, ``LIKENESS_MODEL_PACK``): the server builds its OpenAPI
document from its own routes."""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "backend"))

MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")


def _type(annotation) -> str:
    from enum import Enum

    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " / ".join(f"`{m.value}`" for m in annotation)
    if isinstance(annotation, type):
        return annotation.__name__
    text = str(annotation).replace("typing.", "").replace("pathlib.", "")
    return text.replace("|", "or")


def _settings() -> str:
    from enum import Enum

    from likeness.settings import Settings

    rows = ["| variable | type or values | default |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = (
            field.default if field.default_factory is None else field.default_factory()
        )
        if isinstance(default, Enum):
            default = default.value
        elif isinstance(default, (dict, list)):  # as the environment takes it: JSON
            default = json.dumps(default)
        shown = "none" if default is None else f"`{default}`".replace("|", "\\|")
        rows.append(
            f"| `LIKENESS_{name.upper()}` | {_type(field.annotation)} | {shown} |"
        )
    rows.append(
        "\nLists and dictionaries are given as JSON, e.g. "
        '`LIKENESS_CORS_ORIGINS=["https://example.org"]`.'
    )
    return "\n".join(rows)


def _errors() -> str:
    import likeness.errors as e
    from likeness.api.errors import status_for

    rows = ["| code | HTTP | class | meaning |", "|---|---|---|---|"]
    classes = {c for c in vars(e).values()  # a set: an alias is listed once
               if isinstance(c, type) and issubclass(c, e.LikenessError)}  # fmt: skip
    for cls in sorted(classes, key=lambda c: (c.code, c.__name__)):
        doc = " ".join((cls.__doc__ or cls.default_message).split()).replace("|", "\\|")
        status = status_for(cls.__new__(cls))
        rows.append(f"| `{cls.code}` | {status} | `{cls.__name__}` | {doc} |")
    rows.append("\nBesides these, the API answers `INTERNAL_ERROR` (500) for a failure it "
                "did not foresee, and HTTP-level errors such as `METHOD_NOT_ALLOWED` (405).")  # fmt: skip
    return "\n".join(rows)


def _http() -> str:
    import logging

    logging.disable(logging.INFO)  # the app's start-up log is not the page's business
    from likeness.api import create_app
    from likeness.api.openapi import build
    from likeness.settings import Settings

    with tempfile.TemporaryDirectory() as data:
        app = create_app(Settings(data_dir=Path(data)))
        with app.app_context():
            spec = build(app)
    lines = []
    for path, operations in sorted(spec["paths"].items()):
        for method, op in operations.items():
            statuses = ", ".join(sorted(op.get("responses", {})))
            lines.append(f"### `{method.upper()} {path}`\n\n{op.get('summary', '')}\n\n"
                         f"Answers: {statuses}.\n")  # fmt: skip
    return "\n".join(lines)


def _cli() -> str:
    import os

    os.environ["COLUMNS"] = "100"  # the same wrapping on every machine
    from likeness.cli import build_parser

    parser = build_parser()
    parts = [("likeness", parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                parts.append((f"likeness {name}", sub))
                for inner in sub._actions:
                    if isinstance(inner, argparse._SubParsersAction):
                        parts += [
                            (f"likeness {name} {n}", s)
                            for n, s in inner.choices.items()
                        ]
    out = []
    for name, sub in parts:
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            sub.print_help()
        out.append(f"## `{name}`\n\n```text\n{buffer.getvalue().strip()}\n```\n")
    return "\n".join(out)


def _readme_commands() -> str:
    text = (REPO / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.DOTALL)
    return f"```bash\n{block.group(1)}```" if block else ""


GENERATORS = {"settings": _settings, "errors": _errors, "http": _http, "cli": _cli,
              "readme-commands": _readme_commands}  # fmt: skip


def on_page_markdown(markdown: str, page, config, files) -> str:
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](), markdown)
