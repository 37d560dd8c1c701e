"""marshmallow schemas of the API's requests and responses."""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from marshmallow import ValidationError as ValidationError_

from likeness.settings import FacePolicy

POLICIES = [p.value for p in FacePolicy]


# --- requests -----------------------------------------------------------------
class LivenessFields(fields.Field):
    """``true``/``false`` (JSON booleans or form strings) or one image field name:
    loaded as the tuple of fields whose face must be live."""

    FIELDS = ("image1", "image2")

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value in self.FIELDS:
            return (value,)
        try:
            on = fields.Boolean()._deserialize(value, attr, data, **kwargs)
        except Exception:  # noqa: BLE001 - one message for every wrong value
            raise ValidationError_("Use true, false, image1 or image2.") from None
        return self.FIELDS if on else ()


def _checks_option() -> fields.Boolean:
    return fields.Boolean(
        load_default=True,
        metadata={"description": "run the face checks (size, quality, cartoon) on each face"},
    )


def _liveness_option() -> fields.Boolean:
    return fields.Boolean(
        load_default=False,
        metadata={"description": "also run passive liveness (about 8 ms per face)"},
    )


class DetectOptions(Schema):
    """Options beside the ``image`` field of ``POST /api/detect``."""

    checks = _checks_option()
    liveness = _liveness_option()


class VerifyOptions(Schema):
    """Options beside ``image1`` and ``image2`` of ``POST /api/verify``."""

    face_policy = fields.String(
        validate=validate.OneOf(POLICIES),
        load_default=None,
        metadata={"description": "which face when a photo shows several (default: the server's)"},
    )
    face1 = fields.Integer(
        load_default=None,
        validate=validate.Range(min=0, max=1000),
        metadata={"description": "use this face of image1 (its index in an earlier answer)"},
    )
    face2 = fields.Integer(
        load_default=None,
        validate=validate.Range(min=0, max=1000),
        metadata={"description": "use this face of image2"},
    )
    checks = _checks_option()
    liveness = LivenessFields(
        load_default=(),
        metadata={
            "type": "string",
            "default": "false",
            "enum": ["false", "true", "image1", "image2"],
            "description": "passive liveness on every image (true) or only on the camera "
            "shot (image1 or image2: a reference photo is a photo, and may look like one); "
            "liveness runs the face checks too",
        },
    )


class FilterOptions(Schema):
    """Options beside the ``image`` field of ``POST /api/filter``."""

    face_policy = fields.String(
        validate=validate.OneOf(POLICIES),
        load_default=None,
        metadata={"description": "which face when a photo shows several (default: the server's)"},
    )
    liveness = _liveness_option()


# --- responses ----------------------------------------------------------------
class FaceSchema(Schema):
    box = fields.List(fields.Float(), metadata={"description": "x1, y1, x2, y2 in pixels"})
    landmarks = fields.List(
        fields.List(fields.Float()),
        metadata={"description": "left eye, right eye, nose, left and right mouth corner"},
    )
    score = fields.Float()


class PoseSchema(Schema):
    yaw = fields.Float(metadata={"description": "nose offset / eye distance; 0 frontal"})
    pitch = fields.Float(metadata={"description": "nose between eyes (0) and mouth (1)"})
    roll = fields.Float(metadata={"description": "eye-line angle, degrees"})


class CheckScoresSchema(Schema):
    det_score = fields.Float()
    face_size = fields.List(fields.Integer(), metadata={"description": "box width, height"})
    face_area_ratio = fields.Float()
    embedding_norm = fields.Float()
    sharpness = fields.Float()
    brightness = fields.Float()
    contrast = fields.Float()
    pose = fields.Nested(PoseSchema)
    quality = fields.Float(metadata={"description": "combined quality, 0-1"})
    is_cartoon = fields.Boolean(allow_none=True)
    cartoon_prob = fields.Float(allow_none=True)
    is_live = fields.Boolean(allow_none=True, metadata={"description": "null: not asked"})
    liveness_score = fields.Float(allow_none=True)


class FaceCheckSchema(Schema):
    is_valid = fields.Boolean()
    rejection_reason = fields.String(
        allow_none=True,
        metadata={"description": "no_face, too_small, cartoon, low_quality or spoof"},
    )
    reasons = fields.List(fields.String())
    scores = fields.Nested(CheckScoresSchema)


class CheckedFaceSchema(FaceSchema):
    checks = fields.Nested(FaceCheckSchema)


class FilterResponse(FaceCheckSchema):
    face = fields.Nested(FaceSchema, allow_none=True)
    faces_found = fields.Integer()
    timings_ms = fields.Dict(keys=fields.String(), values=fields.Float())


