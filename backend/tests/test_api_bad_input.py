"""The bad-input table, through real HTTP to a real Gunicorn with 2 workers.

Every case must give a clear 4xx with a stable code, never a 5xx, and must not
cost a worker its life."""

from __future__ import annotations

import base64
import json

import pytest
import requests

import imagefactory as make

GOOD = ("Abel_Pacheco", 1)
LIMIT = 2 * 1024 * 1024  # LIKENESS_MAX_UPLOAD_BYTES of the gunicorn_server fixture


def _files(**images: bytes):
    return {
        name: (f"{name}.bin", data, "application/octet-stream") for name, data in images.items()
    }


def _post(server, path, **kwargs):
    return requests.post(f"{server.url}{path}", timeout=60, **kwargs)


@pytest.fixture(scope="module")
def good(lfw_dir):
    from support import lfw_path

    return lfw_path(lfw_dir, *GOOD).read_bytes()


@pytest.fixture(scope="module")
def photo(lfw_dir):
    from support import lfw_path

    return lfw_path(lfw_dir, *GOOD)


@pytest.fixture(scope="module", autouse=True)
def workers_survive(gunicorn_server):
    """After the whole table, the same two workers are still serving."""
    before = gunicorn_server.worker_pids()
    assert len(before) == 2
    yield
    assert gunicorn_server.worker_pids() == before
    assert "Traceback" not in gunicorn_server.log()


def _expect(response, status: int, code: str, field: str | None = None):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"] and "Traceback" not in body["error"]["message"]
    if field is not None:
        assert body["error"]["field"] == field


def test_missing_field(gunicorn_server, good):
    _expect(
        _post(gunicorn_server, "/api/verify", files=_files(image1=good)),
        400,
        "MISSING_FIELD",
        "image2",
    )


def test_unknown_field(gunicorn_server, good):
    r = _post(gunicorn_server, "/api/verify", files=_files(image1=good, image2=good, image3=good))
    _expect(r, 400, "VALIDATION_ERROR", "image3")
    r = _post(
        gunicorn_server, "/api/verify", files=_files(image1=good, image2=good), data={"x": "1"}
    )
    _expect(r, 400, "VALIDATION_ERROR", "x")


def test_bad_option_value(gunicorn_server, good):
    r = _post(
        gunicorn_server,
        "/api/verify",
        files=_files(image1=good, image2=good),
        data={"face_policy": "biggest"},
    )
    _expect(r, 400, "VALIDATION_ERROR", "face_policy")


