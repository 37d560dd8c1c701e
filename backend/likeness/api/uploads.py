"""Reading images and options out of a request: multipart files or JSON base64."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Request, g, request
from marshmallow import Schema
from marshmallow import ValidationError as SchemaError

from likeness.errors import (
    ImageTooLargeError,
    InvalidJsonError,
    InvalidTextError,
    LikenessError,
    MissingFieldError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from likeness.imaging import decode_base64
from likeness.text import storable


@dataclass
class Upload:
    """Raw bytes of the image fields and the validated options of one request."""

    images: dict[str, bytes]
    options: dict[str, Any]


def _schema_error(error: SchemaError) -> ValidationError:
    messages = error.normalized_messages()
    field, problems = next(iter(messages.items()))
    problem = problems[0] if isinstance(problems, list) else str(problems)
    if problem == "Missing data for required field.":
        return MissingFieldError(f"Field '{field}' is required.", field=field)
    if problem == "Unknown field.":
        return ValidationError(f"Unknown field '{field}'.", field=field)
    return ValidationError(f"{field}: {problem}", field=field)


#: JSON bodies nest at most this deep (Python's parser itself stops near 1,000).
MAX_JSON_DEPTH = 32


#: A JSON body holds at most this many values (commas, colons and brackets, counted
#: on the raw bytes before parsing: 100 MB of "0," or "[[[" would cost gigabytes as
#: Python objects; base64 holds none of them).
MAX_JSON_VALUES = 100_000


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is too large a number")
    return value


def _check_json(value) -> None:
    """Depth and text of a parsed JSON value, without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not storable(item):
                raise InvalidTextError()
        elif isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise InvalidJsonError(
                    f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep."
                )
            if isinstance(item, dict):
                stack.extend((key, depth) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)


def json_object() -> dict:
    """The current request's JSON body as an object: a clear 400 for malformed,
    too deeply nested or non-object JSON, and for text no database can store."""
    cached = g.get("likeness_json")
    if cached is not None:
        return cached
    body = parse_json_object(request.get_data(cache=True))
    g.likeness_json = body
    return body


def parse_json_object(raw: bytes | str, field: str | None = None) -> dict:
    """JSON text that must be an object (a request body, or a form field holding
    JSON): bounded in values and depth, finite numbers, storable text."""
    data = raw.encode() if isinstance(raw, str) else raw
    values = data.count(b",") + data.count(b":") + data.count(b"[") + data.count(b"{")
    if values > MAX_JSON_VALUES:
        raise InvalidJsonError(f"The JSON holds more than {MAX_JSON_VALUES} values.", field=field)
    try:
        body = json.loads(data, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise InvalidJsonError(
            f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep.", field=field
        ) from None
    except ValueError:  # malformed, a wrong encoding, NaN/Infinity
        raise InvalidJsonError(field=field) from None
    if not isinstance(body, dict):
        raise ValidationError("The JSON must be an object.", field=field)
    _check_json(body)
    return body


def base64_fits(value: str, max_bytes: int) -> bool:
    """Whether base64 text can decode to at most ``max_bytes`` (checked before decoding)."""
    return len(value) * 3 // 4 <= max_bytes + 3 + 64  # + a data-URL prefix


def _each_field(fields: tuple[str, ...], read) -> dict[str, bytes]:
    """``read(field)`` for each field; every field's error is reported, not the first's."""
    images, errors = {}, []
    for field in fields:
        try:
            images[field] = read(field)
        except LikenessError as error:
            errors.append(error.with_field(field))
    if errors:
        raise errors[0].with_others(errors[1:])
    return images


def _file(request: Request, field: str, max_bytes: int) -> bytes:
    storage = request.files.get(field)
    if storage is None:
        if field in request.form:
            raise ValidationError(
                f"Field '{field}' must be a file upload, not a text field.", field=field
            )
        raise MissingFieldError(f"File field '{field}' is required.", field=field)
    data = storage.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"The image is larger than the limit of {max_bytes} bytes.", field=field
        )
    return data


def _base64(body: dict, field: str, max_bytes: int) -> bytes:
    value = body.get(field)
    if value is None:
        raise MissingFieldError(f"Field '{field}' is required.", field=field)
    if not isinstance(value, str):
        raise ValidationError(f"Field '{field}' must be a base64 string.", field=field)
    if not base64_fits(value, max_bytes):
        raise ImageTooLargeError(
            f"The image is larger than the limit of {max_bytes} bytes.", field=field
        )
    return decode_base64(value)


def read_upload(request: Request, image_fields: tuple[str, ...], schema: Schema, max_bytes: int):
    """Images (as bytes) and options from multipart or JSON; errors carry the field."""
    if request.mimetype == "multipart/form-data":
        unknown = set(request.files) - set(image_fields)
        if unknown:
            field = sorted(unknown)[0]
            raise ValidationError(f"Unknown file field '{field}'.", field=field)
        images = _each_field(image_fields, lambda field: _file(request, field, max_bytes))
        raw_options = request.form.to_dict()
    elif request.is_json:
        body = json_object()
        images = _each_field(image_fields, lambda field: _base64(body, field, max_bytes))
        raw_options = {k: v for k, v in body.items() if k not in image_fields}
    else:
        raise UnsupportedMediaTypeError()
    try:
        options = schema.load(raw_options)
    except SchemaError as error:
        raise _schema_error(error) from None
    return Upload(images, options)
