"""Gallery endpoints: persons, enrolment and 1:N search.

* ``POST /api/persons`` ``{"name", "metadata"?}``: 201 with the person.
* ``GET /api/persons?offset=&limit=``; ``GET /api/persons/<id>``.
* ``DELETE /api/persons/<id>``: the person and every embedding (right to erasure).
* ``POST /api/persons/<id>/faces``: multipart ``image`` files (one or several) or
  JSON ``{"images": [base64, ...]}``; 201 with accepted photos and per-photo
  rejection reasons (422 with the same body if none was accepted).
* ``DELETE /api/gallery/images/<image_id>``; ``GET /api/gallery``: counts.
* ``GET /api/faces/<id>/crop``: the face's aligned crop (JPEG), for thumbnails.
* ``POST /api/search``: ``image`` (+ ``top_k``, ``threshold``, ``every_face``): ranked
  persons; ``unknown`` when none reaches the threshold; ``faces``: one result list
  per face searched; ``search_id`` for votes.
* ``POST /api/search/feedback`` ``{search_id, face, person_id | face_id, vote}``.

One ``FaceRecognitionLibrary`` per worker, built in ``create_app`` on the app's
engine and database.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from marshmallow import ValidationError as SchemaError

from likeness.api.auth import actor, current_key, may, requires
from likeness.api.gallery_schemas import (
    DeletedResponse,
    EnrolJson,
    EnrolOptions,
    EnrolResponse,
    ExemplarList,
    PersonCreate,
    PersonCreateForm,
    PersonListQuery,
    PersonListResponse,
    PersonSchema,
    SearchFeedbackRequest,
    SearchFeedbackResponse,
    SearchOptions,
    SearchResponse,
)
from likeness.api.openapi import document
from likeness.api.schemas import GalleryStats
from likeness.api.state import DATABASE, MODEL, database, image_limits
from likeness.api.uploads import (
    _schema_error,
    base64_fits,
    json_object,
    parse_json_object,
    read_upload,
)
from likeness.errors import (
    ForbiddenError,
    ImageTooLargeError,
    LikenessError,
    MissingFieldError,
    NoPhotoAcceptedError,
    ThresholdTooLowError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from likeness.imaging import decode_base64
from likeness.storage.audit import AuditLog

LIBRARY = "likeness.library"
#: At most this many photos per enrolment request.
MAX_ENROL_PHOTOS = 10

#: The photos of an enrolment, as the OpenAPI document describes them.
ENROL_FILES = {
    "image": f"photos of the person (repeat the field: one or more, up to {MAX_ENROL_PHOTOS})"
}
bp = Blueprint("gallery", __name__, url_prefix="/api")

_person_create, _person_list_query = PersonCreate(), PersonListQuery()
_person, _person_list = PersonSchema(), PersonListResponse()
_search_options, _search_response = SearchOptions(), SearchResponse()
_enrol_options, _enrol_response = EnrolOptions(), EnrolResponse()
_deleted, _exemplars = DeletedResponse(), ExemplarList()
_search_feedback, _search_feedback_response = SearchFeedbackRequest(), SearchFeedbackResponse()


def library():
    return current_app.extensions[LIBRARY]


def _load(schema, data) -> dict:
    try:
        return schema.load(data)
    except SchemaError as error:
        raise _schema_error(error) from None


@bp.post("/persons")
@requires("write")
@document(
    summary="Create a person (JSON), or a person with its first photos (multipart)",
    json_body=PersonCreate,
    files=ENROL_FILES,
    form=PersonCreateForm,
    response=(PersonSchema, EnrolResponse),  # JSON: the person; with photos: the enrolment
    status=201,
    other_statuses=((422, EnrolResponse, "no photo accepted: nothing stored"),),
    errors=(409, 413, 415),
)
def create_person():
    if request.mimetype == "multipart/form-data" and request.files:
        # the person and its photos in one transaction: the enrolment answer, and
        # nothing is made when no photo is accepted (422)
        return _enrol(None, PersonCreateForm())
    if request.is_json:
        body = json_object()
    elif request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        body = request.form.to_dict()
    else:
        raise UnsupportedMediaTypeError("Send a JSON body {name, metadata}.")
    data = _load(_person_create, body)
    person = library().create_person(
        data["name"],
        data.get("metadata"),
        consent_basis=data.get("consent_basis"),
        enrolled_by=actor(),
    )
    return jsonify(_person.dump(person.as_dict())), 201


@bp.get("/persons")
@requires("write")
@document(summary="Persons, a page at a time", query=PersonListQuery, response=PersonListResponse)
def list_persons():
    query = _load(_person_list_query, request.args.to_dict())
    persons, total = library().list_persons(query["offset"], query["limit"], query["origin"])
    body = {
        "persons": [p.as_dict() for p in persons],
        "total": total,
        "offset": query["offset"],
        "limit": query["limit"],
    }
    return jsonify(_person_list.dump(body))


@bp.get("/persons/<int:person_id>")
@requires("write")
@document(summary="One person", response=PersonSchema, errors=(404,))
def get_person(person_id: int):
    return jsonify(_person.dump(library().get_person(person_id).as_dict()))


@bp.delete("/persons/<int:person_id>")
@requires("admin")
@document(
    summary="Erase a person and every embedding (audited)", response=DeletedResponse, errors=(404,)
)
def delete_person(person_id: int):
    report = library().remove(person_id=person_id)
    AuditLog(database()).record(
        actor(),
        "person.erase",
        str(person_id),
        {"images": len(report.image_ids), "faces": report.faces},
    )
    body = {
        "deleted": {
            "person_ids": report.person_ids,
            "image_ids": report.image_ids,
            "faces": report.faces,
        }
    }
    return jsonify(_deleted.dump(body))


@bp.get("/persons/<int:person_id>/exemplars")
@requires("write")
@document(
    summary="Faces users confirmed as this person (search votes): part of its template",
    response=ExemplarList,
    errors=(404,),
)
def list_exemplars(person_id: int):
    return _exemplars_of(person_id)


def _exemplars_of(person_id: int):
    found = library().exemplars(person_id)
    return jsonify(_exemplars.dump({"exemplars": [e.as_dict() for e in found]}))


@bp.delete("/persons/<int:person_id>/exemplars/<int:exemplar_id>")
@requires("write")
@document(
    summary="Undo a confirmation: the face leaves the person's template",
    response=ExemplarList,
    errors=(404,),
)
def forget_exemplar(person_id: int, exemplar_id: int):
    library().forget_exemplar(person_id, exemplar_id)
    return _exemplars_of(person_id)


@bp.delete("/gallery/images/<path:image_id>")
@requires("admin")
@document(summary="Erase one image's faces (audited)", response=DeletedResponse, errors=(404,))
def delete_image(image_id: str):
    report = library().remove(image_id=image_id)
    AuditLog(database()).record(actor(), "image.erase", image_id, {"faces": report.faces})
    body = {"deleted": {"image_ids": report.image_ids, "faces": report.faces}}
    return jsonify(_deleted.dump(body))


@bp.get("/faces/<int:face_id>/crop")
@requires("write")
@document(
    summary="A gallery face's aligned 112x112 crop (JPEG), for thumbnails; never cached",
    media_type="image/jpeg",
    errors=(404,),
)
def face_crop(face_id: int):
    response = Response(library().face_crop(face_id), mimetype="image/jpeg")
    response.headers["Cache-Control"] = "no-store"  # erasure must not leave copies behind
    # no other site may embed it (an <img> there would tell which face ids exist)
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@bp.get("/gallery")
@requires("verify")
@document(summary="Counts, index kind and generation", response=GalleryStats)
def gallery_stats():
    return jsonify(library().stats())


def _enrol_images(max_bytes: int, form) -> tuple[list[bytes], dict]:
    if request.mimetype == "multipart/form-data":
        unknown = set(request.files) - {"image"}
        if unknown:
            field = sorted(unknown)[0]
            raise ValidationError(f"Unknown file field '{field}'.", field=field)
        files = request.files.getlist("image")
        if not files:
            raise MissingFieldError("File field 'image' is required (one or more).", field="image")
        raw = []
        for storage in files[: MAX_ENROL_PHOTOS + 1]:
            data = storage.stream.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise ImageTooLargeError(
                    f"A photo is larger than the limit of {max_bytes} bytes.", field="image"
                )
            raw.append(data)
        options = _load(form, request.form.to_dict())
        options["labels"] = [_file_label(f.filename, i) for i, f in enumerate(files)]
    elif request.is_json:
        body = json_object()
        values = body.get("images")
        if values is None:
            raise MissingFieldError("Field 'images' is required.", field="images")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValidationError("'images' must be a list of base64 strings.", field="images")
        if not values:
            raise MissingFieldError("Field 'images' is empty.", field="images")
        if len(values) > MAX_ENROL_PHOTOS:
            raise ValidationError(f"At most {MAX_ENROL_PHOTOS} photos per request.", field="images")
        if not all(base64_fits(value, max_bytes) for value in values):
            raise ImageTooLargeError(
                f"A photo is larger than the limit of {max_bytes} bytes.", field="images"
            )
        options = _load(_enrol_options, {k: v for k, v in body.items() if k != "images"})
        raw = []
        for value in values:
            try:
                raw.append(decode_base64(value))
            except LikenessError as exc:
                raise exc.with_field("images") from None
    else:
        raise UnsupportedMediaTypeError()
    if len(raw) > MAX_ENROL_PHOTOS:
        raise ValidationError(f"At most {MAX_ENROL_PHOTOS} photos per request.", field="image")
    return raw, options


@bp.post("/persons/<int:person_id>/faces")
@requires("write")
@document(
    summary="Enrol photos of a person (a reason for each refused one)",
    files=ENROL_FILES,
    form=EnrolOptions,
    json_body=EnrolJson,
    response=EnrolResponse,
    status=201,
    other_statuses=((422, None, "no photo accepted: nothing stored"),),
    errors=(404, 409, 413, 415),
)
def enrol_faces(person_id: int):
    library().get_person(person_id)  # 404 before reading the photos
    return _enrol(person_id, _enrol_options)


def _enrol(person_id: int | None, form):
    """Enrol the request's photos into ``person_id``, or into a new person described
    by the multipart ``form`` (name, consent_basis, metadata as JSON text)."""
    limits = image_limits()
    # several photos: a larger body than the app-wide two-image limit
    request.max_content_length = MAX_ENROL_PHOTOS * (limits.max_bytes * 4 // 3 + 4) + 64 * 1024
    lib = library()
    photos, options = _enrol_images(limits.max_bytes, form)
    # Forcing faces in needs an explicit admin key (or the setting), even when the
    # server is open on loopback: an override is a deliberate act.
    allowed = current_app.config["LIKENESS"].enrol_allow_mismatch or (
        current_key() is not None and may("admin")
    )
    for name, forced in (
        ("allow_mismatch", options["allow_mismatch"]),
        ("face_checks", not options["face_checks"]),
    ):
        if forced and not allowed:
            raise ForbiddenError(
                f"{name} needs an admin key (or LIKENESS_ENROL_ALLOW_MISMATCH=true).",
                field=name,
            )
    how = {
        "allow_mismatch": options["allow_mismatch"],
        "face_checks": None if options["face_checks"] else False,
        "face_policy": options["face_policy"],
        "labels": options.get("labels"),
    }
    try:
        if person_id is None:
            result = lib.enroll(
                options["name"],
                photos,
                _metadata(options.get("metadata")),
                consent_basis=options["consent_basis"],
                enrolled_by=actor(),
                new=True,
                **how,
            )
        else:
            result = lib.enroll(None, photos, person_id=person_id, **how)
    except NoPhotoAcceptedError as error:
        person = None if person_id is None else lib.get_person(person_id).as_dict()
        body = _enrol_response.dump(
            {"person": person, "accepted": [], "rejected": [r.as_dict() for r in error.rejected]}
        )
        body["error"] = {"code": error.code, "message": error.message, "field": "image"}
        g.error_code = error.code
        return jsonify(body), 422
    return jsonify(_enrol_response.dump(result.as_dict())), 201


def _file_label(filename: str | None, index: int) -> str:
    """What to call an uploaded photo: its file name (no folders, no control
    characters, at most 200 characters), else its place in the request."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable())[:200].strip()
    return name if name.strip(".") else f"image {index}"


