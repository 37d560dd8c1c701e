"""The one error hierarchy of Likeness. Every error carries a stable ``code``;
the API maps classes to HTTP statuses in ``likeness.api.errors``."""

from __future__ import annotations


class LikenessError(Exception):
    """Base of every error Likeness raises on purpose."""

    code = "LIKENESS_ERROR"
    default_message = "Request failed."

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or self.default_message
        self.field = field
        super().__init__(self.message)

    #: Errors of other fields of the same request (e.g. both images of a
    #: verification were bad): reported beside this one as ``also``.
    others: tuple[LikenessError, ...] = ()

    def details(self) -> dict:
        """Extra machine-readable facts for the error body (none by default)."""
        return {}

    def body(self) -> dict:
        """``{code, message, field, ...details, also?}``: the JSON error shape."""
        out = {"code": self.code, "message": self.message, "field": self.field}
        out.update(self.details())
        if self.others:
            out["also"] = [other.body() for other in self.others]
        return out

    def with_others(self, others) -> LikenessError:
        """Report the errors ``others`` (of other fields) with this one."""
        self.others = tuple(others)
        return self

    def with_field(self, field: str) -> LikenessError:
        """Attach the request field the error concerns (if not set yet)."""
        if self.field is None:
            self.field = field
        return self


class ConfigError(LikenessError):
    """A configuration Likeness cannot use: a missing YAML file, a weak bootstrap key,
    ``*`` among the CORS origins while keys are needed, a web app folder without its
    build (a server refuses to start with it). A setting of the wrong type fails
    earlier, with pydantic's validation error."""

    code = "CONFIG_ERROR"
    default_message = "Invalid configuration."


# --- models -----------------------------------------------------------------
class ModelError(LikenessError):
    """A model could not be loaded."""

    code = "MODEL_ERROR"
    default_message = "Model could not be loaded."


class ModelFilesMissingError(ModelError):
    """A model pack's files are not in the model root (the message names the folder,
    the files and how to fetch them)."""

    code = "MODEL_FILES_MISSING"


class ModelIntegrityError(ModelError):
    """A model file's SHA-256 is not the official release's (or the one recorded
    when a fine-tuned version was registered)."""

    code = "MODEL_HASH_MISMATCH"


class JobQueueUnavailableError(LikenessError):
    """The job queue (Celery's broker) cannot be reached."""

    code = "JOB_QUEUE_UNAVAILABLE"
    default_message = "The job queue is unreachable; try again when it is up."


class LivenessUnavailableError(ModelError):
    """Liveness was asked for, but its models are not installed."""

    code = "LIVENESS_UNAVAILABLE"
    default_message = "Liveness checks are not available on this server."


class ModelsNotReadyError(ModelError):
    """The models are still loading (``/api/ready`` answers 503 until they are)."""

    code = "MODELS_NOT_READY"
    default_message = "Models are not loaded yet."


# --- request validation -------------------------------------------------------
class ValidationError(LikenessError):
    """A field is missing, unknown or of the wrong type, or an id or offset is out
    of range."""

    code = "VALIDATION_ERROR"
    default_message = "The request is not valid."


class InvalidJsonError(ValidationError):
    """The body is not JSON: malformed, nested more than 32 levels, more than
    100,000 values, or NaN/Infinity."""

    code = "INVALID_JSON"
    default_message = "The body is not valid JSON."


class InvalidTextError(ValidationError):
    """Text with NUL characters or lone surrogates."""

    code = "INVALID_TEXT"
    default_message = "Text must be valid Unicode without NUL characters or lone surrogates."


class MetadataTooLargeError(ValidationError):
    """Person or image metadata over 16 KiB or nested more than 8 levels."""

    code = "METADATA_TOO_LARGE"
    default_message = "The metadata is too large or nested too deeply."


class ThresholdTooLowError(ValidationError):
    """A search ``threshold`` below the server's: it may only be raised (lowering
    needs an admin key)."""

    code = "THRESHOLD_TOO_LOW"
    default_message = "The threshold may be raised, not lowered below the server's."


class TooManyPartsError(ValidationError):
    """A form of more than 1,000 parts."""

    code = "TOO_MANY_PARTS"
    default_message = "The form has too many parts."


class MissingFieldError(ValidationError):
    """A required field is missing."""

    code = "MISSING_FIELD"
    default_message = "A required field is missing."


class PayloadTooLargeError(ValidationError):
    """The request body is over the byte limit (``max_upload_bytes`` per image)."""

    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is too large."


# --- images -------------------------------------------------------------------
class ImageLoadError(LikenessError):
    """Any image that cannot be read, for whatever reason."""

    code = "IMAGE_ERROR"
    default_message = "The image could not be read."


class EmptyImageError(ImageLoadError):
    """An image of 0 bytes."""

    code = "EMPTY_FILE"
    default_message = "The image is empty (0 bytes)."


