"""Person templates that learn from confirmations (issue 14): a thumbs up on a
search result adds the searched face to the person's template, search and
enrolment use it, and every way back (vote down, undo, erasure) takes it out."""

from __future__ import annotations

import numpy as np
import pytest
from forms import upload
from sqlalchemy import func, select

from likeness.learning.templates import Templates
from likeness.storage import Database
from likeness.storage.models import GalleryPerson, PersonExemplar


@pytest.fixture(scope="module")
def photo(lfw_photo):
    return lfw_photo


def _person(db: Database, name: str) -> int:
    with db.session() as session:
        row = GalleryPerson(name=name)
        session.add(row)
        session.flush()
        return row.id


def test_the_cap_keeps_the_most_varied_exemplars_and_the_centroid_learns(db_url):
    db = Database(db_url)
    pid = _person(db, "P")
    templates = Templates(db, cap=3)
    base = np.eye(8, dtype=np.float32)
    for vote, vector in enumerate([base[0], base[1], base[2]], start=1):
        assert templates.confirm(pid, _vote(db, pid, vote), vector) is not None
    near_twin = (base[0] + 0.05 * base[3]) / np.linalg.norm(base[0] + 0.05 * base[3])
    assert templates.confirm(pid, _vote(db, pid, 4), near_twin) is None  # redundant: dropped
    kept = templates.list(pid)
    assert len(kept) == 3
    best = templates.best_scores([pid], base[1])
    assert best[pid] == pytest.approx(1.0)
    assert templates.best_scores([pid], base[5]) == {pid: pytest.approx(0.0, abs=1e-6)}
    # the centroid: faces' mean with each exemplar weighing as one face
    centroid = templates.centroid(pid, base[7], faces=3)
    expected = base[7] * 3 + base[0] + base[1] + base[2]
    assert np.allclose(centroid, expected / np.linalg.norm(expected), atol=1e-6)
    mean = base[7]
    assert templates.centroid(_person(db, "Q"), mean, faces=3) is mean  # nothing learned
    db.dispose()


