"""Gallery HTTP API (Flask test client, real buffalo_s, LFW photos): persons,
enrolment with per-photo reasons, search, deletion; the one error shape."""

from __future__ import annotations

import base64
import io

import pytest

from likeness.settings import DEFAULT_GALLERY_THRESHOLDS

from paths import TEST_PACK


@pytest.fixture(scope="module")
def photo(lfw_dir):
    def nth(name: str, n: int):
        return sorted((lfw_dir / "lfw-deepfunneled" / name).glob("*.jpg"))[n - 1]

    return nth


def files(*paths):
    return [(io.BytesIO(p.read_bytes()), p.name) for p in paths]


def test_persons_enrol_search_delete(client, photo, group_photo):
    response = client.post(
        "/api/persons", json={"name": "Hans Blix", "consent_basis": "test", "metadata": {"k": "v"}}
    )
    assert response.status_code == 201
    person = response.get_json()
    assert person["name"] == "Hans Blix" and person["face_count"] == 0

    response = client.post(
        f"/api/persons/{person['id']}/faces",
        data={"image": files(photo("Hans_Blix", 1), photo("Hans_Blix", 2), group_photo)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert [a["index"] for a in body["accepted"]] == [0, 1]
    assert body["rejected"] == [
        {
            "index": 2,
            "source": group_photo.name,  # the uploaded file name
            "code": "MULTIPLE_FACES",
            "message": body["rejected"][0]["message"],
        }
    ]
    assert body["person"]["face_count"] == 2

    other = client.post(
        "/api/persons", json={"name": "Wen Jiabao", "consent_basis": "test"}
    ).get_json()
    encoded = base64.b64encode(photo("Wen_Jiabao", 1).read_bytes()).decode()
    response = client.post(f"/api/persons/{other['id']}/faces", json={"images": [encoded]})
    assert response.status_code == 201

    listing = client.get("/api/persons").get_json()
    assert listing["total"] == 2 and [p["name"] for p in listing["persons"]] == [
        "Hans Blix",
        "Wen Jiabao",
    ]
    assert client.get(f"/api/persons/{person['id']}").get_json()["metadata"] == {"k": "v"}

    response = client.post(
        "/api/search",
        data={"image": files(photo("Hans_Blix", 3))[0], "top_k": "2"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    result = response.get_json()
    assert result["unknown"] is False and result["identity"]["person_id"] == person["id"]
    assert result["identity"]["name"] == "Hans Blix" and len(result["candidates"]) == 2
    assert result["threshold"] == pytest.approx(DEFAULT_GALLERY_THRESHOLDS[TEST_PACK])  # 1:N

    encoded = base64.b64encode(photo("David_Beckham", 1).read_bytes()).decode()
    stranger = client.post("/api/search", json={"image": encoded}).get_json()
    assert stranger["unknown"] is True and stranger["identity"] is None

    response = client.delete(f"/api/persons/{person['id']}")
    assert response.status_code == 200
    assert response.get_json()["deleted"]["faces"] == 2
    assert client.get(f"/api/persons/{person['id']}").status_code == 404
    gallery = client.get("/api/gallery").get_json()
    assert gallery["faces"] == gallery["index_faces"] == 1 and gallery["persons"] == 1


def test_gallery_errors_use_the_one_shape(client, photo, group_photo):
    def error(response, status, code, field=None):
        assert response.status_code == status, response.get_json()
        body = response.get_json()["error"]
        assert body["code"] == code and body["field"] == field
        return body

    error(client.get("/api/persons/999"), 404, "PERSON_NOT_FOUND")
    error(client.delete("/api/persons/999"), 404, "PERSON_NOT_FOUND")
    error(client.delete("/api/gallery/images/nope"), 404, "IMAGE_NOT_FOUND")
    error(client.post("/api/persons", json={}), 400, "MISSING_FIELD", "name")
    error(
        client.post("/api/persons", json={"name": "", "consent_basis": "test"}),
        400,
        "VALIDATION_ERROR",
        "name",
    )
    error(
        client.post("/api/persons", data="x", content_type="text/plain"),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    person = client.post("/api/persons", json={"name": "P", "consent_basis": "test"}).get_json()
    url = f"/api/persons/{person['id']}/faces"
    error(
        client.post(url, data={}, content_type="multipart/form-data"), 400, "MISSING_FIELD", "image"
    )
    error(client.post(url, json={"images": "x"}), 400, "VALIDATION_ERROR", "images")
    response = client.post(
        url, data={"image": files(group_photo)}, content_type="multipart/form-data"
    )
    body = error(response, 422, "NO_PHOTO_ACCEPTED", "image")
    assert response.get_json()["rejected"][0]["code"] == "MULTIPLE_FACES"
    error(
        client.post("/api/search", data={}, content_type="multipart/form-data"),
        400,
        "MISSING_FIELD",
        "image",
    )
    response = client.post(
        "/api/search",
        data={"image": (io.BytesIO(b"junk"), "x.jpg")},
        content_type="multipart/form-data",
    )
    error(response, 400, "INVALID_IMAGE", "image")
    response = client.post(
        "/api/search",
        data={"image": files(photo("Hans_Blix", 1))[0], "top_k": "0"},
        content_type="multipart/form-data",
    )
    error(response, 400, "VALIDATION_ERROR", "top_k")
    blank = base64.b64encode(group_photo.read_bytes()[:10]).decode()
    error(client.post("/api/search", json={"image": blank}), 400, "INVALID_IMAGE", "image")
    assert "message" in body


def test_enrolment_mismatch_and_override_over_http(client, photo):
    """The override is off over HTTP unless the server allows it (no keys yet)."""
    person = client.post(
        "/api/persons", json={"name": "Tony Blair", "consent_basis": "test"}
    ).get_json()
    url = f"/api/persons/{person['id']}/faces"
    ok = client.post(url, data={"image": files(photo("Tony_Blair", 1))})
    assert ok.status_code == 201
    refused = client.post(url, data={"image": files(photo("Hans_Blix", 1))})
    assert refused.status_code == 422
    body = refused.get_json()
    assert body["error"]["code"] == "NO_PHOTO_ACCEPTED"
    assert body["rejected"][0]["code"] == "FACE_MISMATCH"
    assert body["person"]["face_count"] == 1

    def force():
        return client.post(
            url, data={"image": files(photo("Hans_Blix", 1)), "allow_mismatch": "true"}
        )

    refused = force()
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "FORBIDDEN"
    settings = client.application.config["LIKENESS"]
    client.application.config["LIKENESS"] = settings.model_copy(
        update={"enrol_allow_mismatch": True}
    )
    forced = force()
    client.application.config["LIKENESS"] = settings
    assert forced.status_code == 201 and forced.get_json()["person"]["face_count"] == 2
    twice = client.post(url, data={"image": files(photo("Tony_Blair", 3), photo("Tony_Blair", 3))})
    assert twice.status_code == 201
    assert [r["code"] for r in twice.get_json()["rejected"]] == ["DUPLICATE_IMAGE"]


def test_search_answers_name_files_not_server_paths(client, photo):
    from likeness.api.routes_gallery import LIBRARY

    path = photo("Hans_Blix", 1)
    client.application.extensions[LIBRARY].index_image(path)
    response = client.post("/api/search", data={"image": files(photo("Hans_Blix", 2))})
    assert response.status_code == 200
    sources = [c["source"] for c in response.get_json()["candidates"]]
    assert sources == [path.name]
    assert str(path.parent) not in response.get_data(as_text=True)


def test_consent_is_required_recorded_and_shown(client, make_settings, engine):
    missing = client.post("/api/persons", json={"name": "No Basis"})
    assert missing.status_code == 400
    assert missing.get_json()["error"] == {
        "code": "MISSING_FIELD",
        "message": "Field 'consent_basis' is required.",
        "field": "consent_basis",
    }
    listed_ids = client.get("/api/persons").get_json()["persons"]
    assert all(
        p["image_ids"] == client.get(f"/api/persons/{p['id']}").get_json()["image_ids"]
        for p in listed_ids
    )
    made = client.post("/api/persons", json={"name": "Ada", "consent_basis": "signed form 2026-11"})
    assert made.status_code == 201
    consent = made.get_json()["consent"]
    assert consent["basis"] == "signed form 2026-11"
    assert consent["enrolled_by"].startswith("open:") and consent["recorded_at"].endswith("+00:00")
    listed = client.get("/api/persons").get_json()["persons"]
    assert listed[-1]["consent"]["basis"] == "signed form 2026-11"
    # a deployment may fix the wordings it accepts
    from likeness.api import create_app

    strict = create_app(make_settings(consent_bases=["explicit consent"]), engine=engine)
    other = strict.test_client().post(
        "/api/persons", json={"name": "B", "consent_basis": "why not"}
    )
    assert other.status_code == 400 and other.get_json()["error"]["field"] == "consent_basis"
    ok = strict.test_client().post(
        "/api/persons", json={"name": "B", "consent_basis": "explicit consent"}
    )
    assert ok.status_code == 201
