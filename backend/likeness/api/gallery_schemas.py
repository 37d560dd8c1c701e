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
    offset = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=2_147_483_647),
        metadata={"description": "skip this many"},
    )
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "at most this many"},
    )
    origin = fields.String(
        load_default=None,
        validate=validate.OneOf(["enrolled", "auto"]),
        metadata={"description": "only enrolled persons, or only clusters"},
    )


class SearchOptions(Schema):
    """Options beside the ``image`` field of ``POST /api/search``."""

    top_k = fields.Integer(
        load_default=5,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "candidates to return"},
    )
    threshold = fields.Float(
        load_default=None,
        allow_none=True,
        validate=validate.Range(-1, 1),
        metadata={
            "description": "a stricter 1:N threshold for this search (lower than the "
            "server's: admin key only, else THRESHOLD_TOO_LOW)"
        },
    )
    every_face = fields.Boolean(
        load_default=False,
        metadata={"description": "search each face of a group photo (one result list each)"},
    )


class SearchFeedbackRequest(Schema):
    """``POST /api/search/feedback``: a vote on one result of one searched face."""

    search_id = fields.String(required=True, validate=validate.Length(min=1, max=32))
    face = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=10_000),
        metadata={"description": "the face's index in the search's ``faces``"},
    )
    person_id = fields.Integer(
        load_default=None,
        allow_none=True,
        metadata={"description": "a person the search showed (400 for one it did not)"},
    )
    face_id = fields.Integer(
        load_default=None,
        allow_none=True,
        metadata={"description": "or an unlabelled face the search showed"},
    )
    vote = fields.String(
        required=True,
        validate=validate.OneOf(["up", "down"]),
        metadata={"description": "up on a match teaches the person's template the face"},
    )


class SearchFeedbackResponse(Schema):
    """201 for a new vote, 200 when an earlier vote was changed."""

    id = fields.Integer()
    search_id = fields.String(allow_none=True)
    face = fields.Integer()
    person_id = fields.Integer(allow_none=True)
    face_id = fields.Integer(allow_none=True)
    vote = fields.String()
    score = fields.Float(metadata={"description": "the score the search showed for it"})
    threshold = fields.Float()
    model_pack = fields.String()
    created_at = fields.String()
    updated_at = fields.String()
    created = fields.Boolean(metadata={"description": "false: an earlier vote was changed"})
    exemplar_id = fields.Integer(
        allow_none=True,
        metadata={
            "description": "a thumbs up on a person: the searched face joined its template "
            "as this confirmed face (undo: DELETE /api/persons/<id>/exemplars/<exemplar_id>)"
        },
    )


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
    face_policy = fields.String(
        load_default="strict",
        validate=validate.OneOf(["strict", "largest"]),
        metadata={"description": "strict: one face per photo; largest: use the largest face"},
    )


class PersonCreateForm(EnrolOptions):
    """``POST /api/persons`` as multipart with ``image`` files: the person and its
    first photos in one transaction (nothing is made if no photo is accepted)."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    consent_basis = fields.String(required=True, validate=validate.Length(min=1, max=500))
    metadata = fields.String(load_default=None, metadata={"description": "a JSON object"})


# --- responses ----------------------------------------------------------------
class PersonFace(Schema):
    face_id = fields.Integer()
    image_id = fields.String()


class PersonSchema(Schema):
    id = fields.Integer()
    name = fields.String(allow_none=True, metadata={"description": "null: an unnamed cluster"})
    origin = fields.String(
        metadata={"description": "enrolled (made by a user) or auto (found by clustering)"}
    )
    metadata = fields.Dict()
    face_count = fields.Integer()
    representative_face_id = fields.Integer(
        allow_none=True, metadata={"description": "its thumbnail: GET /api/faces/<id>/crop"}
    )
    created_at = fields.String(allow_none=True)
    image_ids = fields.List(fields.String())
    consent = fields.Nested(ConsentSchema)
    faces = fields.List(
        fields.Nested(PersonFace), metadata={"description": "one person only (GET by id)"}
    )


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
    person = fields.Nested(
        PersonSchema, allow_none=True, metadata={"description": "null: no new person was made"}
    )
    accepted = fields.List(fields.Nested(AcceptedPhoto))
    rejected = fields.List(fields.Nested(RejectedPhoto))
    error = fields.Nested(ErrorDetail, metadata={"description": "only when none was accepted"})


class HitSchema(Schema):
    person_id = fields.Integer(allow_none=True)
    name = fields.String(allow_none=True)
    score = fields.Float(metadata={"description": "cosine similarity of the best face"})
    centroid_score = fields.Float(
        allow_none=True, metadata={"description": "cosine similarity to the person's template"}
    )
    exemplar_score = fields.Float(
        allow_none=True,
        metadata={"description": "best score among faces users confirmed (the score if higher)"},
    )
    is_match = fields.Boolean(metadata={"description": "score at or above the threshold"})
    face_id = fields.Integer(
        metadata={"description": "the gallery face shown (its crop: /api/faces/<id>/crop)"}
    )
    image_id = fields.String()
    source = fields.String(
        allow_none=True, metadata={"description": "the file the photo came from (no folder)"}
    )
    box = fields.List(fields.Float(), metadata={"description": "x1, y1, x2, y2 in that photo"})


class FaceSearchSchema(Schema):
    unknown = fields.Boolean(metadata={"description": "nobody reached the threshold"})
    identity = fields.Nested(
        HitSchema, allow_none=True, metadata={"description": "the best match, or null"}
    )
    threshold = fields.Float(metadata={"description": "the 1:N threshold this search used"})
    matches = fields.List(
        fields.Nested(HitSchema), metadata={"description": "candidates at or above the threshold"}
    )
    candidates = fields.List(
        fields.Nested(HitSchema),
        metadata={"description": "the best face of each person, and unnamed faces, ranked"},
    )
    face = fields.Nested(
        FaceSchema, allow_none=True, metadata={"description": "the searched face in the photo"}
    )


class SearchResponse(FaceSearchSchema):
    """The chosen face's result at the top level; ``faces``: every face searched."""

    search_id = fields.String(metadata={"description": "for votes (POST /api/search/feedback)"})
    chosen_face = fields.Integer(metadata={"description": "index in faces of the top level"})
    width = fields.Integer(metadata={"description": "of the upright image (boxes are in it)"})
    height = fields.Integer()
    faces = fields.List(fields.Nested(FaceSearchSchema))
    model = fields.Dict()
    timings_ms = fields.Dict(keys=fields.String(), values=fields.Float())


class DeletedResponse(Schema):
    deleted = fields.Dict()


class EnrolJson(Schema):
    """``POST /api/persons/<id>/faces`` as JSON."""

    images = fields.List(fields.String(), required=True, metadata={"description": "base64 photos"})
    allow_mismatch = fields.Boolean(load_default=False)
    face_checks = fields.Boolean(load_default=True)
    face_policy = fields.String(
        load_default="strict", validate=validate.OneOf(["strict", "largest"])
    )


class ExemplarSchema(Schema):
    id = fields.Integer()
    person_id = fields.Integer()
    vote_id = fields.Integer(allow_none=True, metadata={"description": "the search vote"})
    created_at = fields.String()
    centroid_score = fields.Float(allow_none=True)


class ExemplarList(Schema):
    exemplars = fields.List(fields.Nested(ExemplarSchema))
