"""Feedback on verifications through the real app (buffalo_s, LFW images), on a
temporary SQLite file AND on a real PostgreSQL (fresh schema per test)."""

from __future__ import annotations

import base64
import csv
import io
import json
import threading

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from likeness.api import create_app
from likeness.api.state import DATABASE
from likeness.storage.feedback import (
    BASE64_FIELDS,
    EXPORT_FIELDS,
    FeedbackStore,
    export_feedback,
)
from likeness.storage.models import Feedback, Verification, VerificationCrops

from dbtargets import BACKENDS, database_url

GENUINE = (("Abel_Pacheco", 1), ("Abel_Pacheco", 4))  # pairs.txt, fold 1, first pair
IMPOSTOR = (("Abdel_Madi_Shabneh", 1), ("Dean_Barker", 1))  # fold 1, first impostor


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def make_app(backend, make_settings, engine, tmp_path):
    """``make_app(**settings) -> Flask`` on the test's database; disposed at the end."""
    apps = []
    with database_url(backend, tmp_path) as url:

        def make(**overrides):
            app = create_app(make_settings(database_url=url, **overrides), engine=engine)
            apps.append(app)
            return app

        yield make
        for app in apps:
            app.extensions[DATABASE].dispose()


@pytest.fixture
def client(make_app):
    return make_app(feedback_comment_max=50).test_client()


