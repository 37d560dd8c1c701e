"""API behaviour through the Flask test client (the HTTP path is covered by the
Gunicorn tests)."""

from __future__ import annotations

import base64
import io
import json

from likeness.storage import Database
from likeness.storage.models import Verification


def _files(**images):
    return {name: (io.BytesIO(data), f"{name}.jpg") for name, data in images.items()}


def test_verify_same_person_multipart(client, lfw):
    a, b = lfw("Abel_Pacheco", 1).read_bytes(), lfw("Abel_Pacheco", 4).read_bytes()
    r = client.post("/api/verify", data=_files(image1=a, image2=b))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["is_match"] is True and body["similarity"] > body["threshold"]
    assert len(body["verification_id"]) == 32
    assert body["model"] == {"pack": "buffalo_s"} and body["face_policy"] == "largest"
    assert [i["field"] for i in body["images"]] == ["image1", "image2"]
    for image in body["images"]:
        assert (image["width"], image["height"]) == (250, 250)
        assert image["face"] == image["faces"][image["face_index"]]
        assert len(image["face"]["landmarks"]) == 5 and len(image["face"]["box"]) == 4
        assert image["embedding_norm"] > 0
    assert set(body["timings_ms"]) == {"decode", "detect", "embed", "checks", "compare", "total"}
    assert all(image["checks"]["is_valid"] for image in body["images"])  # the face checks
    assert body["reason"] is None


def test_verify_different_people_json_base64(client, lfw):
    a = base64.b64encode(lfw("Abel_Pacheco", 1).read_bytes()).decode()
    b = "data:image/jpeg;base64," + base64.b64encode(lfw("Akhmed_Zakayev", 1).read_bytes()).decode()
    r = client.post("/api/verify", json={"image1": a, "image2": b, "face_policy": "central"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["is_match"] is False and r.get_json()["face_policy"] == "central"


def test_verification_is_recorded_with_embeddings(app, client, lfw):
    a = lfw("Abel_Pacheco", 1).read_bytes()
    body = client.post("/api/verify", data=_files(image1=a, image2=a)).get_json()
    database: Database = app.extensions["likeness.database"]
    with database.session() as session:
        row = session.get(Verification, body["verification_id"])
        assert row is not None and row.model_pack == "buffalo_s"
        assert abs(row.similarity - body["similarity"]) < 1e-5 and row.is_match
        assert len(row.embedding1) == 512 * 4 and len(row.model_version) == 64


def test_detect_group_photo(client, group_photo):
    r = client.post("/api/detect", data=_files(image=group_photo.read_bytes()))
    assert r.status_code == 200
    body = r.get_json()
    assert len(body["faces"]) == 6
    assert body["faces"][0]["score"] >= body["faces"][-1]["score"]
    assert set(body["timings_ms"]) == {"decode", "detect", "checks", "total"}


def test_health_ready_models(client):
    assert client.get("/api/health").get_json()["status"] == "ok"
    assert client.get("/api/ready").get_json()["ready"] is True
    models = client.get("/api/models").get_json()
    assert models["pack"] == "buffalo_s" and models["embedding_dim"] == 512
    assert [f["verified"] for f in models["files"]] == [True, True]


def test_request_log_has_id_and_timings_but_no_image_bytes(client, lfw, caplog):
    from likeness.api.logs import JsonFormatter

    data = lfw("Abel_Pacheco", 1).read_bytes()
    r = client.post(
        "/api/verify",
        json={"image1": base64.b64encode(data).decode(), "image2": base64.b64encode(data).decode()},
        headers={"X-Request-ID": "test-req-42"},
    )
    assert r.headers["X-Request-ID"] == "test-req-42"
    err = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    lines = [json.loads(line) for line in err.splitlines()]
    entry = next(e for e in lines if e.get("request_id") == "test-req-42")
    assert entry["status"] == 200 and entry["path"] == "/api/verify"
    assert set(entry["timings_ms"]) >= {"decode", "detect", "embed", "compare"}
    assert base64.b64encode(data[:60]).decode()[:40] not in err


def test_unexpected_error_is_500_without_traceback(app, client, monkeypatch, lfw):
    from likeness.engine import FaceEngine

    def explode(self, image):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(FaceEngine, "detect", explode)
    r = client.post("/api/detect", data=_files(image=lfw("Abel_Pacheco", 1).read_bytes()))
    assert r.status_code == 500
    body = r.get_json()
    assert body["error"]["code"] == "INTERNAL_ERROR"
    assert "secret" not in body["error"]["message"] and "Traceback" not in r.get_data(as_text=True)
