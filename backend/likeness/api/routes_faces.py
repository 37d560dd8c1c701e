"""``/api/detect``, ``/api/verify`` and ``/api/filter``."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, g, jsonify, request

from likeness.api.auth import requires
from likeness.api.openapi import document
from likeness.api.schemas import (
    DetectOptions,
    DetectResponse,
    FilterOptions,
    FilterResponse,
    VerifyOptions,
    VerifyResponse,
)
from likeness.api.state import after_verify_hooks, engine, gate, image_limits, thresholds
from likeness.api.uploads import read_upload
from likeness.errors import FaceError, LikenessError
from likeness.imaging import decode_image
from likeness.quality.filter import filter_array
from likeness.verification import verify as verify_images

bp = Blueprint("faces", __name__, url_prefix="/api")

_detect_options, _detect_response = DetectOptions(), DetectResponse()
_verify_options, _verify_response = VerifyOptions(), VerifyResponse()
_filter_options, _filter_response = FilterOptions(), FilterResponse()


def _decode_one(upload, limits):
    """The upload's ``image`` decoded (errors name the field), and its timing."""
    start = time.perf_counter()
    try:
        image = decode_image(upload.images["image"], limits)
    except LikenessError as error:
        raise error.with_field("image") from None
    return image, {"decode": (time.perf_counter() - start) * 1000}


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in timings.items()}


@bp.post("/detect")
@requires("verify", anonymous=True)
@document(
    summary="Every face of an image: box, 5 landmarks, score, face checks",
    files=("image",),
    form=DetectOptions,
    response=DetectResponse,
    errors=(413, 415, 422, 503),
)
def detect():
    started = time.perf_counter()
    limits = image_limits()
    upload = read_upload(request, ("image",), _detect_options, limits.max_bytes)
    image, timings = _decode_one(upload, limits)
    start = time.perf_counter()
    faces = engine().detect(image)
    timings["detect"] = (time.perf_counter() - start) * 1000
    answers = [f.as_dict() for f in faces]
    options = upload.options
    if options["checks"] or options["liveness"]:
        start = time.perf_counter()
        checks = gate().check_faces(image, faces, liveness=options["liveness"])
        for answer, check in zip(answers, checks, strict=True):
            answer["checks"] = check.as_dict()
        timings["checks"] = (time.perf_counter() - start) * 1000
    timings["total"] = (time.perf_counter() - started) * 1000
    g.timings = timings
    height, width = image.shape[:2]
    body = {
        "width": width,
        "height": height,
        "faces": answers,
        "timings_ms": _rounded(timings),
    }
    return jsonify(_detect_response.dump(body))


@bp.post("/verify")
@requires("verify", anonymous=True)
@document(
    summary="Are the faces of two images the same person?",
    files=("image1", "image2"),
    form=VerifyOptions,
    response=VerifyResponse,
    errors=(413, 415, 422, 503),
)
def verify():
    started = time.perf_counter()
    limits = image_limits()
    upload = read_upload(request, ("image1", "image2"), _verify_options, limits.max_bytes)
    options = upload.options
    liveness = options["liveness"]
    result = verify_images(
        engine(),
        upload.images,
        options.get("face_policy"),
        limits,
        gate=gate() if options["checks"] or liveness else None,
        liveness=liveness,
        faces={
            name: options[key]
            for name, key in (("image1", "face1"), ("image2", "face2"))
            if options[key] is not None
        },
        threshold=thresholds().verify(),
    )
    for hook in after_verify_hooks():
        hook(result)
    timings = dict(result.timings_ms)
    timings["total"] = (time.perf_counter() - started) * 1000
    g.timings = timings
    body = {
        "verification_id": result.id,
        "similarity": round(result.comparison.similarity, 6),
        "threshold": result.comparison.threshold,
        "is_match": result.is_match,
        "reason": result.reason,
        "model": {"pack": current_app.config["LIKENESS"].model_pack},
        "face_policy": result.policy.value,
        "images": [
            {
                "field": name,
                "width": emb.image_size[0],
                "height": emb.image_size[1],
                "faces": [f.as_dict() for f in emb.faces],
                "face_index": emb.index,
                "face": emb.face.as_dict(),
                "embedding_norm": round(emb.norm, 4),
                **({"checks": result.checks[name].as_dict()} if name in result.checks else {}),
            }
            for name, emb in result.embeddings.items()
        ],
        "timings_ms": _rounded(timings),
    }
    return jsonify(_verify_response.dump(body))


@bp.post("/filter")
@requires("verify", anonymous=True)
@document(
    summary="Is the face of an image fit to use? Size, quality, cartoon, liveness",
    files=("image",),
    form=FilterOptions,
    response=FilterResponse,
    errors=(413, 415, 422, 503),
)
def filter_image():
    started = time.perf_counter()
    limits = image_limits()
    upload = read_upload(request, ("image",), _filter_options, limits.max_bytes)
    image, timings = _decode_one(upload, limits)
    try:
        result = filter_array(
            gate(), image, upload.options.get("face_policy"), liveness=upload.options["liveness"]
        )
    except FaceError as error:  # e.g. several faces under the reject policy
        raise error.with_field("image") from None
    timings.update(result.timings_ms)
    timings["total"] = (time.perf_counter() - started) * 1000
    g.timings = timings
    body = {**result.as_dict(), "timings_ms": _rounded(timings)}
    return jsonify(_filter_response.dump(body))
