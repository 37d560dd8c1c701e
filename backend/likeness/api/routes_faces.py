"""``/api/detect`` and ``/api/verify``."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, g, jsonify, request

from likeness.api.auth import requires
from likeness.api.openapi import document
from likeness.api.schemas import DetectOptions, DetectResponse, VerifyOptions, VerifyResponse
from likeness.api.state import after_verify_hooks, engine, image_limits
from likeness.api.uploads import read_upload
from likeness.errors import LikenessError
from likeness.imaging import decode_image
from likeness.verification import verify as verify_images

bp = Blueprint("faces", __name__, url_prefix="/api")

_detect_options, _detect_response = DetectOptions(), DetectResponse()
_verify_options, _verify_response = VerifyOptions(), VerifyResponse()


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in timings.items()}


@bp.post("/detect")
@requires("verify", anonymous=True)
@document(
    summary="Every face of an image: box, 5 landmarks, score",
    files=("image",),
    response=DetectResponse,
    errors=(413, 415, 422),
)
def detect():
    started = time.perf_counter()
    limits = image_limits()
    upload = read_upload(request, ("image",), _detect_options, limits.max_bytes)
    start = time.perf_counter()
    try:
        image = decode_image(upload.images["image"], limits)
    except LikenessError as error:
        raise error.with_field("image") from None
    timings = {"decode": (time.perf_counter() - start) * 1000}
    start = time.perf_counter()
    faces = engine().detect(image)
    timings["detect"] = (time.perf_counter() - start) * 1000
    timings["total"] = (time.perf_counter() - started) * 1000
    g.timings = timings
    height, width = image.shape[:2]
    body = {
        "width": width,
        "height": height,
        "faces": [f.as_dict() for f in faces],
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
    errors=(413, 415, 422),
)
def verify():
    started = time.perf_counter()
    limits = image_limits()
    upload = read_upload(request, ("image1", "image2"), _verify_options, limits.max_bytes)
    result = verify_images(engine(), upload.images, upload.options.get("face_policy"), limits)
    for hook in after_verify_hooks():
        hook(result)
    timings = dict(result.timings_ms)
    timings["total"] = (time.perf_counter() - started) * 1000
    g.timings = timings
    body = {
        "verification_id": result.id,
        "similarity": round(result.comparison.similarity, 6),
        "threshold": result.comparison.threshold,
        "is_match": bool(result.comparison.is_match),
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
            }
            for name, emb in result.embeddings.items()
        ],
        "timings_ms": _rounded(timings),
    }
    return jsonify(_verify_response.dump(body))
