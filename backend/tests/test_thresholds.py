"""Threshold sets per model version (issue 14): what is in force and why, the
history, restoring, the override, and adoption by a running service (several
Gunicorn workers) without a restart."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from test_access import BOOTSTRAP, bearer, guarded  # noqa: F401 (a fixture)

from support import GunicornServer, lfw_path


def _book(db_url, make_settings, version="v1", refresh=0.0, **overrides):
    from likeness.learning import ThresholdBook
    from likeness.storage import Database

    settings = make_settings(**overrides)
    return ThresholdBook(Database(db_url), settings, "buffalo_s", version, refresh)


def test_defaults_then_stored_sets_then_the_override(db_url, make_settings):
    from likeness.errors import ThresholdSetNotFoundError, ValidationError
    from likeness.learning import KEEP

    book = _book(db_url, make_settings)
    assert book.in_force("verify").origin == "default"
    assert book.verify() == pytest.approx(0.28) and book.search() == pytest.approx(0.36)
    first = book.adopt(0.25, 0.4, source={"verify": {"target_fmr": 1e-3}}, note="calibrated")
    assert (book.verify(), book.search()) == (0.25, 0.4)
    assert book.in_force("search").as_dict() == {
        "value": 0.4,
        "origin": "database",
        "set_id": first.id,
    }
    second = book.adopt(verify=0.3)  # search kept as it was
    assert (second.verify, second.search) == (0.3, 0.4)
    third = book.adopt(search=None)  # back to the settings' default
    assert book.search() == pytest.approx(0.36) and book.in_force("search").origin == "default"
    assert book.verify() == 0.3
    restored = book.restore(first.id, created_by="test")
    assert restored.restored_from == first.id and (book.verify(), book.search()) == (0.25, 0.4)
    history = book.history()
    assert [s.id for s in history] == [restored.id, third.id, second.id, first.id]
    assert (
        history[-1].source == {"verify": {"target_fmr": 1e-3}} and history[-1].note == "calibrated"
    )
    # bad values are refused, nothing stored
    for bad in (1.0, -1.0, float("nan"), "0.3", True):
        with pytest.raises(ValidationError):
            book.adopt(verify=bad)
    with pytest.raises(ValidationError, match="Give a verify or search"):
        book.adopt(KEEP, KEEP)
    assert len(book.history()) == 4
    # another model version has its own sets, and cannot restore these
    other = _book(db_url, make_settings, version="v2")
    assert other.in_force("verify").origin == "default" and other.history() == []
    with pytest.raises(ThresholdSetNotFoundError):
        other.restore(first.id)
    # an explicitly set threshold overrides whatever is stored
    pinned = _book(db_url, make_settings, match_threshold=0.5, search_threshold=0.6)
    assert pinned.in_force("verify").as_dict() == {
        "value": 0.5,
        "origin": "override",
        "set_id": None,
    }
    assert pinned.search() == 0.6


def test_each_process_rereads_the_newest_set_after_its_refresh_interval(
    db_url, make_settings, monkeypatch
):
    import likeness.learning.thresholds as module

    now = [1000.0]  # a clock the test moves (a slow machine cannot make it flaky)
    monkeypatch.setattr(module, "clock", lambda: now[0])
    writer = _book(db_url, make_settings)
    reader = _book(db_url, make_settings, refresh=5.0)  # another worker
    assert reader.verify() == pytest.approx(0.28)
    writer.adopt(verify=0.33)
    now[0] += 4.9
    assert reader.verify() == pytest.approx(0.28)  # cached, for at most the interval
    now[0] += 0.2
    assert reader.verify() == pytest.approx(0.33)


def test_writers_racing_on_different_thresholds_lose_neither(db_url, make_settings):
    first, second = _book(db_url, make_settings), _book(db_url, make_settings)

    def run(book, kind, base):
        for i in range(25):
            book.adopt(**{kind: round(base + i / 1000, 4)})

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [pool.submit(run, first, "verify", 0.3), pool.submit(run, second, "search", 0.4)]
        for job in done:
            job.result()
    latest = _book(db_url, make_settings).latest()
    assert (latest.verify, latest.search) == (0.324, 0.424)  # the last of each writer
    history = first.history(limit=100)
    assert len(history) == 50 and len({s.id for s in history}) == 50


def _photo(lfw, name, number):
    return (io.BytesIO(lfw(name, number).read_bytes()), f"{name}.jpg")


def test_the_api_adopts_and_restores_and_verify_uses_the_set_in_force(client, lfw):
    shown = client.get("/api/thresholds").get_json()
    assert shown["verify"]["origin"] == "default" and shown["history"] == []
    assert len(shown["model_version"]) == 64

    def verify():
        body = client.post(
            "/api/verify",
            data={
                "image1": _photo(lfw, "Abel_Pacheco", 1),
                "image2": _photo(lfw, "Abel_Pacheco", 4),
            },
        ).get_json()
        return body["threshold"], body["is_match"], body["similarity"]

    threshold, matched, similarity = verify()
    assert threshold == pytest.approx(0.28) and matched
    # a threshold above this pair's similarity turns the same answer into "no match"
    above = round(min(0.99, similarity + 0.01), 4)
    adopted = client.post("/api/thresholds", json={"verify": above, "note": "stricter"})
    assert adopted.status_code == 200, adopted.get_json()
    body = adopted.get_json()
    assert body["verify"] == {"value": above, "origin": "database", "set_id": body["set"]["id"]}
    assert body["history"][0]["created_by"].startswith("open:")
    assert verify()[:2] == (above, False)
    assert client.get("/api/models").get_json()["threshold"] == above
    back = client.post("/api/thresholds", json={"verify": None}).get_json()
    assert back["verify"]["origin"] == "default" and verify()[:2] == (pytest.approx(0.28), True)
    restored = client.post(f"/api/thresholds/{body['set']['id']}/restore").get_json()
    assert restored["set"]["restored_from"] == body["set"]["id"] and verify()[0] == above
    assert [s["id"] for s in restored["history"]] == [3, 2, 1]
    # bad input: one clear 4xx each, nothing stored
    for bad, code in (
        ({"verify": 1.5}, "VALIDATION_ERROR"),
        ({"verify": "high"}, "VALIDATION_ERROR"),
        ({"note": "x" * 501, "verify": 0.3}, "VALIDATION_ERROR"),
        ({}, "VALIDATION_ERROR"),
        ({"verify": 0.3, "colour": "red"}, "VALIDATION_ERROR"),
    ):
        response = client.post("/api/thresholds", json=bad)
        assert response.status_code == 400, (bad, response.get_json())
        assert response.get_json()["error"]["code"] == code
    not_json = client.post("/api/thresholds", data="verify=0.3")
    assert not_json.status_code == 400 and not_json.get_json()["error"]["code"] == "INVALID_JSON"
    missing = client.post("/api/thresholds/999/restore")
    assert missing.status_code == 404
    huge = client.post("/api/thresholds/99999999999999999999/restore")  # beyond any id
    assert huge.status_code == 404
    assert missing.get_json()["error"]["code"] == "THRESHOLD_SET_NOT_FOUND"
    assert len(client.get("/api/thresholds").get_json()["history"]) == 3


def test_thresholds_need_an_admin_key_beyond_loopback(guarded):  # noqa: F811
    app, tokens = guarded
    client = app.test_client()
    assert client.get("/api/thresholds").status_code == 401
    for scope in ("verify", "write"):
        refused = client.post(
            "/api/thresholds", json={"verify": 0.3}, headers=bearer(tokens[scope])
        )
        assert refused.status_code == 403
    done = client.post("/api/thresholds", json={"verify": 0.3}, headers=bearer(BOOTSTRAP))
    assert done.status_code == 200
    assert done.get_json()["history"][0]["created_by"].startswith("key:")


@pytest.mark.slow
def test_a_running_service_adopts_new_thresholds_on_every_worker(model_root, lfw_dir, tmp_path):
    server = GunicornServer(
        model_root, tmp_path / "served", workers=2, LIKENESS_THRESHOLD_REFRESH_SECONDS="1"
    ).start()
    try:
        a = lfw_path(lfw_dir, "Abel_Pacheco", 1).read_bytes()
        b = lfw_path(lfw_dir, "Abel_Pacheco", 4).read_bytes()

        def verify(_=None):
            files = {"image1": ("a.jpg", a, "image/jpeg"), "image2": ("b.jpg", b, "image/jpeg")}
            response = requests.post(f"{server.url}/api/verify", files=files, timeout=120)
            assert response.status_code == 200, response.text
            return response.json()

        assert verify()["is_match"]
        adopted = requests.post(f"{server.url}/api/thresholds", json={"verify": 0.95}, timeout=30)
        assert adopted.status_code == 200, adopted.text
        time.sleep(1.5)  # each worker re-reads within its refresh interval
        since = len(server.log())
        for _ in range(10):  # until both workers have answered (the kernel picks one)
            with ThreadPoolExecutor(max_workers=4) as pool:
                answers = list(pool.map(verify, range(8)))
            assert {(r["threshold"], r["is_match"]) for r in answers} == {(0.95, False)}
            if len(server.pids_that_answered("/api/verify", since)) == 2:
                break
        assert server.pids_that_answered("/api/verify", since) == server.worker_pids()
    finally:
        server.stop()
