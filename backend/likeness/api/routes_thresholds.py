"""``/api/thresholds``: the decision thresholds in force for the running model
version, their history, and adopting or restoring a set (admin). Every worker
takes a change within ``threshold_refresh_seconds``, without a restart."""

from __future__ import annotations

from flask import Blueprint, jsonify
from marshmallow import Schema, fields, validate
from marshmallow import ValidationError as SchemaError

from likeness.api.auth import actor, requires
from likeness.api.openapi import document
from likeness.api.state import thresholds
from likeness.api.uploads import _schema_error, json_object
from likeness.learning import KEEP, ThresholdBook
from likeness.learning.thresholds import NOTE_MAX

bp = Blueprint("thresholds", __name__, url_prefix="/api")
_cosine = validate.Range(min=-1, max=1, min_inclusive=False, max_inclusive=False)


class InForceSchema(Schema):
    value = fields.Float()
    origin = fields.String(metadata={"description": "override, database or default"})
    set_id = fields.Integer(allow_none=True)


class ThresholdSetSchema(Schema):
    id = fields.Integer()
    model_pack = fields.String()
    model_version = fields.String(metadata={"description": "recogniser file SHA-256"})
    verify = fields.Float(allow_none=True, metadata={"description": "null: the default"})
    search = fields.Float(allow_none=True, metadata={"description": "null: the default"})
    source = fields.Dict(metadata={"description": "how the values were found"})
    note = fields.String(allow_none=True)
    restored_from = fields.Integer(allow_none=True)
    created_by = fields.String(allow_none=True)
    created_at = fields.String()


class ThresholdsResponse(Schema):
    model_pack = fields.String()
    model_version = fields.String()
    verify = fields.Nested(InForceSchema, metadata={"description": "1:1 threshold in force"})
    search = fields.Nested(InForceSchema, metadata={"description": "1:N threshold in force"})
    defaults = fields.Dict(keys=fields.String(), values=fields.Float())
    set = fields.Nested(ThresholdSetSchema, allow_none=True)
    history = fields.List(
        fields.Nested(ThresholdSetSchema), metadata={"description": "newest first"}
    )


class ThresholdChange(Schema):
    """A field left out keeps its value; ``null`` returns it to the default."""

    verify = fields.Float(allow_none=True, validate=_cosine)
    search = fields.Float(allow_none=True, validate=_cosine)
    note = fields.String(load_default=None, validate=validate.Length(max=NOTE_MAX))
    source = fields.Dict(load_default=None)


_response, _change, _set = ThresholdsResponse(), ThresholdChange(), ThresholdSetSchema()


def _answer(book: ThresholdBook):
    body = book.describe()
    body["history"] = [s.as_dict() for s in book.history()]
    return jsonify(_response.dump(body))


@bp.get("/thresholds")
@requires("admin")
@document(
    summary="Thresholds in force, where they come from, and their history",
    response=ThresholdsResponse,
)
def get_thresholds():
    return _answer(thresholds())


@bp.post("/thresholds")
@requires("admin")
@document(
    summary="Adopt new thresholds for the running model version (every worker, no restart)",
    json_body=ThresholdChange,
    response=ThresholdsResponse,
    errors=(415,),
)
def set_thresholds():
    try:
        body = _change.load(json_object())
    except SchemaError as error:
        raise _schema_error(error) from None
    book = thresholds()
    book.adopt(
        body.get("verify", KEEP),
        body.get("search", KEEP),
        source=body["source"],
        note=body["note"],
        created_by=actor(),
    )
    return _answer(book)


@bp.post("/thresholds/<int:set_id>/restore")
@requires("admin")
@document(
    summary="Put an earlier threshold set back in force (appended to the history)",
    response=ThresholdsResponse,
    errors=(404,),
)
def restore_thresholds(set_id: int):
    book = thresholds()
    book.restore(set_id, created_by=actor())
    return _answer(book)
