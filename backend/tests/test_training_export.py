"""Training data from the votes (issue 14): `likeness feedback export --format
pairs|triplets`. Real votes through the API (buffalo_s, LFW): labels, the data
checks (refused faces, conflicts, duplicates), identity-disjoint splits, hard
negatives, and a folder that appears only when complete."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from forms import upload

from likeness.errors import ConflictError
from likeness.learning.export import export_training


@pytest.fixture(scope="module")
def photo(lfw_photo):
    return lfw_photo


def _file(data: bytes, name: str):
    return (io.BytesIO(data), name)


def _verify_and_vote(client, a: bytes, b: bytes, vote: str) -> dict:
    answer = client.post(
        "/api/verify", data={"image1": _file(a, "a.jpg"), "image2": _file(b, "b.jpg")}
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    voted = client.post(
        "/api/feedback", json={"verification_id": body["verification_id"], "vote": vote}
    )
    assert voted.status_code == 201, voted.get_json()
    return body


def _search_and_vote(client, path, person_id: int, vote: str) -> dict:
    found = client.post("/api/search", **upload(path, top_k="5")).get_json()
    shown = {c["person_id"] for c in found["faces"][0]["candidates"]}
    assert person_id in shown, found
    body = {"search_id": found["search_id"], "face": 0, "person_id": person_id, "vote": vote}
    assert client.post("/api/search/feedback", json=body).status_code == 201
    return found


def _rows(folder, name):
    with (folder / name).open(newline="") as stream:
        return list(csv.DictReader(stream))


def test_votes_become_checked_identity_disjoint_pairs_and_triplets(app, client, photo, tmp_path):
    def enrol(name, *paths):
        made = client.post("/api/persons", **upload(*paths, name=name, consent_basis="test"))
        assert made.status_code == 201, made.get_json()
        return made.get_json()["person"]["id"]

    blix = enrol("Hans Blix", photo("Hans_Blix", 1), photo("Hans_Blix", 2))
    jiang = enrol("Jiang Zemin", photo("Jiang_Zemin", 1), photo("Jiang_Zemin", 2))
    # 1:N: Blix found and confirmed (Jiang shown below him: a near miss); Jiang's
    # photo voted "not Blix"
    _search_and_vote(client, photo("Hans_Blix", 3), blix, "up")
    _search_and_vote(client, photo("Jiang_Zemin", 3), blix, "down")
    # 1:1: a right match, a non-match called right, the same pair voted both ways
    # (a conflict), a pair voted twice alike (a duplicate), and a blurred face the
    # checks refuse
    abel1, abel4 = photo("Abel_Pacheco", 1).read_bytes(), photo("Abel_Pacheco", 2).read_bytes()
    akhmed = photo("Akhmed_Zakayev", 1).read_bytes()
    assert _verify_and_vote(client, abel1, abel4, "up")["is_match"]
    assert not _verify_and_vote(client, abel1, akhmed, "up")["is_match"]
    _verify_and_vote(client, abel4, akhmed, "up")
    _verify_and_vote(client, abel4, akhmed, "down")  # conflicts with the vote above
    _verify_and_vote(client, abel1, abel4, "up")  # the same pair again: a duplicate
    image = cv2.imread(str(photo("Abel_Pacheco", 2)))  # the face of abel4, blurred
    blurred = cv2.imencode(".jpg", cv2.GaussianBlur(image, (0, 0), 12))[1].tobytes()
    _verify_and_vote(client, blurred, abel1, "up")

    db = app.extensions["likeness.database"]
    report = export_training(db, tmp_path / "pairs", "pairs", val_share=0.5, seed=3)
    folder = tmp_path / "pairs"
    rows = _rows(folder, "pairs.csv")
    checks = report["checks"]
    assert checks["votes"] == 8
    assert checks["dropped_conflicting"] == 2 and checks["dropped_duplicate"] == 1
    assert checks["dropped_refused_face"] == 1
    labels = sorted((r["label"], r["source"].split(":")[0]) for r in rows)
    # abel1-abel4 genuine, abel1-akhmed impostor, Blix genuine, Jiang-Blix impostor
    # (minus any impostor pair whose two people fell on different sides)
    assert ("genuine", "verify") in labels and ("genuine", "search") in labels
    assert len(rows) + checks.get("dropped_across_split", 0) == 4
    for row in rows:  # the score is the cosine of the two stored embeddings
        assert -1 <= float(row["score"]) <= 1
    faces = np.load(folder / "faces.npz")
    split_of = dict(zip(faces["identity"].tolist(), faces["split"].tolist(), strict=True))
    assert len(split_of) == len(set(faces["identity"].tolist()))  # one side per identity
    by_key = dict(zip(faces["keys"].tolist(), faces["identity"].tolist(), strict=True))
    for row in rows:
        same = by_key[row["a"]] == by_key[row["b"]]
        assert same == (row["label"] == "genuine")
    # gallery faces bring their stored crops (which ones depends on the split: it
    # hashes embedding bytes, which differ in the last bits from CPU to CPU)
    gallery_faces = [k for k in by_key if k.startswith("g")]
    assert gallery_faces and report["faces_with_crops"] == len(gallery_faces)
    assert len(list((folder / "crops").glob("g*.jpg"))) == report["faces_with_crops"]
    assert set(json.loads((folder / "report.json").read_text())) >= {"checks", "splits"}

    # triplets: the confirmed Blix search gets the near miss (Jiang, shown below)
    report = export_training(db, tmp_path / "triplets", "triplets", val_share=0.0)
    triplets = _rows(tmp_path / "triplets", "triplets.csv")
    assert len(triplets) == 2  # one per genuine pair
    faces = np.load(tmp_path / "triplets" / "faces.npz")
    identity = dict(zip(faces["keys"].tolist(), faces["identity"].tolist(), strict=True))
    for row in triplets:
        assert identity[row["anchor"]] == identity[row["positive"]] != identity[row["negative"]]
        assert float(row["anchor_negative"]) < float(row["anchor_positive"])
    origins = {r["source"].split(":")[0]: r["negative_from"] for r in triplets}
    assert origins["search"] == "near_miss"
    assert origins["verify"] == "vote"  # Abel's pair: Akhmed was voted "different"
    assert report["splits"]["val"]["faces"] == 0

    # an existing folder is never overwritten, and nothing half-written is left
    with pytest.raises(ConflictError):
        export_training(db, tmp_path / "pairs", "pairs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "pairs", "triplets"]

    # the command line prints the balance report
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")}
    url = str(db.engine.url.render_as_string(hide_password=False))
    done = subprocess.run(
        [sys.executable, "-m", "likeness.cli", "feedback", "export", "--format", "pairs",
         "--out", str(tmp_path / "cli"), "--database-url", url],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "conflicting 2, duplicate 1, refused face 1" in done.stderr
    # impostor pairs whose people the split parts are dropped: how many depends on it
    assert "faces with crops" in done.stderr and "train: 2 genuine and" in done.stderr
    again = subprocess.run(
        [sys.executable, "-m", "likeness.cli", "feedback", "export", "--format", "triplets",
         "--database-url", url],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert again.returncode == 2 and "give --out DIR" in again.stderr

    # erasing a person takes its faces out of the training data too
    assert client.delete(f"/api/persons/{blix}").status_code in (200, 204)
    after = export_training(db, tmp_path / "after", "pairs", val_share=0.0)
    assert after["checks"]["votes"] == 6  # both search votes went with Blix's faces
    assert jiang


def test_faces_alike_stay_on_one_side_and_are_never_each_others_negative():
    from likeness.learning.export import Face, Vote, _Collector, build, triplets

    rng = np.random.default_rng(0)
    ann, bob, cat = (v / np.linalg.norm(v) for v in rng.normal(size=(3, 64)))

    def near(v, noise):
        w = v + rng.normal(size=64) * noise
        return (w / np.linalg.norm(w)).astype(np.float32)

    got = _Collector()
    # Ann voted twice in unconnected verifications (a1-a2 genuine, a3-b1 impostor),
    # Cat once (c1-c2 genuine): no vote says a3 is Ann
    people = {"a1": ann, "a2": ann, "a3": ann, "b1": bob, "c1": cat, "c2": cat}
    for key, centre in people.items():
        got.faces[key] = Face(key, near(centre, 0.05), refused=False)
    got.votes = [Vote("a1", "a2", True, "verify:1"), Vote("a3", "b1", False, "verify:2"),
                 Vote("c1", "c2", True, "verify:3")]  # fmt: skip
    for seed in range(20):  # whatever the split, a3 goes where Ann goes
        data = build(got, val_share=0.5, seed=seed, same_person=0.3, same_side=0.5)
        assert data.split[data.identity["a3"]] == data.split[data.identity["a1"]]
        for row in triplets(data):  # a3 is Ann: never a negative for Ann's pair
            if row["anchor"] == "a1":
                assert row["negative"] != "a3"


def test_a_searched_face_the_checks_refuse_never_becomes_training_data(
    app, client, photo, tmp_path
):
    made = client.post(
        "/api/persons", **upload(photo("Hans_Blix", 1), name="Hans Blix", consent_basis="test")
    )
    blix = made.get_json()["person"]["id"]
    image = cv2.imread(str(photo("Hans_Blix", 2)))
    blurred = cv2.imencode(".jpg", cv2.GaussianBlur(image, (0, 0), 12))[1].tobytes()
    for data in (photo("Hans_Blix", 3).read_bytes(), blurred):
        found = client.post(
            "/api/search", data={"image": _file(data, "q.jpg")}, content_type="multipart/form-data"
        ).get_json()
        assert "checks" in found["timings_ms"]
        body = {"search_id": found["search_id"], "face": 0, "person_id": blix, "vote": "up"}
        assert client.post("/api/search/feedback", json=body).status_code == 201
    report = export_training(app.extensions["likeness.database"], tmp_path / "out", "pairs")
    assert report["checks"]["votes"] == 2
    assert report["checks"]["dropped_refused_face"] == 1  # the blurred one
    assert report["checks"]["faces_unchecked"] == 0  # searched faces are checked now
    assert report["rows"] == 1


def test_a_failed_export_leaves_nothing_behind(app, tmp_path, monkeypatch):
    import likeness.learning.export as export

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "_write", broken)
    out = tmp_path / "new" / "deeper" / "pairs"
    with pytest.raises(OSError):
        export_training(app.extensions["likeness.database"], out, "pairs")
    assert not (tmp_path / "new").exists()  # not the folder, nor the parents made for it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
