"""MkDocs hooks: the reference pages' generated parts, built from the code at build
time (``<!-- generated: NAME -->`` markers). The HTTP page is the OpenAPI document
the server builds from its own routes (``likeness.api.route_app``: no models or
database needed)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import sys
from contextlib import redirect_stdout
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "backend"), str(REPO / "eval")]

MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")


def _type(annotation) -> str:
    from enum import Enum
    from typing import Literal, get_args, get_origin

    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " / ".join(f"`{m.value}`" for m in annotation)
    if get_origin(annotation) is Literal:
        return " / ".join(f"`{v}`" for v in get_args(annotation))
    if isinstance(annotation, type):
        return {"bool": "`true` / `false`", "str": "text", "float": "number",
                "int": "integer", "Path": "path"}.get(annotation.__name__, annotation.__name__)  # fmt: skip
    text = str(annotation).replace("typing.", "").replace("pathlib.", "")
    for python, shown in (("list[str]", "JSON list of text"), ("dict[str, float]", "JSON object"),
                          ("float", "number"), ("str", "text"), ("int", "integer"),
                          ("Path", "path"), (" | None", " or none")):  # fmt: skip
        text = text.replace(python, shown)
    return text


def _setting_names(text: str, fields) -> str:
    """``name`` of another setting -> `LIKENESS_NAME`; other ``code`` -> `code`."""
    return re.sub(
        r"``([a-z_]+)``",
        lambda m: (
            f"`LIKENESS_{m.group(1).upper()}`"
            if m.group(1) in fields
            else f"`{m.group(1)}`"
        ),
        text,
    ).replace("``", "`")


def _settings() -> str:
    from enum import Enum

    from likeness.settings import Settings

    fields = Settings.model_fields
    rows = ["| variable | meaning | type or values | default |", "|---|---|---|---|"]
    for name, field in fields.items():
        default = (
            field.default if field.default_factory is None else field.default_factory()
        )
        if isinstance(default, Enum):
            default = default.value
        elif isinstance(
            default, (dict, list, bool)
        ):  # as the environment takes it: JSON
            default = json.dumps(default)
        shown = "none" if default is None else f"`{default}`".replace("|", "\\|")
        if not field.description:
            raise ValueError(f"setting {name} has no docstring (settings.py)")
        meaning = _setting_names(" ".join(field.description.split()), fields)
        rows.append(
            f"| `LIKENESS_{name.upper()}` | {meaning.replace('|', chr(92) + '|')} | "
            f"{_type(field.annotation)} | {shown} |"
        )
    rows.append(
        "\nLists and dictionaries are given as JSON, e.g. "
        '`LIKENESS_CORS_ORIGINS=["https://example.org"]`. An optional number (a '
        "period, a threshold) is turned off with `none`, or `null` in the YAML file; an "
        "empty value means the default. A relative path is taken from the working "
        "directory."
    )
    return "\n".join(rows)


def _errors() -> str:
    import likeness.errors as e
    from likeness.api.errors import HTTP_CODES, status_for
    from likeness.settings import Settings

    rows = ["| code | HTTP | class | meaning |", "|---|---|---|---|"]
    classes = {c for c in vars(e).values()  # a set: an alias is listed once
               if isinstance(c, type) and issubclass(c, e.LikenessError)}  # fmt: skip
    for cls in sorted(classes, key=lambda c: (c.code, c.__name__)):
        doc = " ".join((cls.__doc__ or cls.default_message).split())
        doc = _setting_names(doc, Settings.model_fields)
        children = sorted(c.__name__ for c in classes if cls in c.__bases__)
        if children:
            doc += " Base class of " + ", ".join(f"`{c}`" for c in children) + "."
        status = status_for(cls.__new__(cls))
        rows.append(
            f"| `{cls.code}` | {status} | `{cls.__name__}` | {doc.replace('|', chr(92) + '|')} |"
        )
    rows.append("\nBesides these, the API answers `INTERNAL_ERROR` (500) for a failure it did "
                "not foresee (its message carries a request id to find in the log), and "
                "HTTP-level errors without a class: "
                + ", ".join(f"`{code}` ({status})" for status, code in sorted(HTTP_CODES.items()))
                + ". `METHOD_NOT_ALLOWED` also answers an API path used with the wrong "
                "method while the web app is served.")  # fmt: skip
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
            out.append(_operation(method, path, op, spec))
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


def _fields(schema: dict, body: bool = False, spec: dict | None = None) -> str:
    if "$ref" in schema and spec is not None:  # a named body: its fields, in place
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
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
        meaning = " ".join(prop.get("description", "").split()).replace("``", "`")
        meaning = meaning.replace("|", "\\|")
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


def _is_error(response: dict) -> bool:
    schema = (
        (response.get("content") or {}).get("application/json", {}).get("schema", {})
    )
    return schema.get("$ref", "").endswith("/ErrorResponse")


def _operation(method: str, path: str, op: dict, spec: dict) -> str:
    summary = op.get("summary", "")
    summary += "" if summary.endswith(("?", ".", "!")) else "."
    parts = [f"### `{method.upper()} {path}`\n", f"{summary}\n"]
    if op.get("description"):
        parts.append(f"{op['description']}\n")
    params = op.get("parameters") or []
    if params:
        rows = [
            "| parameter | in | type | required | default | meaning |",
            "|---|---|---|---|---|---|",
        ]
        for p in params:
            schema = p.get("schema", {})
            meaning = " ".join(
                (p.get("description") or schema.get("description", "")).split()
            )
            default = schema.get("default")
            shown = "" if default is None else f"`{json.dumps(default)}`"
            rows.append(f"| `{p['name']}` | {p['in']} | {_schema_type(schema)} | "
                        f"{'yes' if p.get('required') else ''} | {shown} | {meaning} |")  # fmt: skip
        parts.append("\n".join(rows) + "\n")
    for media, content in (op.get("requestBody") or {}).get("content", {}).items():
        table = _fields(content.get("schema", {}), body=True, spec=spec)
        parts.append(f"Body (`{media}`):\n\n{table or 'any JSON object.'}\n")
    answers, errors = [], []
    for status, response in sorted(op.get("responses", {}).items()):
        if _is_error(response):
            errors.append(status)
            continue
        content = response.get("content") or {}
        schema = content.get("application/json", {}).get("schema")
        what = _schema_type(schema) if schema else ", ".join(f"`{m}`" for m in content)
        note = response.get("description", "")
        note = f" ({note})" if note and note != "OK" else ""
        answers.append(f"{status}: {what or 'no body'}{note}")
    if answers:
        parts.append("Answers " + "; ".join(answers) + ".\n")
    if errors:
        parts.append(
            f"Errors: {', '.join(errors)} (every code and when: [Errors](errors.md)).\n"
        )
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
    from likeness_eval.cli import parser as eval_parser

    parts.append(("likeness-eval", eval_parser()))
    out = []
    for name, sub in parts:
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            sub.print_help()
        out.append(f"## `{name}`\n\n```text\n{buffer.getvalue().strip()}\n```\n")
    from likeness_eval import suite

    buffer = io.StringIO()
    with redirect_stdout(buffer), contextlib.suppress(SystemExit):
        suite.main(["--help"])
    out.append(
        f"## `likeness-eval suite`\n\n```text\n{buffer.getvalue().strip()}\n```\n"
    )
    return "\n".join(out)


GENERATORS = {"settings": _settings, "errors": _errors, "http": _http, "cli": _cli}  # fmt: skip


def on_page_markdown(markdown: str, page, config, files) -> str:
    return MARKER.sub(lambda m: GENERATORS[m.group(1)](), markdown)
