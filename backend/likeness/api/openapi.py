"""The OpenAPI 3 document, built from the routes themselves: each route declares
its body, answer and errors with ``document`` (next to its ``requires`` scope), the
marshmallow schemas become components (apispec), and ``/api/openapi.json`` serves
the result; ``/api/docs`` is Swagger UI on it. A route without a declaration is
refused by the test suite, so the document cannot fall behind."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify, send_from_directory
from marshmallow import Schema, fields

from likeness import __version__
from likeness.api.auth import PUBLIC, requires
from likeness.api.schemas import ErrorResponse

bp = Blueprint("openapi", __name__, url_prefix="/api")

#: Example codes per status, for the error answers every route may give.
ERROR_EXAMPLES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "NO_FACE",
    429: "RATE_LIMITED",
    503: "MODELS_NOT_READY",
}
SCOPE_TEXT = {
    PUBLIC: "No key.",
    "verify": "Scope `verify` (or any key-less caller on a loopback-only server).",
    "write": "Scope `write` (or any key-less caller on a loopback-only server).",
    "admin": "Scope `admin` (or any key-less caller on a loopback-only server).",
}


def document(
    *,
    summary: str,
    response: type[Schema] | Schema | tuple[type[Schema], ...] | None = None,
    status: int = 200,
    json_body: type[Schema] | Schema | None = None,
    files: tuple[str, ...] | dict[str, str] = (),
    form: type[Schema] | Schema | None = None,
    query: type[Schema] | Schema | None = None,
    errors: tuple[int, ...] = (),
    media_type: str = "application/json",
    also: tuple[str, ...] = (),
    other_statuses: tuple[int | tuple[int, type[Schema] | None, str], ...] = (),
    example: dict | None = None,
) -> Callable:
    """Describe a route for the OpenAPI document (see the module docstring)."""

    def mark(view: Callable) -> Callable:
        view.likeness_doc = {
            "summary": summary,
            "response": response,
            "status": status,
            "json_body": json_body,
            "files": files,
            "form": form,
            "query": query,
            "errors": errors,
            "media_type": media_type,
            "also": also,
            "other_statuses": other_statuses,
            "example": example,
        }
        return view

    return mark


def _schema(spec: APISpec, schema) -> dict | str:
    """A reference to the component of a schema class or instance (a tuple: any of
    them, e.g. a route whose answer depends on the request's form)."""
    if isinstance(schema, tuple):
        return {"anyOf": [_schema(spec, one) for one in schema]}
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    if name not in spec.components.schemas:
        spec.components.schema(name, schema=cls)
    return {"$ref": f"#/components/schemas/{name}"}


def _fields_of(schema) -> dict[str, fields.Field]:
    instance = schema() if isinstance(schema, type) else schema
    return dict(instance.fields)


def _request_body(spec: APISpec, doc: dict, plugin: MarshmallowPlugin) -> dict | None:
    content = {}
    if doc["files"] or doc["form"]:
        properties: dict = {}
        required = list(doc["files"])
        described = doc["files"] if isinstance(doc["files"], dict) else {}
        for name in doc["files"]:
            properties[name] = {
                "type": "string",
                "format": "binary",
                "description": described.get(name, "an image (JPEG, PNG, WebP or BMP)"),
            }
        if doc["form"]:
            for name, field in _fields_of(doc["form"]).items():
                properties[name] = plugin.converter.field2property(field)
                if field.required:
                    required.append(name)
        content["multipart/form-data"] = {
            "schema": {"type": "object", "properties": properties, "required": required}
        }
        if doc["files"]:  # the same request as JSON, images as base64 strings
            json_properties = {
                name: {"type": "string", "description": "base64 (a data: URL prefix is fine)"}
                for name in doc["files"]
            }
            json_properties.update({k: v for k, v in properties.items() if k not in doc["files"]})
            content["application/json"] = {
                "schema": {"type": "object", "properties": json_properties, "required": required}
            }
    if doc["json_body"] is not None:
        content["application/json"] = {"schema": _schema(spec, doc["json_body"])}
    return {"required": True, "content": content} if content else None


_PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _path(rule: str) -> tuple[str, list[dict]]:
    params = []
    for converter, name in _PARAM.findall(rule):
        kind = {"type": "integer"} if converter == "int" else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": kind})
    return _PARAM.sub(lambda m: "{" + m.group(2) + "}", rule), params


def current_app_settings(app: Flask) -> bool:
    """Whether anonymous detect/verify is on for this app."""
    return bool(app.config["LIKENESS"].anonymous_verify)


def build(app: Flask) -> dict:
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="Likeness API",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[plugin],
        info={
            "description": (
                "Face detection, 1:1 verification and a 1:N gallery. Keys: "
                "`Authorization: Bearer lk_...` or `X-API-Key`. Every error has the "
                "shape `{error: {code, message, field}}`."
            )
        },
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme(
        "apiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    )
    _schema(spec, ErrorResponse)
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith("/api/") or rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        doc = getattr(view, "likeness_doc", None)
        if doc is None:
            continue
        path, params = _path(rule.rule)
        scope = getattr(view, "likeness_scope", "admin")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operation: dict = {
                "summary": doc["summary"],
                "operationId": f"{rule.endpoint}.{method.lower()}",
                "description": SCOPE_TEXT.get(scope, "")
                + (
                    " Without a key when anonymous use is on."
                    if getattr(view, "likeness_anonymous", False)
                    else ""
                ),
                "tags": [rule.endpoint.split(".")[0]],
                "parameters": list(params),
                "responses": {},
            }
            if scope != PUBLIC:
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
                if getattr(view, "likeness_anonymous", False) and current_app_settings(app):
                    operation["security"].append({})  # no key needed either
            if doc["query"] is not None:
                for name, field in _fields_of(doc["query"]).items():
                    operation["parameters"].append(
                        {
                            "name": name,
                            "in": "query",
                            "required": field.required,
                            "schema": plugin.converter.field2property(field),
                        }
                    )
            body = _request_body(spec, doc, plugin)
            if body:
                operation["requestBody"] = body
            answer: dict = {"description": "OK"}
            if doc["response"] is not None:
                answer["content"] = {doc["media_type"]: {"schema": _schema(spec, doc["response"])}}
            elif doc["media_type"] != "application/json":
                answer["content"] = {doc["media_type"]: {"schema": {"type": "string"}}}
            for media in doc["also"]:  # the same answer in another format
                answer.setdefault("content", {})[media] = {"schema": {"type": "string"}}
            if doc["example"] is not None and "content" in answer:
                answer["content"][doc["media_type"]]["example"] = doc["example"]
            operation["responses"][str(doc["status"])] = answer
            for other in doc["other_statuses"]:  # 200 for a changed vote; 422: none accepted
                status, schema, note = other if isinstance(other, tuple) else (other, None, "")
                answer_too = {**answer, "description": note or "the same body"}
                if schema is not None:
                    answer_too["content"] = {"application/json": {"schema": _schema(spec, schema)}}
                operation["responses"][str(status)] = answer_too
            statuses = set(doc["errors"]) | ({429} if scope != PUBLIC else set())
            if scope != PUBLIC:
                statuses |= {401, 403}
            statuses |= {400}  # an untrusted Host name, malformed input
            if method in ("POST", "PUT", "PATCH"):
                statuses |= {408}  # a body that stalled or trickled past its deadline
            if doc["files"]:
                statuses |= {503}  # models not loaded yet
            for status in sorted(statuses):
                operation["responses"][str(status)] = {
                    "description": ERROR_EXAMPLES.get(status, "error"),
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ErrorResponse"},
                            "example": {
                                "error": {
                                    "code": ERROR_EXAMPLES.get(status, "ERROR"),
                                    "message": "A sentence saying what is wrong.",
                                    "field": None,
                                }
                            },
                        }
                    },
                }
            paths.setdefault(path, {})[method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/openapi.json")
@requires(PUBLIC)
@document(summary="This document (OpenAPI 3)")
def openapi_json():
    """This document."""
    cached = current_app.extensions.get("likeness.openapi")
    if cached is None:
        cached = current_app.extensions["likeness.openapi"] = build(current_app)
    return jsonify(cached)


_DOCS = Path(__file__).with_name("docs")


@bp.get("/docs")
@requires(PUBLIC)
@document(summary="Interactive documentation (Swagger UI)", media_type="text/html")
def docs():
    """Swagger UI on /api/openapi.json (its files are served from this server)."""
    return send_from_directory(_DOCS, "index.html")


@bp.get("/docs/<path:name>")
@requires(PUBLIC)
@document(summary="Swagger UI's own files", media_type="application/octet-stream", errors=(404,))
def docs_files(name: str):
    if name == "init.js":
        return send_from_directory(_DOCS, "init.js")
    import swagger_ui_bundle

    return send_from_directory(swagger_ui_bundle.swagger_ui_path, name)
