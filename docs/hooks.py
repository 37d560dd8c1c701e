"""MkDocs hooks: the reference pages' generated parts, built from the code at build
time (``<!-- generated: NAME -->`` markers). The HTTP page is the OpenAPI document
the server builds from its own routes (``likeness.api.route_app``: no models or
database needed)."""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
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

    rows = ["| variable | meaning | type or values | default |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = (
            field.default if field.default_factory is None else field.default_factory()
        )
        if isinstance(default, Enum):
            default = default.value
        elif isinstance(default, (dict, list)):  # as the environment takes it: JSON
            default = json.dumps(default)
        shown = "none" if default is None else f"`{default}`".replace("|", "\\|")
        if not field.description:
            raise ValueError(f"setting {name} has no docstring (settings.py)")
        meaning = (
            " ".join(field.description.split()).replace("``", "`").replace("|", "\\|")
        )
        rows.append(
            f"| `LIKENESS_{name.upper()}` | {meaning} | {_type(field.annotation)} | {shown} |"
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
        doc = " ".join((cls.__doc__ or cls.default_message).split())
        doc = doc.replace("``", "`").replace("|", "\\|")
        status = status_for(cls.__new__(cls))
        rows.append(f"| `{cls.code}` | {status} | `{cls.__name__}` | {doc} |")
    rows.append("\nBesides these, the API answers `INTERNAL_ERROR` (500) for a failure it "
                "did not foresee, and HTTP-level errors such as `METHOD_NOT_ALLOWED` (405).")  # fmt: skip
    return "\n".join(rows)


def _http() -> str:
    import warnings

    from likeness.api import route_app
    from likeness.api.openapi import build

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. apispec's "schema added twice"
        spec = build(route_app())
    out = ["## Endpoints\n"]
    for path, operations in sorted(spec["paths"].items()):
        for method, op in operations.items():
            out.append(_operation(method, path, op))
    out.append("## Schemas\n\nWhat the answers hold (and the JSON bodies refer to).\n")
    for name, schema in sorted(spec["components"]["schemas"].items()):
        out.append(f"### {name}\n")
        out.append(_fields(schema) or "Any JSON object.\n")
    return "\n".join(out)


def _schema_type(schema: dict) -> str:
    """A property's type in a few words, schema references as links."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema or "oneOf" in schema:
        options = [
            o
            for o in schema.get("anyOf", schema.get("oneOf"))
            if o != {"type": "object", "nullable": True}
        ]
        text = " or ".join(_schema_type(o) for o in options)
        return (
            f"{text} or null"
            if len(options) < len(schema.get("anyOf", schema.get("oneOf")))
            else text
        )
    kind = schema.get("type", "any")
    if kind == "array":
        text = f"array of {_schema_type(schema.get('items', {}))}"
    elif kind == "string" and schema.get("format") == "binary":
        text = "file"
    else:
        text = kind
    if "enum" in schema:
        text = " / ".join(f"`{v}`" for v in schema["enum"] if v is not None)
    bounds = [f"{k[:3]} {schema[k]}" for k in ("minimum", "maximum") if k in schema]
    if bounds:
        text += f" ({', '.join(bounds)})"
    if schema.get("nullable"):
        text += " or null"
    return text


def _fields(schema: dict, body: bool = False) -> str:
    props = schema.get("properties") or {}
    if not props:
        return ""
    required = set(schema.get("required", []))
    head = (
        "| field | type | required | default | meaning |\n|---|---|---|---|---|"
        if body
        else "| field | type | meaning |\n|---|---|---|"
    )
    rows = [head]
    for name, prop in props.items():
        meaning = " ".join(prop.get("description", "").split()).replace("|", "\\|")
        kind = _schema_type(prop).replace("|", "\\|")
        if body:
            default = prop.get("default")
            shown = "" if default is None else f"`{json.dumps(default)}`"
            rows.append(
                f"| `{name}` | {kind} | {'yes' if name in required else ''} | {shown} | {meaning} |"
            )
        else:
            rows.append(f"| `{name}` | {kind} | {meaning} |")
    return "\n".join(rows) + "\n"


def _operation(method: str, path: str, op: dict) -> str:
    summary = op.get("summary", "")
    summary += "" if summary.endswith(("?", ".", "!")) else "."
    parts = [f"### `{method.upper()} {path}`\n", f"{summary}\n"]
    if op.get("description"):
        parts.append(f"{op['description']}\n")
    params = op.get("parameters") or []
    if params:
        rows = [
            "| parameter | in | type | required | meaning |",
            "|---|---|---|---|---|",
        ]
        for p in params:
            meaning = " ".join(p.get("description", "").split())
            rows.append(f"| `{p['name']}` | {p['in']} | {_schema_type(p.get('schema', {}))} | "
                        f"{'yes' if p.get('required') else ''} | {meaning} |")  # fmt: skip
        parts.append("\n".join(rows) + "\n")
    for media, content in (op.get("requestBody") or {}).get("content", {}).items():
        schema = content.get("schema", {})
        table = _fields(schema, body=True)
        if "$ref" in schema:
            table = f"A {_schema_type(schema)}.\n"
        parts.append(f"Body (`{media}`):\n\n{table or 'any JSON object.'}\n")
    answers, errors = [], []
    for status, response in sorted(op.get("responses", {}).items()):
        schema = (
            (response.get("content") or {})
            .get("application/json", {})
            .get("schema", {})
        )
        if status.startswith(("2", "3")) or "ErrorResponse" not in schema.get(
            "$ref", "ErrorResponse"
        ):
            schema = (
                (response.get("content") or {})
                .get("application/json", {})
                .get("schema")
            )
            kinds = ", ".join(f"`{m}`" for m in (response.get("content") or {}))
            what = (
                _schema_type(schema)
                if schema
                else (kinds or response.get("description", ""))
            )
            answers.append(f"{status}: {what}")
        else:
            errors.append(f"{status} `{response.get('description', '')}`")
    if answers:
        parts.append("Answers " + "; ".join(answers) + ".\n")
    if errors:
        parts.append("Errors: " + ", ".join(errors) + ".\n")
    return "\n".join(parts)


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
