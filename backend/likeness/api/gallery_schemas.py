"""marshmallow schemas of the gallery API (persons, enrolment, 1:N search)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from likeness.api.schemas import ErrorDetail, FaceCheckSchema, FaceSchema


# --- requests -----------------------------------------------------------------
class PersonCreate(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    metadata = fields.Dict(keys=fields.String(), load_default=None, allow_none=True)
    consent_basis = fields.String(
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "on what basis this person is enrolled (recorded with it)"},
    )


class ConsentSchema(Schema):
    basis = fields.String(allow_none=True)
    enrolled_by = fields.String(allow_none=True)
    recorded_at = fields.String(allow_none=True)


class PersonListQuery(Schema):
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2_147_483_647))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class SearchOptions(Schema):
    """Options beside the ``image`` field of ``POST /api/search``."""

    top_k = fields.Integer(load_default=5, validate=validate.Range(min=1, max=100))
    threshold = fields.Float(load_default=None, allow_none=True, validate=validate.Range(-1, 1))


class EnrolOptions(Schema):
    """Options beside the ``image`` files of ``POST /api/persons/<id>/faces``."""

    allow_mismatch = fields.Boolean(
        load_default=False,
        metadata={"description": "enrol faces that do not match the person (it changed a lot)"},
    )
    face_checks = fields.Boolean(
        load_default=True,
        metadata={"description": "false: enrol faces that fail the face checks (admin)"},
    )


# --- responses ----------------------------------------------------------------
class PersonSchema(Schema):
    id = fields.Integer()
    name = fields.String(allow_none=True, metadata={"description": "null: an unnamed cluster"})
    origin = fields.String(
        metadata={"description": "enrolled (made by a user) or auto (found by clustering)"}
    )
    metadata = fields.Dict()
    face_count = fields.Integer()
    created_at = fields.String(allow_none=True)
    image_ids = fields.List(fields.String())
    consent = fields.Nested(ConsentSchema)


class PersonListResponse(Schema):
    persons = fields.List(fields.Nested(PersonSchema))
    total = fields.Integer()
    offset = fields.Integer()
    limit = fields.Integer()


class AcceptedPhoto(Schema):
    index = fields.Integer()
    source = fields.String()
    image_id = fields.String()
    face_id = fields.Integer()


class RejectedPhoto(Schema):
    index = fields.Integer()
    source = fields.String()
    code = fields.String()
    message = fields.String()
    reason = fields.String(
        metadata={"description": "FACE_REJECTED: too_small, cartoon or low_quality"}
    )
    check = fields.Nested(FaceCheckSchema, metadata={"description": "FACE_REJECTED: the scores"})


class EnrolResponse(Schema):
    person = fields.Nested(PersonSchema)
    accepted = fields.List(fields.Nested(AcceptedPhoto))
    rejected = fields.List(fields.Nested(RejectedPhoto))
    error = fields.Nested(ErrorDetail, metadata={"description": "only when none was accepted"})


class HitSchema(Schema):
    person_id = fields.Integer(allow_none=True)
    name = fields.String(allow_none=True)
    score = fields.Float(metadata={"description": "cosine similarity of the best face"})
    centroid_score = fields.Float(allow_none=True)
    is_match = fields.Boolean()
    face_id = fields.Integer()
    image_id = fields.String()
    source = fields.String(allow_none=True)
    box = fields.List(fields.Float())


class SearchResponse(Schema):
    unknown = fields.Boolean()
    identity = fields.Nested(HitSchema, allow_none=True)
    threshold = fields.Float()
    matches = fields.List(fields.Nested(HitSchema))
    candidates = fields.List(fields.Nested(HitSchema))
    face = fields.Nested(FaceSchema, allow_none=True)
    model = fields.Dict()
    timings_ms = fields.Dict(keys=fields.String(), values=fields.Float())


class DeletedResponse(Schema):
    deleted = fields.Dict()


class EnrolJson(Schema):
    """``POST /api/persons/<id>/faces`` as JSON."""

    images = fields.List(fields.String(), required=True, metadata={"description": "base64 photos"})
    allow_mismatch = fields.Boolean(load_default=False)
    face_checks = fields.Boolean(load_default=True)