def verify(client, lfw, pair, as_json: bool = False) -> dict:
    (n1, i1), (n2, i2) = pair
    data1, data2 = lfw(n1, i1).read_bytes(), lfw(n2, i2).read_bytes()
    if as_json:
        b64 = [base64.b64encode(d).decode() for d in (data1, data2)]
        response = client.post("/api/verify", json={"image1": b64[0], "image2": b64[1]})
    else:
        files = {"image1": (io.BytesIO(data1), "a.jpg"), "image2": (io.BytesIO(data2), "b.jpg")}
        response = client.post("/api/verify", data=files, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def error_of(response) -> dict:
    return response.get_json()["error"]


def test_vote_is_recorded_then_changed(client, lfw):
    result = verify(client, lfw, GENUINE)
    assert result["is_match"] is True
    vid = result["verification_id"]
    sha = client.get("/api/models").get_json()["files"][1]["sha256"]

    first = client.post("/api/feedback", json={"verification_id": vid, "vote": "up"})
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["verification_id"] == vid and body["vote"] == "up" and body["comment"] is None
    assert body["model_pack"] == "buffalo_s" and body["model_version"] == sha
    assert body["similarity"] == pytest.approx(result["similarity"], abs=1e-6)
    assert body["threshold"] == result["threshold"] and body["is_match"] is True
    assert body["face_policy"] == result["face_policy"] and body["has_crops"] is False

    changed = client.post(
        "/api/feedback", json={"verification_id": vid, "vote": "down", "comment": "not him"}
    )
    assert changed.status_code == 200
    again = changed.get_json()
    assert again["id"] == body["id"] and again["created_at"] == body["created_at"]
    assert again["vote"] == "down" and again["comment"] == "not him"
    assert again["updated_at"] >= body["updated_at"]

    # Absent comment keeps it; null clears it.
    kept = client.post("/api/feedback", json={"verification_id": vid, "vote": "up"}).get_json()
    assert kept["vote"] == "up" and kept["comment"] == "not him"
    cleared = client.post(
        "/api/feedback", json={"verification_id": vid, "vote": "up", "comment": None}
    ).get_json()
    assert cleared["comment"] is None
    assert client.get(f"/api/feedback/{vid}").get_json()["vote"] == "up"

    # One row, embeddings copied from the verification, and they reproduce the score.
    db = client.application.extensions[DATABASE]
    with db.session() as session:
        rows = session.scalars(select(Feedback)).all()
        verification = session.get(Verification, vid)
    assert len(rows) == 1
    row = rows[0]
    assert row.embedding1 == verification.embedding1 and row.embedding2 == verification.embedding2
    e1, e2 = (np.frombuffer(b, "<f4") for b in (row.embedding1, row.embedding2))
    assert e1.shape == (512,) and float(e1 @ e2) == pytest.approx(result["similarity"], abs=1e-5)


def test_validation_errors(client, lfw):
    vid = verify(client, lfw, IMPOSTOR)["verification_id"]
    cases = [
        (
            {"verification_id": "0" * 32, "vote": "up"},
            404,
            "VERIFICATION_NOT_FOUND",
            "verification_id",
        ),
        ({"verification_id": vid, "vote": "maybe"}, 400, "VALIDATION_ERROR", "vote"),
        ({"verification_id": vid, "vote": 1}, 400, "VALIDATION_ERROR", "vote"),
        ({"verification_id": vid}, 400, "MISSING_FIELD", "vote"),
        ({"vote": "up"}, 400, "MISSING_FIELD", "verification_id"),
        ({"verification_id": 7, "vote": "up"}, 400, "VALIDATION_ERROR", "verification_id"),
        ({"verification_id": vid, "vote": "up", "score": 1}, 400, "VALIDATION_ERROR", "score"),
        (
            {"verification_id": vid, "vote": "up", "comment": "x" * 51},
            400,
            "COMMENT_TOO_LONG",
            "comment",
        ),
        ({"verification_id": vid, "vote": "up", "comment": 5}, 400, "VALIDATION_ERROR", "comment"),
    ]
    for body, status, code, field in cases:
        response = client.post("/api/feedback", json=body)
        assert response.status_code == status, (body, response.get_json())
        assert error_of(response)["code"] == code, (body, response.get_json())
        assert error_of(response)["field"] == field, (body, response.get_json())
    assert client.post("/api/feedback", json=[vid, "up"]).status_code == 400
    wrong_type = client.post("/api/feedback", data={"verification_id": vid, "vote": "up"})
    assert wrong_type.status_code == 415
    assert error_of(wrong_type)["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert client.get("/api/feedback/nope").status_code == 404
    # Nothing was stored by the rejected requests; the limit itself is accepted.
    assert FeedbackStore(client.application.extensions[DATABASE]).count() == 0
    ok = client.post(
        "/api/feedback", json={"verification_id": vid, "vote": "up", "comment": "x" * 50}
    )
    assert ok.status_code == 201


def test_export_jsonl_and_csv(client, lfw):
    results = [verify(client, lfw, GENUINE), verify(client, lfw, IMPOSTOR)]
    votes = [("up", '=HYPERLINK("http://x")'), ("down", 'wrong, "quoted",\nmultiline')]
    for result, (vote, comment) in zip(results, votes, strict=True):
        body = {"verification_id": result["verification_id"], "vote": vote, "comment": comment}
        assert client.post("/api/feedback", json=body).status_code == 201

    response = client.get("/api/feedback/export?format=jsonl")
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    assert "likeness-feedback.jsonl" in response.headers["Content-Disposition"]
    records = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [r["verification_id"] for r in records] == [r["verification_id"] for r in results]
    for record, result, (vote, comment) in zip(records, results, votes, strict=True):
        assert list(record) == list(EXPORT_FIELDS)
        assert record["vote"] == vote and record["comment"] == comment
        assert record["is_match"] == result["is_match"]
        assert record["created_at"].endswith("+00:00")
        e1, e2 = np.array(record["embedding1"]), np.array(record["embedding2"])
        assert e1.shape == e2.shape == (512,)
        assert float(e1 @ e2) == pytest.approx(result["similarity"], abs=1e-5)
        assert record["crop1_jpeg"] is None

    response = client.get("/api/feedback/export?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 2 and tuple(rows[0]) == EXPORT_FIELDS
    # a cell that would start a formula is neutralised with a leading apostrophe
    assert rows[0]["comment"] == "'" + records[0]["comment"]
    for row in rows:  # what still starts like a formula is a plain number (or base64)
        for name, value in row.items():
            if value.startswith(("=", "+", "-", "@")) and name not in BASE64_FIELDS:
                float(value)
    for row, record in zip(rows, records, strict=True):
        row = {k: v.removeprefix("'") for k, v in row.items()}
        assert row["comment"] == record["comment"] and row["vote"] == record["vote"]
        assert row["is_match"] == str(record["is_match"])
        e1 = np.frombuffer(base64.b64decode(row["embedding1"]), "<f4")
        assert np.array_equal(e1, np.array(record["embedding1"], np.float32))
        assert row["crop1_jpeg"] == ""

    # The CLI hook writes the same bytes as the API.
    db = client.application.extensions[DATABASE]
    for fmt in ("csv", "jsonl"):
        out = io.StringIO()
        assert export_feedback(db, fmt, out) == 2
        api = client.get(f"/api/feedback/export?format={fmt}").get_data(as_text=True)
        assert out.getvalue() == api

    bad = client.get("/api/feedback/export?format=xml")
    assert bad.status_code == 400 and error_of(bad)["field"] == "format"
    assert client.get("/api/feedback/export?format=csv&x=1").status_code == 400


def test_export_of_empty_store(client):
    assert client.get("/api/feedback/export?format=jsonl").get_data() == b""
    header = client.get("/api/feedback/export?format=csv").get_data(as_text=True)
    assert header == ",".join(EXPORT_FIELDS) + "\n"


def test_crops_are_kept_only_when_enabled(make_app, lfw):
    off = make_app().test_client()
    vid = verify(off, lfw, GENUINE)["verification_id"]
    with off.application.extensions[DATABASE].session() as session:
        assert session.get(VerificationCrops, vid) is None

    on = make_app(store_feedback_crops=True).test_client()
    for as_json in (False, True):  # multipart upload and JSON base64
        vid = verify(on, lfw, GENUINE, as_json=as_json)["verification_id"]
        body = on.post("/api/feedback", json={"verification_id": vid, "vote": "up"}).get_json()
        assert body["has_crops"] is True
    records = [
        json.loads(line)
        for line in on.get("/api/feedback/export?format=jsonl").get_data(as_text=True).split()
    ]
    assert len(records) == 2
    for record in records:
        crops = [record["crop1_jpeg"], record["crop2_jpeg"]]
        images = [cv2.imdecode(np.frombuffer(base64.b64decode(c), np.uint8), 1) for c in crops]
        assert all(img.shape == (112, 112, 3) for img in images)
        assert all(base64.b64decode(c)[:2] == b"\xff\xd8" for c in crops)  # JPEG
        # The crop is the face the score was computed on: it embeds to the same vector.
        stored = np.array(record["embedding1"], np.float32)
        engine = on.application.extensions["likeness.model"].current.engine
        unit, _ = engine.embed_aligned([images[0]])
        assert float(unit[0] @ stored) > 0.9


def test_concurrent_first_votes_make_one_record(client, lfw):
    vid = verify(client, lfw, GENUINE)["verification_id"]
    store = FeedbackStore(client.application.extensions[DATABASE])
    outcomes, errors = [], []

    def vote(i: int) -> None:
        try:
            outcomes.append(store.submit(vid, "up" if i % 2 else "down").created)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=vote, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(outcomes) == [False] * 5 + [True]
    assert store.count() == 1


def test_cli_feedback_export(client, lfw, tmp_path, capsys):
    from likeness.cli import main

    vid = verify(client, lfw, GENUINE)["verification_id"]
    client.post("/api/feedback", json={"verification_id": vid, "vote": "down", "comment": "cli"})
    url = client.application.extensions[DATABASE].url
    out = tmp_path / "feedback.csv"
    assert (
        main(["feedback", "export", "--format", "csv", "--out", str(out), "--database-url", url])
        == 0
    )
    rows = list(csv.DictReader(out.open(newline="")))
    assert [(r["verification_id"], r["vote"], r["comment"]) for r in rows] == [(vid, "down", "cli")]
    assert "exported 1 feedback records (csv)" in capsys.readouterr().err
    assert main(["feedback", "export", "--database-url", url]) == 0  # jsonl to stdout
    assert json.loads(capsys.readouterr().out)["verification_id"] == vid
    from likeness.storage import Database
    from likeness.storage.audit import AuditLog

    db = Database(url)
    exports = [e for e in AuditLog(db).entries() if e["action"] == "feedback.export"]
    db.dispose()
    assert [(e["actor"], e["details"]["format"]) for e in exports] == [
        ("cli", "jsonl"),
        ("cli", "csv"),
    ]  # newest first: every export of embeddings is audited
    assert exports[1]["details"] == {"format": "csv", "to": "feedback.csv"}


def test_a_refused_cli_export_is_not_audited(client, lfw, tmp_path):
    """An export that cannot go ahead (its folder exists, its file cannot be made)
    leaves no audit entry; one that goes ahead has one."""
    from likeness.cli import main
    from likeness.storage import Database
    from likeness.storage.audit import AuditLog

    url = client.application.extensions[DATABASE].url
    taken = tmp_path / "taken"
    taken.mkdir()
    common = ["feedback", "export", "--database-url", url]
    assert main([*common, "--format", "pairs", "--out", str(taken)]) == 2
    assert main([*common, "--format", "csv", "--out", str(tmp_path / "no" / "x.csv")]) != 0
    db = Database(url)
    assert [e for e in AuditLog(db).entries() if e["action"] == "feedback.export"] == []
    assert main([*common, "--format", "csv", "--out", str(tmp_path / "votes.csv")]) == 0
    assert [e["details"]["to"] for e in AuditLog(db).entries()] == ["votes.csv"]
    db.dispose()
