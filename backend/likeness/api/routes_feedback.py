"""``/api/feedback``: votes on verifications, and their export.

* ``POST /api/feedback`` ``{"verification_id", "vote": "up"|"down", "comment"?}``:
  201 with the record the first time, 200 when an existing vote is changed.
* ``GET /api/feedback/<verification_id>``: the record (404 if there is none).
* ``GET /api/feedback/export?format=jsonl|csv``: every record, streamed (formats in
  ``likeness.storage.feedback``).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, current_app, jsonify, request, stream_with_context
from marshmallow import ValidationError as SchemaError

from likeness.api.auth import actor, requires
from likeness.api.openapi import document
from likeness.api.schemas import FeedbackExportQuery, FeedbackRequest, FeedbackResponse
from likeness.api.state import AFTER_VERIFY, DATABASE, database, image_limits
from likeness.api.state import engine as current_engine
from likeness.api.uploads import _schema_error, json_object
from likeness.errors import (
    CommentTooLongError,
    NotFoundError,
    UnsupportedMediaTypeError,
)
from likeness.imaging import decode_base64, decode_image, encode_crop
from likeness.storage.audit import AuditLog
from likeness.storage.feedback import (
    KEEP,
    MEDIA_TYPES,
    FeedbackStore,
    record_dict,
    save_crops,
)

log = logging.getLogger("likeness.feedback")
bp = Blueprint("feedback", __name__, url_prefix="/api")

_request, _response, _export_query = FeedbackRequest(), FeedbackResponse(), FeedbackExportQuery()


def _load(schema, data) -> dict:
    try:
        return schema.load(data)
    except SchemaError as error:
        raise _schema_error(error) from None


@bp.post("/feedback")
@requires("write")
@document(
    summary="Vote on a verification (201 first vote, 200 a change)",
    json_body=FeedbackRequest,
    response=FeedbackResponse,
    status=201,
    other_statuses=((200, None, "an earlier vote was changed"),),
    errors=(404, 415),
)
def submit_feedback():
    if not request.is_json:
        raise UnsupportedMediaTypeError("Send a JSON body (Content-Type: application/json).")
    data = _load(_request, json_object())
    comment = data.get("comment", KEEP)
    limit = current_app.config["LIKENESS"].feedback_comment_max
    if isinstance(comment, str) and len(comment) > limit:
        raise CommentTooLongError(
            f"The comment has {len(comment)} characters; the limit is {limit}.", field="comment"
        )
    result = FeedbackStore(database()).submit(data["verification_id"], data["vote"], comment)
    return jsonify(_response.dump(record_dict(result.record))), 201 if result.created else 200


@bp.get("/feedback/export")
@requires("admin")
@document(
    summary="Every vote with scores and embeddings (JSON lines or CSV)",
    query=FeedbackExportQuery,
    media_type="application/x-ndjson",
    also=("text/csv",),
)
def export_feedback():
    fmt = _load(_export_query, request.args.to_dict())["format"]
    AuditLog(database()).record(actor(), "feedback.export", None, {"format": fmt})
    chunks = FeedbackStore(database()).iter_export(fmt)
    response = current_app.response_class(stream_with_context(chunks), mimetype=MEDIA_TYPES[fmt])
    response.headers["Content-Type"] = MEDIA_TYPES[fmt]
    response.headers["Content-Disposition"] = f'attachment; filename="likeness-feedback.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/feedback/<verification_id>")
@requires("write")
@document(summary="The vote on one verification", response=FeedbackResponse, errors=(404,))
def get_feedback(verification_id: str):
    row = FeedbackStore(database()).get(verification_id)
    if row is None:
        raise NotFoundError(f"No feedback for verification '{verification_id}'.")
    return jsonify(_response.dump(record_dict(row)))


# --- opt-in face crops -------------------------------------------------------------
def _uploaded_bytes(field: str) -> bytes:
    """The raw bytes of an image field of the current (already read) request."""
    if request.mimetype == "multipart/form-data":
        stream = request.files[field].stream
        stream.seek(0)
        return stream.read()
    return decode_base64(json_object()[field])


def _crop_recorder(app: Flask):
    def record_crops(result) -> None:
        """After-verify hook: keep the two aligned 112x112 crops as JPEG. Decodes the
        uploads once more (only when ``store_feedback_crops`` is on); a failure here
        is logged and never fails the verification."""
        try:
            engine = current_engine()
            limits = image_limits()
            crops = [
                encode_crop(engine.align(decode_image(_uploaded_bytes(name), limits), emb.face))
                for name, emb in result.embeddings.items()
            ]
            save_crops(app.extensions[DATABASE], result.id, *crops)
        except Exception:
            log.exception("could not store face crops", extra={"verification_id": result.id})

    return record_crops


def init_app(app: Flask) -> None:
    """Register the routes and, if configured, the crop hook. Call after the engine,
    database and verification hook are in place (the crop row refers to the
    verification row)."""
    app.register_blueprint(bp)
    if app.config["LIKENESS"].store_feedback_crops:
        app.extensions.setdefault(AFTER_VERIFY, []).append(_crop_recorder(app))
