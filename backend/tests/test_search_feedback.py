"""Issue 13, the web app's server side (Flask test client, real buffalo_s, LFW and a
group photo): face crops for thumbnails (kept, served, erased), every face of a
group photo searched, votes on search results stored and exported beside the 1:1
votes, and erasure taking the votes along."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from forms import upload
from sqlalchemy import func, select

from likeness.storage import Database
from likeness.storage.feedback import FeedbackStore
from likeness.storage.models import GalleryFaceCrop, Search, SearchFeedback
from likeness.storage.retention import purge


@pytest.fixture(scope="module")
def photo(lfw_photo):
    return lfw_photo


def enrol(client, name, *paths):
    response = client.post("/api/persons", **upload(*paths, name=name, consent_basis="test"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def count(app, model) -> int:
    with app.extensions["likeness.database"].session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_face_crops_are_kept_served_and_erased(client, app, photo):
    body = enrol(client, "Hans Blix", photo("Hans_Blix", 1), photo("Hans_Blix", 2))
    person = client.get(f"/api/persons/{body['person']['id']}").get_json()
    assert [f["face_id"] for f in person["faces"]] == [a["face_id"] for a in body["accepted"]]
    assert person["representative_face_id"] in {f["face_id"] for f in person["faces"]}
    response = client.get(f"/api/faces/{person['faces'][0]['face_id']}/crop")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.headers["Cache-Control"] == "no-store"
    crop = cv2.imdecode(np.frombuffer(response.data, np.uint8), cv2.IMREAD_COLOR)
    assert crop.shape == (112, 112, 3) and crop.std() > 20  # a face, not a blank
    assert count(app, GalleryFaceCrop) == 2

    missing = client.get("/api/faces/999999/crop")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "FACE_NOT_FOUND"
    assert client.delete(f"/api/persons/{person['id']}").status_code == 200
    assert count(app, GalleryFaceCrop) == 0  # erased with the faces
    gone = client.get(f"/api/faces/{person['faces'][0]['face_id']}/crop")
    assert gone.status_code == 404


def test_crops_can_be_turned_off(make_settings, engine, photo):
    from likeness.api import create_app

    client = create_app(make_settings(gallery_store_crops=False), engine=engine).test_client()
    body = enrol(client, "Hans Blix", photo("Hans_Blix", 1))
    response = client.get(f"/api/faces/{body['accepted'][0]['face_id']}/crop")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "CROP_NOT_STORED"


def test_group_photo_gives_one_list_per_face_and_votes_are_kept(
    client, app, photo, group_photo, tmp_path
):
    blix = enrol(client, "Hans Blix", photo("Hans_Blix", 1), photo("Hans_Blix", 2))["person"]
    response = client.post("/api/search", **upload(group_photo, every_face="true", top_k="3"))
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert len(result["faces"]) == 6 and len(result["search_id"]) == 32
    assert all(len(face["face"]["box"]) == 4 for face in result["faces"])
    chosen = result["faces"][result["chosen_face"]]
    assert chosen["face"] == result["face"]  # the top level is the chosen face's
    boxes = [f["face"]["box"] for f in result["faces"]]
    assert len({tuple(b) for b in boxes}) == 6

    # a photo of Blix: found, voted up, then changed to down
    probe = client.post("/api/search", **upload(photo("Hans_Blix", 3))).get_json()
    assert len(probe["faces"]) == 1 and probe["identity"]["person_id"] == blix["id"]
    vote = {"search_id": probe["search_id"], "face": 0, "person_id": blix["id"], "vote": "up"}
    first = client.post("/api/search/feedback", json=vote)
    assert first.status_code == 201, first.get_json()
    stored = first.get_json()
    assert stored["created"] is True and stored["vote"] == "up"
    assert stored["score"] == pytest.approx(probe["identity"]["score"], abs=1e-5)  # as shown
    again = client.post("/api/search/feedback", json={**vote, "vote": "down"})
    assert again.status_code == 200 and again.get_json()["created"] is False
    assert count(app, SearchFeedback) == 1

    # a vote on one face of the group photo
    on_face = {"search_id": result["search_id"], "face": 5, "person_id": blix["id"], "vote": "down"}
    assert client.post("/api/search/feedback", json=on_face).status_code == 201

    def error(body, status, code, field):
        response = client.post("/api/search/feedback", json=body)
        assert response.status_code == status, response.get_json()
        assert response.get_json()["error"]["code"] == code
        assert response.get_json()["error"]["field"] == field

    error({**vote, "search_id": "0" * 32}, 404, "SEARCH_NOT_FOUND", "search_id")
    error({**vote, "face": 1}, 400, "VALIDATION_ERROR", "face")
    # only what the search showed can be voted on (not any person or face)
    error({**vote, "person_id": 999999}, 400, "VALIDATION_ERROR", "person_id")
    shown_face = probe["identity"]["face_id"]  # a person's result is voted on by person
    error({**vote, "person_id": None, "face_id": shown_face}, 400, "VALIDATION_ERROR", "face_id")
    error({**vote, "vote": "maybe"}, 400, "VALIDATION_ERROR", "vote")
    error({"search_id": probe["search_id"], "vote": "up"}, 400, "VALIDATION_ERROR", "person_id")

    # exported beside the 1:1 votes, with a kind column
    database = app.extensions["likeness.database"]
    lines = [
        json.loads(line)
        for line in "".join(FeedbackStore(database).iter_export("jsonl")).splitlines()
    ]
    searches = [r for r in lines if r["kind"] == "search"]
    assert len(searches) == 2 and {r["vote"] for r in searches} == {"down"}
    row = next(r for r in searches if r["person_id"] == blix["id"])
    query, result_vector = np.array(row["embedding1"]), np.array(row["embedding2"])
    assert row["similarity"] == pytest.approx(float(query @ result_vector), abs=1e-5)
    assert row["search_id"] == probe["search_id"] and row["face_index"] == 0
    csv_text = "".join(FeedbackStore(database).iter_export("csv"))
    assert csv_text.splitlines()[0].startswith("kind,id,verification_id,search_id")

    # erasing the person takes every vote on it or its faces along
    assert client.delete(f"/api/persons/{blix['id']}").status_code == 200
    assert count(app, SearchFeedback) == 0
    # old searches are purged (a vote would keep what it needs)
    settings = app.config["LIKENESS"].model_copy(update={"verification_embedding_hours": 0})
    assert purge(database, settings).searches_deleted == 2
    assert count(app, Search) == 0


def test_votes_name_only_what_was_shown_and_go_with_the_photo(client, app, photo):
    enrol(client, "Hans Blix", photo("Hans_Blix", 1), photo("Hans_Blix", 2))
    wen = enrol(client, "Wen Jiabao", photo("Wen_Jiabao", 1))
    probe = client.post("/api/search", **upload(photo("Hans_Blix", 3), top_k="1")).get_json()
    assert [c["name"] for c in probe["candidates"]] == ["Hans Blix"]
    hidden = {"search_id": probe["search_id"], "person_id": wen["person"]["id"], "vote": "down"}
    refused = client.post("/api/search/feedback", json=hidden)
    assert (
        refused.status_code == 400
        and "not among the results" in refused.get_json()["error"]["message"]
    )
    shown = probe["identity"]
    vote = {"search_id": probe["search_id"], "person_id": shown["person_id"], "vote": "up"}
    assert client.post("/api/search/feedback", json=vote).status_code == 201
    with app.extensions["likeness.database"].session() as session:
        row = session.scalars(select(SearchFeedback)).one()
        assert row.face_id == shown["face_id"] and row.score == pytest.approx(shown["score"])
    # erasing the photo whose face was shown erases the vote (the person stays)
    assert client.delete(f"/api/gallery/images/{shown['image_id']}").status_code == 200
    assert count(app, SearchFeedback) == 0


def test_votes_follow_a_merge_and_a_merged_result_is_a_404(client, app, photo):
    from likeness.storage.models import GalleryPerson

    blix = enrol(client, "Hans Blix", photo("Hans_Blix", 1), photo("Hans_Blix", 2))["person"]
    database = app.extensions["likeness.database"]
    with database.session() as session:  # a cluster found automatically, of Blix
        cluster = GalleryPerson(name="", origin="auto", face_count=0)
        session.add(cluster)
        session.flush()
        cluster_id = cluster.id
    probe = client.post("/api/search", **upload(photo("Hans_Blix", 3))).get_json()
    vote = {"search_id": probe["search_id"], "person_id": blix["id"], "vote": "up"}
    assert client.post("/api/search/feedback", json=vote).status_code == 201
    # the enrolled person cannot join the cluster; the cluster joins the person
    assert (
        client.post(f"/api/clusters/{cluster_id}/merge", json={"other": blix["id"]}).status_code
        == 400
    )
    again = client.post("/api/search", **upload(photo("Hans_Blix", 3))).get_json()
    with database.session() as session:  # the shown person goes (as by a merge)
        session.delete(session.get(GalleryPerson, cluster_id))
    shown = [{"person_id": cluster_id, "face_id": again["identity"]["face_id"], "score": 0.5}]
    from likeness.storage.search_feedback import SearchRecords

    gone = SearchRecords(database).record(np.ones((1, 512), np.float32), 0.36, [shown])
    answer = client.post(
        "/api/search/feedback", json={"search_id": gone, "person_id": cluster_id, "vote": "up"}
    )
    assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "PERSON_NOT_FOUND"
    assert count(app, SearchFeedback) == 1  # the first vote is still there


def test_votes_survive_a_restart(tmp_path, make_settings, engine, photo):
    """The vote table is in the database (the one a new process opens)."""
    from likeness.api import create_app

    settings = make_settings()
    client = create_app(settings, engine=engine).test_client()
    person = enrol(client, "Hans Blix", photo("Hans_Blix", 1))["person"]
    probe = client.post("/api/search", **upload(photo("Hans_Blix", 2))).get_json()
    vote = {"search_id": probe["search_id"], "person_id": person["id"], "vote": "up"}
    assert client.post("/api/search/feedback", json=vote).status_code == 201
    database = Database(settings.sqlalchemy_url)
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(SearchFeedback)) == 1
    database.dispose()