def _vote(db: Database, person_id: int, n: int) -> int:
    """A search vote row to hang an exemplar on (the FK needs one)."""
    from likeness.storage.models import SearchFeedback

    blob = np.zeros(8, np.float32).tobytes()
    with db.session() as session:
        row = SearchFeedback(
            face_index=0, target=f"person:{person_id}:{n}", person_id=person_id,
            model_pack="buffalo_s", model_version="v", score=0.5, threshold=0.36,
            vote="up", query_embedding=blob, result_embedding=blob,
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def _exemplars(app) -> int:
    with app.extensions["likeness.database"].session() as session:
        return session.scalar(select(func.count()).select_from(PersonExemplar))


def test_a_confirmed_face_joins_the_template_and_every_undo_takes_it_out(app, client, photo):
    made = client.post(
        "/api/persons", **upload(photo("Hans_Blix", 1), name="Hans Blix", consent_basis="test")
    )
    blix = made.get_json()["person"]["id"]

    def search(n):
        body = client.post("/api/search", **upload(photo("Hans_Blix", n))).get_json()
        return body, body["faces"][0]["candidates"][0]

    first, hit = search(7)
    before = hit["score"]
    assert hit["person_id"] == blix and hit["exemplar_score"] is None
    vote = {"search_id": first["search_id"], "face": 0, "person_id": blix, "vote": "up"}
    assert client.post("/api/search/feedback", json=vote).status_code == 201
    listed = client.get(f"/api/persons/{blix}/exemplars").get_json()["exemplars"]
    assert len(listed) == 1 and listed[0]["centroid_score"] == pytest.approx(before, abs=1e-5)
    # the same look again is now found by the confirmed face, far above before
    _, again = search(7)
    assert again["exemplar_score"] == pytest.approx(1.0, abs=1e-5) and again["score"] > before
    # another photo: the person's score is the better of its faces and confirmations
    _, other = search(8)
    assert other["score"] == pytest.approx(max(other["exemplar_score"], other["score"]))
    # enrolment matches against the learned centroid (faces + the confirmed face)
    lib = app.extensions["likeness.library"]
    learned = lib.templates.centroid(blix, lib.store.centroid(blix), 1)
    assert not np.allclose(learned, lib.store.centroid(blix))
    # undo 1: the vote changed to down
    assert client.post("/api/search/feedback", json={**vote, "vote": "down"}).status_code == 200
    assert client.get(f"/api/persons/{blix}/exemplars").get_json()["exemplars"] == []
    _, back = search(7)
    assert back["score"] == pytest.approx(before, abs=1e-5) and back["exemplar_score"] is None
    # undo 2: removed by hand
    client.post("/api/search/feedback", json=vote)
    exemplar = client.get(f"/api/persons/{blix}/exemplars").get_json()["exemplars"][0]["id"]
    removed = client.delete(f"/api/persons/{blix}/exemplars/{exemplar}")
    assert removed.status_code == 200 and removed.get_json()["exemplars"] == []
    missing = client.delete(f"/api/persons/{blix}/exemplars/{exemplar}")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "EXEMPLAR_NOT_FOUND"
    huge = client.delete(f"/api/persons/{blix}/exemplars/9223372036854775808")
    assert huge.status_code == 404
    assert client.get("/api/persons/999/exemplars").status_code == 404
    # undo 3: erasing the person takes every confirmation along
    third, _ = search(9)
    client.post("/api/search/feedback", json={**vote, "search_id": third["search_id"]})
    assert _exemplars(app) == 1
    assert client.delete(f"/api/persons/{blix}").status_code == 200
    assert _exemplars(app) == 0


def test_learning_can_be_switched_off(make_settings, engine, photo):
    from likeness.api import create_app

    app = create_app(make_settings(template_learning=False), engine=engine)
    client = app.test_client()
    made = client.post(
        "/api/persons", **upload(photo("Jiang_Zemin", 1), name="Jiang", consent_basis="test")
    )
    pid = made.get_json()["person"]["id"]
    found = client.post("/api/search", **upload(photo("Jiang_Zemin", 2))).get_json()
    vote = {"search_id": found["search_id"], "face": 0, "person_id": pid, "vote": "up"}
    assert client.post("/api/search/feedback", json=vote).status_code == 201
    assert _exemplars(app) == 0


def test_a_thumbs_up_never_teaches_that_a_stranger_is_someone(app, client, photo):
    made = client.post(
        "/api/persons", **upload(photo("Hans_Blix", 1), name="Hans Blix", consent_basis="test")
    )
    blix = made.get_json()["person"]["id"]
    found = client.post("/api/search", **upload(photo("Jiang_Zemin", 1))).get_json()
    shown = found["faces"][0]["candidates"][0]
    assert shown["person_id"] == blix and not shown["is_match"]
    vote = {"search_id": found["search_id"], "face": 0, "person_id": blix, "vote": "up"}
    answer = client.post("/api/search/feedback", json=vote)
    assert answer.status_code == 201 and answer.get_json()["exemplar_id"] is None  # kept as a vote
    assert _exemplars(app) == 0
    again = client.post("/api/search", **upload(photo("Jiang_Zemin", 2))).get_json()
    assert not again["faces"][0]["candidates"][0]["is_match"]
    # nor by a stranger who resembles them above the 1:1 threshold but is no match
    made = client.post(
        "/api/persons",
        **upload(photo("Vojislav_Kostunica", 1), name="Kostunica", consent_basis="test"),
    )
    kostunica = made.get_json()["person"]["id"]
    found = client.post("/api/search", **upload(photo("Ari_Fleischer", 4))).get_json()
    shown = next(c for c in found["faces"][0]["candidates"] if c["person_id"] == kostunica)
    assert 0.28 <= shown["score"] < found["faces"][0]["threshold"]  # a 1:1 match, not 1:N
    vote = {"search_id": found["search_id"], "face": 0, "person_id": kostunica, "vote": "up"}
    assert client.post("/api/search/feedback", json=vote).get_json()["exemplar_id"] is None
    assert _exemplars(app) == 0


def test_a_person_found_only_by_a_confirmed_face_joins_the_results(app, client, photo, monkeypatch):
    made = client.post(
        "/api/persons", **upload(photo("Hans_Blix", 1), name="Hans Blix", consent_basis="test")
    )
    blix = made.get_json()["person"]["id"]
    first = client.post("/api/search", **upload(photo("Hans_Blix", 7))).get_json()
    vote = {"search_id": first["search_id"], "face": 0, "person_id": blix, "vote": "up"}
    learned = client.post("/api/search/feedback", json=vote).get_json()
    assert learned["exemplar_id"] is not None
    created_by = app.extensions["likeness.library"].templates.list(blix)
    assert len(created_by) == 1
    # the person's own photos no longer rank (a big gallery): the confirmed face finds them
    gallery = app.extensions["likeness.library"].gallery
    monkeypatch.setattr(gallery, "search", lambda *args, **kwargs: [])
    again = client.post("/api/search", **upload(photo("Hans_Blix", 7))).get_json()
    hit = again["faces"][0]["candidates"][0]
    assert hit["person_id"] == blix and hit["exemplar_score"] == pytest.approx(1.0, abs=1e-5)
    assert hit["name"] == "Hans Blix" and hit["face_id"] is not None


def test_the_search_cache_follows_merges_that_keep_the_sum_of_persons(db_url):
    from likeness.clustering.store import ClusterStore

    db = Database(db_url)
    with db.session() as session:
        rows = [GalleryPerson(name=f"P{i}", origin="auto") for i in range(9)]
        session.add_all(rows)
        session.flush()
        ids = [r.id for r in rows]
    a, b, c, d = ids[0], ids[2], ids[6], ids[4]  # a -> b is +2, c -> d is -2
    templates = Templates(db)
    eye = np.eye(8, dtype=np.float32)
    templates.confirm(a, _vote(db, a, 1), eye[0])
    templates.confirm(c, _vote(db, c, 2), eye[1])
    assert sorted(templates._matrix()[1].tolist()) == sorted([a, c])  # cached now
    clusters = ClusterStore(db)
    clusters.merge(b, a)
    clusters.merge(d, c)
    assert sorted(templates._matrix()[1].tolist()) == sorted([b, d])
    db.dispose()