def _metadata(text: str | None) -> dict | None:
    """Multipart metadata: a JSON object as text."""
    if text is None or text == "":
        return None
    return parse_json_object(text, field="metadata")


@bp.post("/search")
@requires("verify")
@document(
    summary="Who is this? Ranked persons, or unknown",
    files=("image",),
    form=SearchOptions,
    response=SearchResponse,
    errors=(413, 415, 422),
)
def search():
    started = time.perf_counter()
    limits = image_limits()
    upload = read_upload(request, ("image",), _search_options, limits.max_bytes)
    options = upload.options
    try:
        lib = library()
        threshold = options["threshold"]
        admin_key = current_key() is not None and may("admin")
        if threshold is not None and threshold < lib.search_threshold and not admin_key:
            raise ThresholdTooLowError(
                f"The threshold may be raised above the server's {lib.search_threshold}, "
                "not lowered below it (but with an admin key).",
                field="threshold",
            )
        result = lib.search_photo(
            upload.images["image"], options["top_k"], threshold, options["every_face"]
        )
    except LikenessError as error:
        raise error.with_field("image") from None
    timings = dict(result.timings_ms)
    timings["total"] = (time.perf_counter() - started) * 1000
    g.timings = timings
    body = result.as_dict()
    body["model"] = {"pack": current_app.config["LIKENESS"].model_pack}
    body["timings_ms"] = {k: round(v, 2) for k, v in timings.items()}
    return jsonify(_search_response.dump(body))


@bp.post("/search/feedback")
@requires("write")
@document(
    summary="Thumbs up or down on a search result (changes an earlier vote)",
    json_body=SearchFeedbackRequest,
    response=SearchFeedbackResponse,
    status=201,
    other_statuses=((200, None, "an earlier vote was changed"),),
    errors=(404, 415),
)
def search_feedback():
    body = _load(_search_feedback, json_object())
    vote = library().vote_on_search(
        body["search_id"],
        body["vote"],
        body["face"],
        body["person_id"],
        body["face_id"],
        created_by=actor(),
    )
    answer = {**vote.as_dict(), "created": vote.created}
    return jsonify(_search_feedback_response.dump(answer)), 201 if vote.created else 200


def init_app(app: Flask) -> None:
    """Register the routes and build this worker's library on the app's engine and
    database (already migrated by ``create_app`` or the Gunicorn master)."""
    from likeness.library import FaceRecognitionLibrary

    settings = app.config["LIKENESS"]
    app.register_blueprint(bp)
    app.extensions[LIBRARY] = FaceRecognitionLibrary(
        settings=settings,
        database=app.extensions[DATABASE],
        model=app.extensions[MODEL],  # one model (engine, checks, thresholds) per process
        migrate=False,
    )
