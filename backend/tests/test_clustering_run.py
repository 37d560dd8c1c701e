"""A full clustering run over a real gallery (LFW photos through the real engine):
clusters become auto persons, ids and names stay across runs, two faces of one
photo never share a cluster, enrolled persons keep their faces, and the run is a
job. On SQLite and PostgreSQL."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from likeness.clustering.store import ClusterStore
from likeness.errors import JobRunningError
from likeness.library import FaceRecognitionLibrary

PEOPLE = {"Jiang_Zemin": 4, "Hans_Blix": 4, "Vladimir_Putin": 4, "Abel_Pacheco": 3}


@pytest.fixture(scope="module")
def photo(lfw_dir):
    def nth(name: str, n: int):
        return sorted((lfw_dir / "lfw-deepfunneled" / name).glob("*.jpg"))[n - 1]

    return nth


@pytest.fixture
def lib(make_settings, engine, db_url):
    with FaceRecognitionLibrary(
        settings=make_settings(database_url=db_url), engine=engine
    ) as library:
        yield library


def main_face(lib, report_ids: dict, path) -> int:
    """The largest face of an indexed photo (LFW photos may hold background faces)."""
    info = lib.store.describe_faces(report_ids[str(path)])

    def area(face_id):
        x1, y1, x2, y2 = info[face_id].box
        return (x2 - x1) * (y2 - y1)

    return max(report_ids[str(path)], key=area)


def person_of(lib, report_ids: dict, path) -> int | None:
    return lib.cluster_of(main_face(lib, report_ids, path))


def test_clusters_are_persons_with_stable_ids_and_names(lib, photo, tmp_path):
    first = [photo(name, i) for name, count in PEOPLE.items() for i in range(1, count)]
    report = lib.index_batch(first)
    assert report.indexed == len(first) and not report.failed
    job = lib.cluster()
    assert job.state == "succeeded", job.error
    run = job.result
    assert run["faces"] == report.faces and run["new_clusters"] >= len(PEOPLE)
    ids = report.face_ids
    by_person = {
        name: {person_of(lib, ids, photo(name, i)) for i in range(1, count)}
        for name, count in PEOPLE.items()
    }
    assert all(len(found) == 1 for found in by_person.values()), by_person
    clusters, total = lib.clusters()
    assert total == run["new_clusters"] and all(c["origin"] == "auto" for c in clusters)
    assert len({next(iter(found)) for found in by_person.values()}) == len(PEOPLE)
    assert [c["size"] for c in clusters] == sorted((c["size"] for c in clusters), reverse=True)
    blix = next(iter(by_person["Hans_Blix"]))
    named = lib.name_cluster(blix, "Hans Blix")
    assert named["name"] == "Hans Blix" and named["representative_face_id"] is not None
    assert 0.3 < named["cohesion"] <= 1.0

    # new photos arrive; a second run keeps every id and the name
    more = [photo(name, count) for name, count in PEOPLE.items()]
    report2 = lib.index_batch(more)
    again = lib.cluster().result
    assert again["new_clusters"] == 0 and again["removed_clusters"] == 0
    assert again["changed_faces"] <= report2.faces  # only newcomers moved (in)
    for name, count in PEOPLE.items():
        assert person_of(lib, report2.face_ids, photo(name, count)) == next(iter(by_person[name]))
    assert lib.get_cluster(blix)["name"] == "Hans Blix"
    assert lib.cluster().result["changed_faces"] == 0  # nothing new: nothing moves


def test_two_faces_of_one_photo_never_share_a_cluster(lib, photo, tmp_path):
    a = cv2.imread(str(photo("Jiang_Zemin", 1)))
    b = cv2.imread(str(photo("Jiang_Zemin", 2)))
    both = tmp_path / "two_of_him.jpg"
    cv2.imwrite(str(both), np.hstack([a, b]))  # one photo, the same man twice
    singles = [photo("Jiang_Zemin", i) for i in (3, 4, 5)]
    report = lib.index_batch([both, *singles])
    assert lib.cluster().state == "succeeded"
    pair = [lib.cluster_of(f) for f in report.face_ids[str(both)]]
    assert len(pair) == 2
    assert pair[0] != pair[1] or pair[0] is None
    assert sum(p is not None for p in pair) >= 1  # one of them is with the others


def test_enrolled_persons_keep_their_faces_and_draw_their_likeness(lib, photo):
    enrolled = lib.enroll("Jiang", [photo("Jiang_Zemin", 1), photo("Jiang_Zemin", 2)])
    loose = lib.index_batch([photo("Jiang_Zemin", 3), photo("Hans_Blix", 1), photo("Hans_Blix", 2)])
    run = lib.cluster().result
    assert run["new_clusters"] >= 1  # Blix; Jiang's new photo joins the enrolled Jiang
    face = main_face(lib, loose.face_ids, photo("Jiang_Zemin", 3))
    assert lib.cluster_of(face) == enrolled.person.id
    assert lib.get_person(enrolled.person.id).face_count >= 3
    for accepted in enrolled.accepted:
        assert lib.cluster_of(accepted["face_id"]) == enrolled.person.id


def test_one_full_run_at_a_time(lib, photo):
    lib.index_batch([photo("Hans_Blix", 1)])
    first = lib.cluster(wait=False)
    try:
        second = lib.cluster(wait=False)
    except JobRunningError as caught:
        assert caught.job_id == first.id
    else:  # the first run was already over (a fast machine): the second may run
        assert lib.job(first.id).finished
        assert lib.runner.wait(second.id).state == "succeeded"
    assert lib.runner.wait(first.id).state == "succeeded"
    assert lib.cluster().state == "succeeded"


def test_clusters_over_http_and_the_cli(client, photo, model_root, tmp_path):
    import json
    import subprocess
    import sys
    import time

    from likeness.api.routes_gallery import LIBRARY

    from paths import TEST_PACK

    lib = client.application.extensions[LIBRARY]
    lib.index_batch([photo("Hans_Blix", i) for i in (1, 2, 3)])
    started = client.post("/api/clusters/run", json={})
    assert started.status_code == 202, started.json
    job_url = started.headers["Location"]
    for _ in range(200):
        job = client.get(job_url).json
        if job["state"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    assert job["state"] == "succeeded" and job["result"]["new_clusters"] >= 1
    listing = client.get("/api/clusters").json
    assert listing["total"] >= 1
    top = listing["clusters"][0]
    assert top["size"] >= 3 and top["name"] is None
    detail = client.get(f"/api/clusters/{top['id']}").json
    assert len(detail["face_ids"]) == top["size"]
    named = client.post(f"/api/clusters/{top['id']}/name", json={"name": "Hans Blix"})
    assert named.status_code == 200 and named.json["name"] == "Hans Blix"
    assert client.post(f"/api/clusters/{top['id']}/name", json={"name": ""}).status_code == 400
    assert client.get("/api/clusters/999999").status_code == 404
    assert client.post("/api/clusters/run", json={"threshold": 2}).status_code == 400

    data_dir = client.application.config["LIKENESS"].data_dir
    env = {
        "LIKENESS_MODEL_ROOT": str(model_root),
        "LIKENESS_MODEL_PACK": TEST_PACK,
        "LIKENESS_DATA_DIR": str(data_dir),
        "PATH": "",
        "HOME": str(tmp_path),
    }
    base = [sys.executable, "-m", "likeness.cli"]
    run = subprocess.run([*base, "cluster"], env=env, capture_output=True, text=True)
    assert run.returncode == 0 and "faces assigned or moved" in run.stdout, run.stderr
    listed = subprocess.run(
        [*base, "clusters", "list", "--json"], env=env, capture_output=True, text=True
    )
    clusters = json.loads(listed.stdout)["clusters"]
    assert any(c["name"] == "Hans Blix" and c["id"] == top["id"] for c in clusters)

    def cli(*words, **extra):
        done = subprocess.run([*base, *words], env={**env, **extra}, capture_output=True, text=True)
        return done.returncode, done.stdout, done.stderr

    # tidying from the CLI: show, split (never every face), name, merge back
    code, out, _ = cli("clusters", "show", str(top["id"]), "--json")
    faces = json.loads(out)["face_ids"]
    assert code == 0 and len(faces) == top["size"]
    code, _, err = cli("clusters", "split", str(top["id"]), *map(str, faces))
    assert code == 2 and "at least one face" in err and err.count("\n") == 1
    code, out, _ = cli("clusters", "split", str(top["id"]), str(faces[0]), "--json")
    split = json.loads(out)
    assert code == 0 and split["face_ids"] == [faces[0]]
    code, out, _ = cli("clusters", "name", str(split["id"]), "Blix too")
    assert code == 0 and "Blix too" in out
    code, out, _ = cli("clusters", "merge", str(top["id"]), str(split["id"]))
    assert code == 0 and f"{top['size']} faces" in out
    code, out, _ = cli("clusters", "not-this-person", str(faces[-1]))
    assert code == 0 and f"left person {top['id']}" in out
    code, _, err = cli("clusters", "show", "999999")
    assert code == 2 and err.startswith("likeness: PERSON_NOT_FOUND")
    # bad places and databases: one line, no traceback
    code, _, err = cli("clusters", "export", "--out", str(tmp_path / "no" / "x.csv"))
    assert code == 2 and err.startswith("likeness: IO_ERROR") and "Traceback" not in err
    code, _, err = cli("clusters", "list", LIKENESS_DATABASE_URL="garbage")
    assert code == 2 and err.startswith("likeness: DATABASE_ERROR") and "Traceback" not in err
    code, out, _ = cli("clusters", "export")
    assert code == 0 and ",true" in out and ",True" not in out


def test_what_users_decide_survives_the_next_run(lib, photo):
    names = {"Hans_Blix": 4, "Vladimir_Putin": 4}
    report = lib.index_batch([photo(n, i) for n, c in names.items() for i in range(1, c + 1)])
    lib.cluster()
    blix = person_of(lib, report.face_ids, photo("Hans_Blix", 1))
    putin = person_of(lib, report.face_ids, photo("Vladimir_Putin", 1))
    assert blix != putin and None not in (blix, putin)

    # "not this person": the face leaves and a run never puts it back
    wrong = main_face(lib, report.face_ids, photo("Hans_Blix", 4))
    assert lib.not_this_person(wrong) == blix
    assert lib.cluster_of(wrong) is None
    lib.cluster()
    assert lib.cluster_of(wrong) != blix

    # split two faces off, then a run keeps the split
    two = [main_face(lib, report.face_ids, photo("Hans_Blix", i)) for i in (2, 3)]
    split = lib.split_cluster(blix, two)
    assert sorted(split["face_ids"]) == sorted(two) and split["id"] not in (blix, putin)
    lib.cluster()
    assert {lib.cluster_of(f) for f in two} == {split["id"]}

    # merge it back: one id, the kept one's, and the name carried over
    lib.name_cluster(split["id"], "Hans Blix")
    merged = lib.merge_clusters(blix, split["id"])
    assert merged["id"] == blix and merged["name"] == "Hans Blix"
    assert lib.cluster().result["new_clusters"] == 0
    assert {lib.cluster_of(f) for f in two} == {blix}

    # move a face by hand; the run respects it
    lib.move_face(main_face(lib, report.face_ids, photo("Vladimir_Putin", 4)), blix)
    lib.cluster()
    assert person_of(lib, report.face_ids, photo("Vladimir_Putin", 4)) == blix
    with pytest.raises(Exception) as caught:
        lib.merge_clusters(blix, blix)
    assert getattr(caught.value, "code", "") == "VALIDATION_ERROR"


def test_tidying_clusters_over_http_and_the_export(client, photo, model_root, tmp_path):
    import csv
    import subprocess
    import sys

    from likeness.api.routes_gallery import LIBRARY

    from paths import TEST_PACK

    lib = client.application.extensions[LIBRARY]
    report = lib.index_batch([photo("Hans_Blix", i) for i in (1, 2, 3, 4)])
    assert lib.cluster().state == "succeeded"
    blix = person_of(lib, report.face_ids, photo("Hans_Blix", 1))
    faces = [main_face(lib, report.face_ids, photo("Hans_Blix", i)) for i in (1, 2, 3, 4)]
    split = client.post(f"/api/clusters/{blix}/split", json={"face_ids": faces[2:]})
    assert split.status_code == 201 and sorted(split.json["face_ids"]) == sorted(faces[2:])
    other = split.json["id"]
    bad = client.post(f"/api/clusters/{blix}/split", json={"face_ids": [faces[2]]})
    assert bad.status_code == 400  # not a face of that cluster any more
    merged = client.post(f"/api/clusters/{blix}/merge", json={"other": other})
    assert merged.status_code == 200 and sorted(merged.json["face_ids"]) == sorted(faces)
    assert client.get(f"/api/clusters/{other}").status_code == 404
    left = client.post(f"/api/faces/{faces[0]}/not-this-person")
    assert left.status_code == 200 and left.json == {
        "face_id": faces[0],
        "person_id": None,
        "left": blix,
    }
    moved = client.post(f"/api/faces/{faces[0]}/move", json={"person_id": blix})
    assert moved.status_code == 200 and lib.cluster_of(faces[0]) == blix
    assert client.post("/api/faces/99999999999/move", json={"person_id": blix}).status_code == 404
    assert client.post(f"/api/faces/{faces[0]}/move", json={}).status_code == 400

    data_dir = client.application.config["LIKENESS"].data_dir
    env = {
        "LIKENESS_MODEL_ROOT": str(model_root),
        "LIKENESS_MODEL_PACK": TEST_PACK,
        "LIKENESS_DATA_DIR": str(data_dir),
        "PATH": "",
        "HOME": str(tmp_path),
    }
    out = tmp_path / "clusters.csv"
    done = subprocess.run(
        [sys.executable, "-m", "likeness.cli", "clusters", "export", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == report.faces
    assert {r["cluster_id"] for r in rows if int(r["face_id"]) in faces} == {str(blix)}
    assert set(rows[0]) == {"face_id", "image_id", "source", "cluster_id", "cluster_name", "usable"}


def test_erasure_refreshes_clusters_and_naming_protects_faces(lib, photo):
    people = {"Hans_Blix": 4, "Vladimir_Putin": 4}
    report = lib.index_batch([photo(n, i) for n, c in people.items() for i in range(1, c + 1)])
    lib.cluster()
    blix = person_of(lib, report.face_ids, photo("Hans_Blix", 1))
    before = lib.get_cluster(blix)
    rep = before["representative_face_id"]
    image_id = lib.store.describe_faces([rep])[rep].image_id
    lib.remove(image_id=image_id)  # erase the photo of its representative face
    after = lib.get_cluster(blix)
    assert after["size"] < before["size"] and rep not in after["face_ids"]
    assert after["representative_face_id"] not in (None, rep)

    # named: its faces stay even through a run that would join everyone
    lib.name_cluster(blix, "Hans Blix")
    kept = set(lib.get_cluster(blix)["face_ids"])
    lib.cluster(threshold=-0.99)
    assert kept <= set(lib.get_cluster(blix)["face_ids"])


def test_faces_excluded_from_one_person_may_still_be_together(lib, photo):
    report = lib.index_batch([photo("Hans_Blix", i) for i in (1, 2, 3, 4)])
    enrolled = lib.enroll("Jiang", [photo("Jiang_Zemin", 1)])
    blix = [main_face(lib, report.face_ids, photo("Hans_Blix", i)) for i in (1, 2, 3, 4)]
    for face in blix[:2]:  # say, a careless user moved them, then took them out again
        lib.move_face(face, enrolled.person.id)
        lib.not_this_person(face)
    lib.cluster()
    together = {lib.cluster_of(face) for face in blix}
    assert len(together) == 1 and enrolled.person.id not in together, together


def test_retention_leaves_clusters_alone(lib, photo):
    from datetime import datetime, timedelta, timezone

    lib.index_batch([photo("Hans_Blix", i) for i in (1, 2, 3)])
    lib.cluster()
    future = datetime.now(timezone.utc) + timedelta(days=365)
    assert lib.store.unseen_since(future) == []  # auto persons are not enrolments


def test_new_faces_join_clusters_as_they_are_indexed(lib, photo):
    first = lib.index_batch([photo("Hans_Blix", i) for i in (1, 2, 3)])
    assert first.clustering is None  # nothing clustered yet: new faces just wait
    lib.cluster()
    blix = person_of(lib, first.face_ids, photo("Hans_Blix", 1))
    lib.name_cluster(blix, "Hans Blix")
    more = lib.index_batch(
        [
            photo("Hans_Blix", 4),
            photo("Vladimir_Putin", 1),
            photo("Vladimir_Putin", 2),
            photo("Jiang_Zemin", 1),
        ]
    )
    assert more.clustering["joined"] >= 1 and more.clustering["new_clusters"] >= 1
    assert person_of(lib, more.face_ids, photo("Hans_Blix", 4)) == blix
    # the joined person's statistics follow (extended from its running sum)
    joined = lib.get_cluster(blix)
    assert joined["size"] == len(lib.get_cluster(blix)["face_ids"]) == 4
    centre = lib.store.centroid(blix)
    _, _, _, vectors = ClusterStore(lib.database).members(blix)
    exact = vectors.mean(axis=0) / np.linalg.norm(vectors.mean(axis=0))
    assert float(centre @ exact) > 0.99999
    assert joined["cohesion"] == pytest.approx(float((vectors @ exact).mean()), abs=1e-4)
    putin = {person_of(lib, more.face_ids, photo("Vladimir_Putin", i)) for i in (1, 2)}
    assert len(putin) == 1 and None not in putin and blix not in putin
    assert person_of(lib, more.face_ids, photo("Jiang_Zemin", 1)) is None  # waits, alone
    # the next full run agrees: nothing assigned as it arrived has to move
    again = lib.cluster().result
    assert again["new_clusters"] == 0 and again["removed_clusters"] == 0
    assert lib.get_cluster(blix)["name"] == "Hans Blix"
    single = lib.index_image(photo("Hans_Blix", 5))
    assert lib.cluster_of(single[0]) == blix


def test_new_faces_follow_the_threshold_of_the_last_run(lib, photo):
    lib.index_batch([photo("Hans_Blix", i) for i in (1, 2, 3)])
    assert lib.cluster(threshold=0.99).result["new_clusters"] == 0  # all wait, alone
    more = lib.index_batch([photo("Hans_Blix", 4)])
    assert more.clustering["joined"] == more.clustering["new_clusters"] == 0  # 0.99, not 0.40
    assert more.clustering["waiting"] >= 1
    lib.cluster()  # at the default again: the Blix photos form a cluster
    last = lib.index_batch([photo("Hans_Blix", 5)])
    assert last.clustering["joined"] >= 1


def test_a_run_never_undoes_what_happened_while_it_ran(lib, photo):
    """The run read its faces, then a user moved a face and erased a person before
    the run wrote: the write skips the erased person and leaves the user's face."""
    from likeness.clustering.store import ClusterStore

    report = lib.index_batch(
        [photo(n, i) for n in ("Hans_Blix", "Vladimir_Putin") for i in (1, 2, 3)]
    )
    lib.cluster()
    blix = person_of(lib, report.face_ids, photo("Hans_Blix", 1))
    putin = person_of(lib, report.face_ids, photo("Vladimir_Putin", 1))
    store = ClusterStore(lib.database)
    table = store.faces()  # the run's snapshot
    face = main_face(lib, report.face_ids, photo("Hans_Blix", 2))
    putin_face = main_face(lib, report.face_ids, photo("Vladimir_Putin", 2))
    lib.move_face(face, putin)  # meanwhile, a user decides...
    lib.remove(person_id=blix)  # ...and erases a person
    moves = {face: blix, putin_face: blix}  # what the stale run would write
    store.write(moves, [], table)
    assert lib.cluster_of(face) == putin
    assert lib.cluster_of(putin_face) == putin
    assert lib.cluster().state == "succeeded"


def test_a_cluster_splits_by_reclustering_it_tighter(lib, photo):
    """Two people glued by a loose threshold come apart at a tighter one: the
    larger keeps the id, the other leaves as a new cluster, and a run keeps it so."""
    names = {"Hans_Blix": 4, "Vladimir_Putin": 3}
    lib.index_batch([photo(n, i) for n, c in names.items() for i in range(1, c + 1)])
    assert lib.cluster(threshold=-0.5).state == "succeeded"  # everyone in one
    (glued,), _ = lib.clusters()
    assert glued["size"] >= 7
    with pytest.raises(Exception) as caught:
        lib.recluster(glued["id"], 1.5)
    assert getattr(caught.value, "code", "") == "VALIDATION_ERROR"
    result = lib.recluster(glued["id"], 0.4)
    assert result["kept"]["id"] == glued["id"] and len(result["new_clusters"]) >= 1
    sizes = sorted([result["kept"]["size"], *(c["size"] for c in result["new_clusters"])])
    assert sizes[-1] >= 4 and sizes[-2] >= 3
    lib.cluster(threshold=-0.5)
    assert {c["id"] for c in lib.clusters()[0]} >= {glued["id"], result["new_clusters"][0]["id"]}
