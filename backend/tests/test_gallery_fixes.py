"""Issue 13's gallery fixes, each seen by a new user, each with its regression test
(real buffalo_s, LFW photos, the Flask test client and the real CLI)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from forms import upload

from likeness.cli import main as cli_main
from likeness.errors import PersonExistsError
from likeness.library import FaceRecognitionLibrary

from paths import TEST_PACK

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def photo(lfw_photo):
    return lfw_photo


def test_creating_a_person_with_photos_enrols_them_in_one_go(client, photo):
    response = client.post(
        "/api/persons",
        **upload(
            photo("Hans_Blix", 1),
            photo("Hans_Blix", 2),
            name="Hans Blix",
            consent_basis="test",
            metadata='{"team": "UN"}',
        ),
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["person"]["face_count"] == 2 and len(body["accepted"]) == 2
    assert body["person"]["metadata"] == {"team": "UN"}
    assert [a["source"] for a in body["accepted"]] == [photo("Hans_Blix", i).name for i in (1, 2)]
    listed = client.get("/api/persons").get_json()["persons"]
    assert len(listed[0]["image_ids"]) == 2  # image ids are listed (fix 1)

    # every photo refused: 422 with the reasons, and no person is left behind
    refused = client.post("/api/persons", **upload(io_png(), name="Nobody", consent_basis="test"))
    assert refused.status_code == 422
    assert refused.get_json()["person"] is None and refused.get_json()["rejected"]
    assert client.get("/api/persons").get_json()["total"] == 1
    bad = client.post(
        "/api/persons",
        **upload(photo("Hans_Blix", 3), name="X", consent_basis="t", metadata="[1]"),
    )
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "metadata"
    deep = '{"a":' + "[" * 5000 + "]" * 5000 + "}"
    nested = client.post(
        "/api/persons",
        **upload(photo("Hans_Blix", 3), name="X", consent_basis="t", metadata=deep),
    )
    assert nested.status_code == 400 and nested.get_json()["error"]["code"] == "INVALID_JSON"


class io_png:  # noqa: N801  (a stand-in path: a PNG without a face)
    name = "blank.png"

    def read_bytes(self) -> bytes:
        import cv2
        import numpy as np

        return cv2.imencode(".png", np.full((64, 64, 3), 200, np.uint8))[1].tobytes()


def test_one_name_one_person_everywhere(client, make_settings, engine, photo):
    first = client.post("/api/persons", json={"name": "Z", "consent_basis": "t"})
    assert first.status_code == 201
    again = client.post("/api/persons", json={"name": "Z", "consent_basis": "t"})
    assert again.status_code == 409
    error = again.get_json()["error"]
    assert error["code"] == "PERSON_EXISTS" and error["person_id"] == first.get_json()["id"]
    form = upload(photo("Hans_Blix", 1), name="Z", consent_basis="t")
    assert client.post("/api/persons", **form).status_code == 409
    for alike in ("z", " Z ", "Z\u200b"):  # case, spaces and invisible characters aside
        same = client.post("/api/persons", json={"name": alike, "consent_basis": "t"})
        assert same.status_code == 409, alike

    with FaceRecognitionLibrary(settings=make_settings(), engine=engine) as lib:
        a = lib.enroll("Blix", [photo("Hans_Blix", 1)]).person.id
        b = lib.enroll("Blix", [photo("Hans_Blix", 2)]).person.id
        assert a == b and lib.get_person(a).face_count == 2  # the same person, as the CLI
        lib.index_batch([photo("Wen_Jiabao", 1), photo("Wen_Jiabao", 2)])
        assert lib.cluster().state == "succeeded"
        (cluster,) = [c for c in lib.clusters()[0] if c["name"] is None]
        with pytest.raises(PersonExistsError):  # a cluster takes no taken name: merge it
            lib.name_cluster(cluster["id"], "Blix")
        assert lib.name_cluster(cluster["id"], "Wen Jiabao")["name"] == "Wen Jiabao"


def test_names_are_one_key_in_the_database(make_settings, engine, db_url):
    """Case, width and invisible characters aside, also beyond ASCII and on both
    databases; the unique index refuses a name another writer gave meanwhile."""
    from likeness.gallery.store import flush_name
    from likeness.storage import Database
    from likeness.storage.models import GalleryPerson

    with FaceRecognitionLibrary(settings=make_settings(database_url=db_url), engine=engine) as lib:
        elodie = lib.create_person("Élodie", consent_basis="t").id
        for alike in ("Élodie", "ÉLODIE", "e\u0301lodie", "Élodie\u200b", " élodie "):
            with pytest.raises(PersonExistsError):
                lib.create_person(alike, consent_basis="t")
        assert [p.id for p in lib.store.find_persons("élodie")] == [elodie]
        lib.create_person("مهدی\u200cزاده", consent_basis="t")  # ZWNJ is part of the name
        assert lib.get_person(lib.store.find_persons("مهدی\u200cزاده")[0].id).name.count("\u200c")
        db = Database(db_url)
        with pytest.raises(PersonExistsError), db.session() as session:  # the race
            session.add(GalleryPerson(name="ÉLODIE", name_key="élodie", face_count=0))
            flush_name(session, "ÉLODIE")
        db.dispose()


def test_merging_keeps_enrolled_people_and_votes(client, photo):
    ada = client.post(
        "/api/persons", **upload(photo("Hans_Blix", 1), name="Ada", consent_basis="t")
    ).get_json()["person"]
    bob = client.post(
        "/api/persons", **upload(photo("Wen_Jiabao", 1), name="Bob", consent_basis="t")
    ).get_json()["person"]
    refused = client.post(f"/api/clusters/{bob['id']}/merge", json={"other": ada["id"]})
    assert refused.status_code == 400 and "enrolled" in refused.get_json()["error"]["message"]
    assert client.get(f"/api/persons/{ada['id']}").get_json()["face_count"] == 1


def test_enrolment_may_use_the_largest_face(client, group_photo):
    person = client.post("/api/persons", json={"name": "G", "consent_basis": "t"}).get_json()
    url = f"/api/persons/{person['id']}/faces"
    strict = client.post(url, **upload(group_photo))
    assert strict.status_code == 422
    assert "face_policy=largest" in strict.get_json()["rejected"][0]["message"]
    largest = client.post(url, **upload(group_photo, face_policy="largest"))
    assert largest.status_code == 201, largest.get_json()
    assert len(largest.get_json()["accepted"]) == 1 and largest.get_json()["rejected"] == []
    wrong = client.post(url, **upload(group_photo, face_policy="central"))
    assert wrong.status_code == 400 and wrong.get_json()["error"]["field"] == "face_policy"


def test_verify_reports_both_bad_images(client):
    response = client.post(
        "/api/verify",
        data={
            "image1": (io.BytesIO(b"not an image"), "a.jpg"),
            "image2": (io.BytesIO(b"nor this"), "b.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == "image1" and [a["field"] for a in error["also"]] == ["image2"]
    missing = client.post("/api/verify", data={}, content_type="multipart/form-data")
    body = missing.get_json()["error"]
    assert body["field"] == "image1" and body["also"][0]["field"] == "image2"


def test_a_chosen_face_of_a_group_photo_is_compared(client, group_photo):
    def verify(**fields):
        data = {
            "image1": (io.BytesIO(group_photo.read_bytes()), "a.jpg"),
            "image2": (io.BytesIO(group_photo.read_bytes()), "b.jpg"),
            **fields,
        }
        return client.post("/api/verify", data=data, content_type="multipart/form-data")

    same = verify(face1="2", face2="2").get_json()
    assert [image["face_index"] for image in same["images"]] == [2, 2]
    assert same["similarity"] > 0.99 and same["is_match"] is True
    other = verify(face1="2", face2="4").get_json()
    assert other["similarity"] < same["similarity"] and other["images"][1]["face_index"] == 4
    missing = verify(face1="17")
    assert missing.status_code == 400 and missing.get_json()["error"]["field"] == "image1"


def test_compare_answers_plainly(make_settings, engine, photo):
    with FaceRecognitionLibrary(settings=make_settings(), engine=engine) as lib:
        result = lib.compare(photo("Hans_Blix", 1), photo("Hans_Blix", 2))
    assert result.is_match is True
    assert result.similarity == result.comparison.similarity and result.similarity > 0.4
    assert result.threshold == result.comparison.threshold


def _cli(tmp_path, model_root, *args, cwd=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")}
    env.update(
        LIKENESS_MODEL_ROOT=str(model_root),
        LIKENESS_MODEL_PACK=TEST_PACK,
        LIKENESS_DATA_DIR=str(tmp_path / "data"),
    )
    return subprocess.run(
        [sys.executable, "-m", "likeness.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd or tmp_path,
    )


def test_cli_persons_search_and_export(tmp_path, photo, model_root):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    export = subprocess.run(
        [sys.executable, "-m", "likeness.cli", "feedback", "export"],
        capture_output=True,
        text=True,
        cwd=outside,
        env={k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")},
        timeout=60,
    )
    assert export.returncode == 2 and list(outside.iterdir()) == []  # no stray data/
    assert "no database at" in export.stderr and len(export.stderr.splitlines()) == 1

    enrolled = _cli(
        tmp_path,
        model_root,
        "enroll",
        "Hans Blix",
        str(photo("Hans_Blix", 1)),
        "--consent-basis",
        "signed form",
        "--json",
    )
    assert enrolled.returncode == 0, enrolled.stderr
    assert json.loads(enrolled.stdout)["person"]["consent"]["basis"] == "signed form"
    index_dir = tmp_path / "photos"
    index_dir.mkdir()
    (index_dir / "someone.jpg").write_bytes(photo("Wen_Jiabao", 1).read_bytes())
    assert _cli(tmp_path, model_root, "index", str(index_dir)).returncode == 0
    found = _cli(tmp_path, model_root, "search", str(photo("Wen_Jiabao", 2)))
    assert found.returncode == 0, found.stderr
    assert "someone.jpg" in found.stdout.splitlines()[0]  # the file, not a hash
    listed = _cli(tmp_path, model_root, "persons", "list")
    assert "'Hans Blix'" in listed.stdout and "1 of 1 persons" in listed.stdout
    assert " 1 face " in listed.stdout
    person_id = listed.stdout.split()[0]
    removed = _cli(tmp_path, model_root, "persons", "remove", person_id)
    assert removed.returncode == 0 and "erased person" in removed.stdout
    assert "0 of 0 persons" in _cli(tmp_path, model_root, "persons", "list").stdout
    assert _cli(tmp_path, model_root, "persons", "remove", person_id).returncode == 2


def test_models_fetch_without_internet_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    import insightface.utils.storage as storage

    def offline(*args, **kwargs):
        raise ConnectionError("Max retries exceeded with url: ... (Caused by ProxyError)")

    monkeypatch.setattr(storage, "download", offline)
    code = cli_main(["models", "fetch", "--pack", "buffalo_s", "--root", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "could not download buffalo_s" in err[0] and "no internet" in err[0]


def test_make_takes_the_model_from_the_settings_environment():
    env = {**os.environ, "LIKENESS_MODEL_PACK": "buffalo_s", "LIKENESS_MODEL_ROOT": "/models"}
    dry = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert "--pack buffalo_s --root /models" in dry.stdout
    explicit = subprocess.run(
        ["make", "-n", "run", "MODEL=buffalo_l"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "--pack buffalo_l --root /models" in explicit.stdout
