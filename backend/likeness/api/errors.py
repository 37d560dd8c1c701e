"""Error classes -> HTTP statuses, in one table, and the one JSON error shape:
``{"error": {"code": ..., "message": ..., "field": ...}}``."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from likeness import errors as e

log = logging.getLogger("likeness.api")

STATUS: dict[type[e.LikenessError], int] = {
    e.ValidationError: 400,
    e.MissingFieldError: 400,
    e.PayloadTooLargeError: 413,
    e.TooManyPartsError: 413,
    e.UnsupportedMediaTypeError: 415,
    e.ImageLoadError: 400,
    e.EmptyImageError: 400,
    e.InvalidBase64Error: 400,
    e.ImageDecodeError: 400,
    e.UnsupportedFormatError: 415,
    e.ImageTooLargeError: 413,
    e.ImageTooManyPixelsError: 413,
    e.ImageTooSmallError: 422,
    e.ImageTooComplexError: 422,
    e.FaceError: 422,
    e.NoFaceError: 422,
    e.MultipleFacesError: 422,
    e.FaceMismatchError: 422,
    e.NoPhotoAcceptedError: 422,
    e.FaceRejectedError: 422,
    e.NotFoundError: 404,
    e.IndexNotFoundError: 404,
    e.PersonNotFoundError: 404,
    e.ImageNotFoundError: 404,
    e.UnauthenticatedError: 401,
    e.RateLimitedError: 429,
    e.RequestTimeoutError: 408,
    e.ForbiddenError: 403,
    e.ConflictError: 409,
    e.DuplicateImageError: 409,
    e.JobRunningError: 409,
    e.JobNotFoundError: 404,
    e.EmbeddingModelMismatchError: 409,
    e.VerificationNotFoundError: 404,
    e.CommentTooLongError: 400,
    e.ModelsNotReadyError: 503,
    e.LivenessUnavailableError: 503,
    e.JobQueueUnavailableError: 503,
    e.ModelError: 500,
    e.ConfigError: 500,
    e.LikenessError: 400,
}

HTTP_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
}


def status_for(error: e.LikenessError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def error_body(code: str, message: str, field: str | None = None) -> dict:
    return {"error": {"code": code, "message": message, "field": field}}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(e.LikenessError)
    def _likeness(error: e.LikenessError):
        g.error_code = error.code
        response = jsonify({"error": error.body()})
        if isinstance(error, e.UnauthenticatedError):
            response.headers["WWW-Authenticate"] = 'Bearer realm="likeness"'
        return response, status_for(error)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(error: RequestEntityTooLarge):
        limit = request.max_content_length
        length = request.content_length
        if limit is not None and length is not None and length <= limit:
            # Werkzeug says "too large" for too many multipart parts as well
            parts = request.max_form_parts
            g.error_code = e.TooManyPartsError.code
            message = f"The form has more than {parts} parts."
            return jsonify(error_body(g.error_code, message)), 413
        g.error_code = "PAYLOAD_TOO_LARGE"
        message = f"The request body is larger than {limit} bytes."
        return jsonify(error_body("PAYLOAD_TOO_LARGE", message)), 413

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        status = error.code or 500
        code = HTTP_CODES.get(status, f"HTTP_{status}")
        g.error_code = code
        response = jsonify(error_body(code, error.description or error.name))
        for name, value in error.get_headers():  # e.g. Allow on 405, Retry-After on 429
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # Logged with its traceback server-side; the client sees a request id only.
        log.exception("unhandled error", extra={"request_id": g.get("request_id")})
        g.error_code = "INTERNAL_ERROR"
        message = f"Internal error (request id {g.get('request_id', '-')})."
        return jsonify(error_body("INTERNAL_ERROR", message)), 500
