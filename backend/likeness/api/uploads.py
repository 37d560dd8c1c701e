"""Reading images and options out of a request: multipart files or JSON base64."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Request
from marshmallow import Schema
from marshmallow import ValidationError as SchemaError

from likeness.errors import (
    ImageTooLargeError,
    LikenessError,
    MissingFieldError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from likeness.imaging import decode_base64


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


def read_upload(request: Request, image_fields: tuple[str, ...], schema: Schema, max_bytes: int):
    """Images (as bytes) and options from multipart or JSON; errors carry the field."""
    if request.mimetype == "multipart/form-data":
        unknown = set(request.files) - set(image_fields)
        if unknown:
            field = sorted(unknown)[0]
            raise ValidationError(f"Unknown file field '{field}'.", field=field)
        images: dict[str, bytes] = {}
        for field in image_fields:
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
            images[field] = data
        raw_options = request.form.to_dict()
    elif request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ValidationError("The body must be a JSON object.")
        images = {}
        for field in image_fields:
            value = body.get(field)
            if value is None:
                raise MissingFieldError(f"Field '{field}' is required.", field=field)
            if not isinstance(value, str):
                raise ValidationError(f"Field '{field}' must be a base64 string.", field=field)
            if len(value) * 3 // 4 > max_bytes + 3:
                raise ImageTooLargeError(
                    f"The image is larger than the limit of {max_bytes} bytes.", field=field
                )
            try:
                images[field] = decode_base64(value)
            except LikenessError as exc:
                raise exc.with_field(field) from None
        raw_options = {k: v for k, v in body.items() if k not in image_fields}
    else:
        raise UnsupportedMediaTypeError()
    try:
        options = schema.load(raw_options)
    except SchemaError as error:
        raise _schema_error(error) from None
    return Upload(images, options)