def test_wrong_content_type(gunicorn_server):
    r = _post(
        gunicorn_server, "/api/verify", data=b"image1=abc", headers={"Content-Type": "text/plain"}
    )
    _expect(r, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_empty_file(gunicorn_server, good):
    _expect(
        _post(gunicorn_server, "/api/verify", files=_files(image1=good, image2=b"")),
        400,
        "EMPTY_FILE",
        "image2",
    )


def test_truncated_jpeg(gunicorn_server, good, photo):
    r = _post(
        gunicorn_server, "/api/verify", files=_files(image1=make.truncated(photo), image2=good)
    )
    _expect(r, 400, "TRUNCATED_IMAGE", "image1")


def test_non_image_bytes(gunicorn_server, good):
    r = _post(
        gunicorn_server, "/api/verify", files=_files(image1=b"%PDF-1.4 not an image", image2=good)
    )
    _expect(r, 400, "INVALID_IMAGE", "image1")


@pytest.mark.parametrize("encode", [make.gif, make.tiff])
def test_unsupported_format(gunicorn_server, good, photo, encode):
    r = _post(gunicorn_server, "/api/verify", files=_files(image1=good, image2=encode(photo)))
    _expect(r, 415, "UNSUPPORTED_FORMAT", "image2")


def test_bad_base64(gunicorn_server, good):
    body = {"image1": "@@@not-base64@@@", "image2": base64.b64encode(good).decode()}
    _expect(_post(gunicorn_server, "/api/verify", json=body), 400, "INVALID_BASE64", "image1")


def test_json_not_object_and_wrong_types(gunicorn_server):
    _expect(_post(gunicorn_server, "/api/verify", json=[1, 2]), 400, "VALIDATION_ERROR")
    _expect(
        _post(gunicorn_server, "/api/verify", json={"image1": 5, "image2": "x"}),
        400,
        "VALIDATION_ERROR",
        "image1",
    )
    r = _post(
        gunicorn_server,
        "/api/verify",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    _expect(r, 400, "INVALID_JSON")


def test_image_over_byte_limit(gunicorn_server, good):
    big = good + b"\0" * (LIMIT + 1 - len(good))
    _expect(
        _post(gunicorn_server, "/api/verify", files=_files(image1=big, image2=good)),
        413,
        "IMAGE_TOO_LARGE",
        "image1",
    )
    body = {"image1": base64.b64encode(big).decode(), "image2": base64.b64encode(good).decode()}
    _expect(_post(gunicorn_server, "/api/verify", json=body), 413, "IMAGE_TOO_LARGE", "image1")


def test_body_over_request_limit(gunicorn_server):
    huge = b"\0" * (8 * LIMIT)
    _expect(
        _post(gunicorn_server, "/api/verify", files=_files(image1=huge, image2=huge)),
        413,
        "PAYLOAD_TOO_LARGE",
    )


@pytest.mark.parametrize("bomb", [make.pixel_bomb, make.forged_png_header])
def test_decompression_bomb(gunicorn_server, good, bomb):
    r = _post(gunicorn_server, "/api/verify", files=_files(image1=bomb(), image2=good))
    _expect(r, 413, "IMAGE_TOO_MANY_PIXELS", "image1")


def test_one_pixel_image(gunicorn_server, good):
    r = _post(gunicorn_server, "/api/verify", files=_files(image1=good, image2=make.solid(1, 1)))
    _expect(r, 422, "IMAGE_TOO_SMALL", "image2")


@pytest.mark.parametrize("encode", [make.png_gray, make.png_rgba, make.png_16bit])
def test_grayscale_rgba_16bit_png_work(gunicorn_server, good, photo, encode):
    r = _post(gunicorn_server, "/api/verify", files=_files(image1=good, image2=encode(photo)))
    assert r.status_code == 200, r.text
    assert r.json()["is_match"] and r.json()["similarity"] > 0.8


def test_exif_rotated_photo_is_turned_upright_before_detection(gunicorn_server, photo):
    data, (width, height) = make.exif_rotated(photo)
    r = _post(gunicorn_server, "/api/detect", files=_files(image=data))
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["width"], body["height"]) == (width, height)
    upright = _post(gunicorn_server, "/api/detect", files=_files(image=photo.read_bytes())).json()
    (face,) = body["faces"]
    # Same face position as in the upright original (a stored-sideways image would differ).
    assert all(abs(a - b) < 8 for a, b in zip(face["box"], upright["faces"][0]["box"], strict=True))
    left_eye, right_eye = face["landmarks"][:2]
    assert left_eye[0] < right_eye[0] and abs(left_eye[1] - right_eye[1]) < 15


def test_no_face(gunicorn_server, good):
    r = _post(gunicorn_server, "/api/verify", files=_files(image1=good, image2=make.noise()))
    _expect(r, 422, "NO_FACE", "image2")


def test_several_faces_under_reject_policy(gunicorn_server, good, group_photo):
    files = _files(image1=group_photo.read_bytes(), image2=good)
    _expect(
        _post(gunicorn_server, "/api/verify", files=files, data={"face_policy": "reject"}),
        422,
        "MULTIPLE_FACES",
        "image1",
    )
    ok = _post(gunicorn_server, "/api/verify", files=files, data={"face_policy": "largest"})
    assert ok.status_code == 200 and len(ok.json()["images"][0]["faces"]) == 6


def test_unknown_route_and_method(gunicorn_server):
    _expect(requests.get(f"{gunicorn_server.url}/api/nothing", timeout=10), 404, "NOT_FOUND")
    _expect(
        requests.get(f"{gunicorn_server.url}/api/verify", timeout=10), 405, "METHOD_NOT_ALLOWED"
    )


# --- issue 9: inputs that used to give 500s, or cost a worker too much ----------------
def test_json_bodies_are_bounded_before_parsing(gunicorn_server):
    """Millions of tiny values would cost gigabytes as Python objects: refused from
    the raw bytes; NaN and Infinity are not JSON."""
    body = b'{"images": ["AA=="], "x": [' + b"0.0," * 2_000_000 + b"0.0]}"
    person = _post(
        gunicorn_server, "/api/persons", json={"name": "Bounded", "consent_basis": "test"}
    ).json()
    r = _post(
        gunicorn_server,
        f"/api/persons/{person['id']}/faces",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    _expect(r, 400, "INVALID_JSON")
    nested = (
        b'{"image1": "x", "image2": "x", "x": ['
        + b",".join([b"[" * 500 + b"]" * 500] * 200)
        + b"]}"
    )
    r = _post(
        gunicorn_server, "/api/verify", data=nested, headers={"Content-Type": "application/json"}
    )
    _expect(r, 400, "INVALID_JSON")
    for constant in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
        r = _post(
            gunicorn_server,
            "/api/persons",
            data=b'{"name": "n", "metadata": {"x": ' + constant + b"}}",
            headers={"Content-Type": "application/json"},
        )
        _expect(r, 400, "INVALID_JSON")


def test_nul_characters_never_reach_the_database(gunicorn_server):
    url = gunicorn_server.url
    _expect(
        _post(gunicorn_server, "/api/persons", json={"name": "a\u0000b", "consent_basis": "test"}),
        400,
        "INVALID_TEXT",
    )
    _expect(
        _post(gunicorn_server, "/api/persons", data={"name": "a\x00b", "consent_basis": "test"}),
        400,
        "INVALID_TEXT",
    )
    body = {"verification_id": "a\u0000", "vote": "up"}
    _expect(_post(gunicorn_server, "/api/feedback", json=body), 400, "INVALID_TEXT")
    for response in (
        requests.delete(f"{url}/api/gallery/images/a%00b", timeout=30),
        requests.get(f"{url}/api/feedback/a%00b", timeout=30),
    ):
        assert response.status_code == 404, response.text


def test_deeply_nested_json_and_lone_surrogates(gunicorn_server):
    deep = b'{"name": "x", "metadata": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    for path in ("/api/persons", "/api/verify", "/api/feedback"):
        r = _post(gunicorn_server, path, data=deep, headers={"Content-Type": "application/json"})
        _expect(r, 400, "INVALID_JSON")
    r = _post(
        gunicorn_server,
        "/api/persons",
        data=b'{"name": "bad \\ud800 name"}',
        headers={"Content-Type": "application/json"},
    )
    _expect(r, 400, "INVALID_TEXT")


def test_huge_ids_and_offsets(gunicorn_server, good):
    huge = "99999999999999999999999"
    url = gunicorn_server.url
    for response in (
        requests.get(f"{url}/api/persons/{huge}", timeout=30),
        requests.delete(f"{url}/api/persons/{huge}", timeout=30),
        requests.get(f"{url}/api/persons/2147483648", timeout=30),
        _post(gunicorn_server, f"/api/persons/{huge}/faces", files=_files(image=good)),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "PERSON_NOT_FOUND"
    _expect(requests.get(f"{url}/api/persons?offset={huge}", timeout=30), 400, "VALIDATION_ERROR")


def test_too_many_form_parts_is_named_as_such(gunicorn_server):
    fields = {f"f{i}": "x" for i in range(1100)}
    r = _post(gunicorn_server, "/api/verify", files={k: (None, v) for k, v in fields.items()})
    _expect(r, 413, "TOO_MANY_PARTS")


def test_metadata_is_capped(gunicorn_server):
    body = {"name": "Big", "metadata": {"blob": "x" * 100_000}, "consent_basis": "test"}
    _expect(_post(gunicorn_server, "/api/persons", json=body), 400, "METADATA_TOO_LARGE")


def test_search_threshold_may_not_be_lowered(gunicorn_server, good):
    r = _post(gunicorn_server, "/api/search", files=_files(image=good), data={"threshold": "-1"})
    _expect(r, 400, "THRESHOLD_TOO_LOW", "threshold")
    r = _post(gunicorn_server, "/api/search", files=_files(image=good), data={"threshold": "0.9"})
    assert r.status_code == 200 and r.json()["threshold"] == 0.9


def test_enrolment_json_is_sized_before_decoding(gunicorn_server):
    person = _post(
        gunicorn_server, "/api/persons", json={"name": "Sized", "consent_basis": "test"}
    ).json()
    big = "A" * (4 * (LIMIT // 3 + 100))
    r = _post(gunicorn_server, f"/api/persons/{person['id']}/faces", json={"images": [big]})
    _expect(r, 413, "IMAGE_TOO_LARGE", "images")
    many = {"images": ["AAAA"] * 11}
    _expect(
        _post(gunicorn_server, f"/api/persons/{person['id']}/faces", json=many),
        400,
        "VALIDATION_ERROR",
        "images",
    )


def test_progressive_jpeg_scan_bomb_is_refused(gunicorn_server, good):
    from test_imaging import scan_bomb

    r = _post(gunicorn_server, "/api/detect", files=_files(image=scan_bomb(150)))
    _expect(r, 422, "IMAGE_TOO_COMPLEX", "image")


def test_answers_hold_no_server_paths_or_pids(gunicorn_server):
    models = requests.get(f"{gunicorn_server.url}/api/models", timeout=30).json()
    assert "model_root" not in models and all("path" not in f for f in models["files"])
    assert str(gunicorn_server.env["LIKENESS_MODEL_ROOT"]) not in json.dumps(models)
    health = requests.get(f"{gunicorn_server.url}/api/health", timeout=30).json()
    assert "pid" not in health