class InvalidBase64Error(ImageLoadError):
    """A JSON image that is not valid base64 (a ``data:`` URL prefix is fine)."""

    code = "INVALID_BASE64"
    default_message = "The image is not valid base64."


class ImageDecodeError(ImageLoadError):
    """Bytes that do not decode as an image."""

    code = "INVALID_IMAGE"
    default_message = "The file is not a readable image."


class TruncatedImageError(ImageDecodeError):
    """An image file cut short or corrupt."""

    code = "TRUNCATED_IMAGE"
    default_message = "The image file is truncated or corrupt."


class UnsupportedFormatError(ImageLoadError):
    """Not JPEG (MPO included), PNG, WebP or BMP."""

    code = "UNSUPPORTED_FORMAT"
    default_message = "The image format is not supported."


class ImageTooLargeError(ImageLoadError):
    """An image file over ``max_upload_bytes``."""

    code = "IMAGE_TOO_LARGE"
    default_message = "The image file is too large."


class ImageTooManyPixelsError(ImageLoadError):
    """An image over ``max_image_pixels``, checked from its header before decoding
    (a decompression bomb)."""

    code = "IMAGE_TOO_MANY_PIXELS"
    default_message = "The image has too many pixels."


class ImageTooComplexError(ImageLoadError):
    """A decode-time bomb: a JPEG of more scans than ``max_jpeg_scans``, more than
    1,000 segments or PNG chunks before the image data, or a JPEG of many scans over
    many pixels that needs more than ``max_decode_seconds`` of CPU in its decoding
    child."""

    code = "IMAGE_TOO_COMPLEX"
    default_message = "The image would take too long to decode."


class ImageTooSmallError(ImageLoadError):
    """An image with a side under ``min_image_side`` (16 px)."""

    code = "IMAGE_TOO_SMALL"
    default_message = "The image is too small to hold a face."


# --- faces --------------------------------------------------------------------
class FaceError(LikenessError):
    """Base of the errors about the faces of an image."""

    code = "FACE_ERROR"


class NoFaceError(FaceError):
    """No face was found in the image."""

    code = "NO_FACE"
    default_message = "No face was found in the image."


class FaceMismatchError(FaceError):
    """Per photo of an enrolment: the face does not match the person above the 1:1
    threshold (their enrolled faces, or the other photos sent for a new person);
    ``allow_mismatch`` enrols it anyway."""

    code = "FACE_MISMATCH"
    default_message = "The face does not match the person's enrolled faces."


class NoPhotoAcceptedError(FaceError):
    """No photo of an enrolment was accepted; nothing was stored. ``rejected``
    holds the reason for each photo."""

    code = "NO_PHOTO_ACCEPTED"
    default_message = "No photo was enrolled."

    def __init__(self, message: str | None = None, *, rejected: list | None = None) -> None:
        super().__init__(message, field="image")
        self.rejected = list(rejected or [])


class FaceRejectedError(FaceError):
    """The face failed a face check (``reason``: too_small, low_quality, cartoon,
    spoof); ``check`` holds every score."""

    code = "FACE_REJECTED"
    default_message = "The face failed the face checks."

    def __init__(
        self, message: str | None = None, *, reason: str = "", check: dict | None = None
    ) -> None:
        super().__init__(message, field=None)
        self.reason = reason
        self.check = check or {}

    def details(self) -> dict:
        return {"reason": self.reason, "check": self.check}


class MultipleFacesError(FaceError):
    """Several faces under the ``reject`` face policy (or in an enrolment photo
    under ``strict``)."""

    code = "MULTIPLE_FACES"
    default_message = "More than one face was found; send an image with exactly one face."


# --- resources ----------------------------------------------------------------
class NotFoundError(LikenessError):
    """The resource does not exist (or the path is unknown)."""

    code = "NOT_FOUND"
    default_message = "The resource does not exist."


class IndexNotFoundError(NotFoundError):
    """No saved gallery index file was found, or the file belongs to another gallery."""

    code = "INDEX_NOT_FOUND"
    default_message = "No saved index was found."


# Names the library documents (same classes).
NoFaceDetectedError = NoFaceError


class UnsupportedMediaTypeError(ValidationError):
    """The body is neither multipart/form-data nor JSON."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    default_message = "Send multipart/form-data files or a JSON body with base64 images."


# --- feedback -----------------------------------------------------------------
class VerificationNotFoundError(NotFoundError):
    """No verification with this id was recorded (or it was purged)."""

    code = "VERIFICATION_NOT_FOUND"
    default_message = "No verification with this id was recorded."


class SearchNotFoundError(NotFoundError):
    """No search with this id is kept: never made, or past
    ``verification_embedding_hours``."""

    code = "SEARCH_NOT_FOUND"
    default_message = "No search with this id is kept (never made, or expired)."


class CommentTooLongError(ValidationError):
    """A vote's comment over ``feedback_comment_max`` characters."""

    code = "COMMENT_TOO_LONG"
    default_message = "The comment is too long."


