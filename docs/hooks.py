"""MkDocs hooks: the reference pages' generated parts, built from the code at build
time (``<!-- generated: NAME -->`` markers). The HTTP page needs the models
(``LIKENESS_MODEL_ROOT``, ``LIKENESS_MODEL_PACK``): the server builds its OpenAPI
document from its own routes."""

from __future__ import annotations

import argparse
import io
import re
import sys
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "backend"))

MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")


def _settings() -> str:
    from likeness.settings import Settings

    rows = ["| variable | type | default |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        kind = str(field.annotation).replace("typing.", "").replace("|", "or")
        default = (
            field.default if field.default_factory is None else field.default_factory()
        )
        shown = "none" if default is None else f"`{default}`"
        rows.append(f"| `LIKENESS_{name.upper()}` | {kind} | {shown} |")
    return "\n".join(rows)


def _errors() -> str:
    import likeness.errors as e
    from likeness.api.errors import STATUS

    def status(cls) -> int:
        for base in cls.__mro__:
            if base in STATUS:
                return STATUS[base]
        return 500

    rows = ["| code | HTTP | class | meaning |", "|---|---|---|---|"]
    classes = [c for c in vars(e).values()
               if isinstance(c, type) and issubclass(c, e.LikenessError)]  # fmt: skip
    for cls in sorted(classes, key=lambda c: c.code):
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        rows.append(f"| `{cls.code}` | {status(cls)} | `{cls.__name__}` | {doc} |")
    return "\n".join(rows)


def _http() -> str:
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