class DetectResponse(Schema):
    width = fields.Integer()
    height = fields.Integer()
    faces = fields.List(fields.Nested(CheckedFaceSchema))
    timings_ms = fields.Dict(keys=fields.String(), values=fields.Float())


class VerifiedImageSchema(Schema):
    field = fields.String()
    width = fields.Integer()
    height = fields.Integer()
    faces = fields.List(fields.Nested(FaceSchema))
    face_index = fields.Integer(metadata={"description": "index in faces of the face used"})
    face = fields.Nested(FaceSchema)
    embedding_norm = fields.Float()
    checks = fields.Nested(FaceCheckSchema)


class VerifyResponse(Schema):
    verification_id = fields.String()
    similarity = fields.Float()
    threshold = fields.Float()
    is_match = fields.Boolean()
    reason = fields.String(
        allow_none=True, metadata={"description": "spoof: a face is not live (liveness=true)"}
    )
    model = fields.Dict()
    face_policy = fields.String()
    images = fields.List(fields.Nested(VerifiedImageSchema))
    timings_ms = fields.Dict(keys=fields.String(), values=fields.Float())


class ErrorDetail(Schema):
    code = fields.String()
    message = fields.String()
    field = fields.String(allow_none=True)
    job_id = fields.String(
        allow_none=True, metadata={"description": "JOB_RUNNING: the job holding the lock"}
    )
    reason = fields.String(metadata={"description": "FACE_REJECTED: the failed check"})
    check = fields.Dict(metadata={"description": "FACE_REJECTED: the face's scores"})
    person_id = fields.Integer(
        allow_none=True, metadata={"description": "PERSON_EXISTS: the person with that name"}
    )
    also = fields.List(
        fields.Dict(),
        metadata={"description": "errors of other fields of the request ({code, message, field})"},
    )


class ErrorResponse(Schema):
    error = fields.Nested(ErrorDetail)


# --- feedback -----------------------------------------------------------------
class FeedbackRequest(Schema):
    """``POST /api/feedback``: a vote on a recorded verification (unknown fields: 400)."""

    verification_id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    vote = fields.String(required=True, validate=validate.OneOf(["up", "down"]))
    # Absent: keep the stored comment; null or "": clear it. Length: feedback_comment_max.
    comment = fields.String(
        allow_none=True,
        metadata={"description": "at most LIKENESS_FEEDBACK_COMMENT_MAX characters (1,000)"},
    )


class FeedbackExportQuery(Schema):
    """``GET /api/feedback/export`` query string."""

    format = fields.String(load_default="jsonl", validate=validate.OneOf(["csv", "jsonl"]))


class FeedbackResponse(Schema):
    id = fields.Integer()
    verification_id = fields.String(allow_none=True)
    vote = fields.String()
    comment = fields.String(allow_none=True)
    created_at = fields.String()
    updated_at = fields.String()
    model_pack = fields.String()
    model_version = fields.String(metadata={"description": "recogniser file SHA-256"})
    similarity = fields.Float()
    threshold = fields.Float()
    is_match = fields.Boolean()
    face_policy = fields.String()
    has_crops = fields.Boolean()


# --- system and gallery answers (for the OpenAPI document) -----------------------------
class HealthResponse(Schema):
    status = fields.String()
    version = fields.String()


class ReadyResponse(Schema):
    status = fields.String()
    ready = fields.Boolean()
    pack = fields.String()


class ModelFileSchema(Schema):
    file = fields.String()
    task = fields.String()
    sha256 = fields.String()
    expected_sha256 = fields.String(allow_none=True)
    verified = fields.Boolean()
    size_bytes = fields.Integer()


class ModelsResponse(Schema):
    pack = fields.String()
    files = fields.List(fields.Nested(ModelFileSchema))
    threshold = fields.Float()
    search_threshold = fields.Float()
    providers = fields.List(fields.String())
    available_providers = fields.List(fields.String())
    onnxruntime_version = fields.String()
    intra_op_threads = fields.Integer()
    embedding_dim = fields.Integer()
    flip_tta = fields.Boolean()
    face_policy = fields.String()
    detector_input = fields.Dict()
    load_ms = fields.Float()
    face_checks = fields.Dict(
        metadata={"description": "each check: on or off, its threshold; liveness available?"}
    )
    version = fields.Dict(
        metadata={"description": "the active model version (id, sha256, status, gate, ...)"}
    )


class GalleryStats(Schema):
    persons = fields.Integer()
    images = fields.Integer()
    faces = fields.Integer()
    unusable_faces = fields.Integer(
        metadata={"description": "faces kept with their checks but never searched"}
    )
    index_kind = fields.String()
    index_faces = fields.Integer()
    generation = fields.Integer()