# --- gallery (1:N search) ---------------------------------------------------------
class PersonNotFoundError(NotFoundError):
    """No such person or cluster in the gallery."""

    code = "PERSON_NOT_FOUND"
    default_message = "No such person in the gallery."


class JobNotFoundError(NotFoundError):
    """No job with this id."""

    code = "JOB_NOT_FOUND"
    default_message = "No job with this id."


class FaceNotFoundError(NotFoundError):
    """No such face in the gallery."""

    code = "FACE_NOT_FOUND"
    default_message = "No such face in the gallery."


class CropNotStoredError(NotFoundError):
    """The gallery keeps no crop of this face (indexed with ``gallery_store_crops``
    off)."""

    code = "CROP_NOT_STORED"
    default_message = "The gallery keeps no crop of this face (indexed with crops off)."


class ImageNotFoundError(NotFoundError):
    """No such image in the gallery."""

    code = "IMAGE_NOT_FOUND"
    default_message = "No such image in the gallery."


class UntrustedHostError(ValidationError):
    """A ``Host`` header not in ``trusted_hosts`` (against DNS rebinding)."""

    code = "UNTRUSTED_HOST"
    default_message = "This host name is not served here."


class RequestTimeoutError(ValidationError):
    """A request body that stalled or trickled past its deadline
    (``body_seconds``)."""

    code = "REQUEST_TIMEOUT"
    default_message = "The request took too long to arrive."


class RateLimitedError(LikenessError):
    """Over the rate limit, or too many refused keys from one address."""

    code = "RATE_LIMITED"
    default_message = "Too many requests; wait a minute."


class UnauthenticatedError(LikenessError):
    """A key is needed, or the key given is unknown or revoked."""

    code = "UNAUTHENTICATED"
    default_message = "An API key is needed."


class ForbiddenError(LikenessError):
    """A key of too small a scope; a cross-site request without a key;
    ``allow_mismatch`` or ``face_checks=false`` without an admin key."""

    code = "FORBIDDEN"
    default_message = "This server does not allow that."


class ConflictError(LikenessError):
    """The request conflicts with the gallery's state."""

    code = "CONFLICT"
    default_message = "The request conflicts with the gallery's state."


class JobRunningError(ConflictError):
    """A job of this kind already holds the lock (e.g. one full clustering run per
    gallery); ``job_id`` is the one running."""

    code = "JOB_RUNNING"
    default_message = "A job of this kind is already queued or running."

    def __init__(self, message: str | None = None, *, job_id: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id

    def details(self) -> dict:
        return {"job_id": self.job_id}


class PersonExistsError(ConflictError):
    """A name another person or named cluster has (names are unique); ``person_id``
    names the holder."""

    code = "PERSON_EXISTS"
    default_message = "A person with this name already exists."

    def __init__(self, message: str | None = None, *, person_id: int | None = None) -> None:
        super().__init__(message, field="name")
        self.person_id = person_id

    def details(self) -> dict:
        return {"person_id": self.person_id}


class DuplicateImageError(ConflictError):
    """An image id already in the gallery, or a photo already enrolled for the
    person or sent twice."""

    code = "DUPLICATE_IMAGE"
    default_message = "An image with this id is already in the gallery."


class EmbeddingModelMismatchError(ConflictError):
    """The gallery holds embeddings of another model version than the one loaded."""

    code = "MODEL_MISMATCH"
    default_message = "The gallery holds embeddings of a different model."

    def __init__(self, message: str | None = None, *, gallery_version: str | None = None):
        super().__init__(message)
        self.gallery_version = gallery_version


class ModelVersionNotFoundError(NotFoundError):
    """No such model version of this pack."""

    code = "MODEL_VERSION_NOT_FOUND"
    default_message = "No such model version of this pack."


class ModelNotActivatableError(ConflictError):
    """A version that cannot be made active: a candidate the gate refused or never
    gated (without ``force``), the active one already, one whose file is missing or
    altered, one of another embedding size, a switch that cannot re-embed every face
    (faces without a stored crop), or a rollback with no earlier version."""

    code = "MODEL_NOT_ACTIVATABLE"
    default_message = "This model version cannot be activated."


class ThresholdSetNotFoundError(NotFoundError):
    """No such threshold set for this model version."""

    code = "THRESHOLD_SET_NOT_FOUND"
    default_message = "No such threshold set for this model."


class ExemplarNotFoundError(NotFoundError):
    """No such confirmed face (learned from a search vote) for this person."""

    code = "EXEMPLAR_NOT_FOUND"
    default_message = "No such confirmed face for this person."
