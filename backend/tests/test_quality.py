"""Face checks (issue 11): signals, the combined quality score, cartoon rejection,
passive liveness, and the gate through the library, HTTP and the CLI, on real
models and real images (LFW, the shared cartoon-or-real set, the anti-spoofing
samples)."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from likeness.errors import ImageDecodeError, LivenessUnavailableError
from likeness.quality import FaceCheck, FaceGate
from likeness.quality.cartoon import MODELS_DIR, CartoonModel
from likeness.quality.filter import filter_array, filter_source
from likeness.quality.score import QualityModel
from likeness.quality.signals import crop_statistics, pose

from paths import SHARED, TEST_PACK

CARTOONS = SHARED / "datasets" / "cartoon-or-real" / "IIIT-CFW"
SPOOFS = SHARED / "datasets" / "antispoof-samples"


@pytest.fixture(scope="module")
def gate(engine):
    return FaceGate(engine)


@pytest.fixture(scope="module")
def photo(lfw_dir):
    def nth(name: str, n: int = 1):
        return sorted((lfw_dir / "lfw-deepfunneled" / name).glob("*.jpg"))[n - 1]

    return nth


@pytest.fixture(scope="module")
def cartoon():
    """A drawn face the detector finds (the set's first few, checked)."""
    path = CARTOONS / "AamirKhan_0001.png"
    assert path.is_file(), f"{path} missing (../shared/datasets/cartoon-or-real)"
    return path


# --- signals --------------------------------------------------------------------------
def test_pose_from_landmarks():
    frontal = np.array([[38, 52], [74, 52], [56, 72], [42, 92], [70, 92]], np.float32)
    yaw, pitch, roll = pose(frontal)
    assert abs(yaw) < 1e-6 and abs(roll) < 1e-6 and 0.4 < pitch < 0.6
    turned = frontal.copy()
    turned[2, 0] += 14  # the nose moves sideways: a turned head
    assert pose(turned)[0] > 0.3
    angle = np.radians(20)
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tilted = (frontal - 56) @ rotate.T + 56
    yaw, _, roll = pose(tilted)
    assert roll == pytest.approx(20, abs=0.01) and abs(yaw) < 1e-6  # roll is undone first


def test_blur_and_darkness_show_in_the_crop_statistics(engine, photo):
    image = cv2.imread(str(photo("Abel_Pacheco")))
    face = engine.detect(image)[0]
    crop = engine.align(image, face)
    sharp, bright, contrast = crop_statistics(crop)
    blurred = crop_statistics(cv2.GaussianBlur(crop, (0, 0), 3))
    dark = crop_statistics((crop * 0.2).astype(np.uint8))
    assert blurred[0] < sharp / 5
    assert dark[1] < bright / 3 and dark[2] < contrast / 3


def test_reasons_are_ordered_and_the_first_one_names_the_refusal():
    check = FaceCheck.from_reasons(["spoof", "low_quality", "cartoon"], {})
    assert check.reasons == ["cartoon", "low_quality", "spoof"]
    assert check.rejection_reason == "cartoon" and not check.is_valid
    assert FaceCheck.from_reasons([], {}).as_dict()["rejection_reason"] is None


# --- shipped models -------------------------------------------------------------------
def test_shipped_models_fit_the_recogniser_and_the_settings(engine):
    from likeness.settings import Settings

    recogniser = engine.files[1].sha256
    quality = QualityModel.for_recogniser(recogniser)
    assert not quality.generic  # buffalo_s has its own, with the embedding norm
    assert QualityModel.for_recogniser("0" * 64).generic  # any other: the generic one
    # the defaults are the ones the calibration chose (eval/likeness_eval/facechecks.py)
    assert Settings().min_quality == quality.spec["recommended_min_quality"]
    assert Settings().min_face_size == quality.spec["recommended_min_face_size"]
    cartoon = CartoonModel.for_recogniser(recogniser)
    assert cartoon is not None and cartoon.info["lfw"]["half_b_rate"] <= 0.005
    assert (
        cartoon.info["ours"]["held_out"]["accuracy"]
        >= cartoon.info["baseline"]["held_out"]["accuracy"]
    )
    assert CartoonModel.for_recogniser("0" * 64) is None  # no check rather than a wrong one
    npz = np.load(  # plain arrays: nothing is unpickled
        MODELS_DIR / f"{CartoonModel.file_stem(recogniser)}.npz", allow_pickle=False
    )
    assert set(npz.files) >= {"mean", "scale", "w0", "b0"}


# --- the gate on real images ----------------------------------------------------------
def test_a_good_photo_passes(gate, photo):
    result = filter_source(gate, photo("Abel_Pacheco"))
    assert result.is_valid, result.as_dict()
    scores = result.as_dict()["scores"]
    assert scores["quality"] >= 0.9 and scores["is_cartoon"] is False
    assert scores["is_live"] is None and scores["liveness_score"] is None  # not asked
    assert set(scores) >= {"det_score", "embedding_norm", "face_size", "face_area_ratio"}


def test_a_drawing_is_a_cartoon(gate, cartoon):
    result = filter_source(gate, cartoon).as_dict()
    assert result["rejection_reason"] == "cartoon", result
    assert result["scores"]["cartoon_prob"] > 0.5


def test_a_grey_photo_is_not_a_cartoon(gate, photo):
    for name in ("Abel_Pacheco", "Hans_Blix", "Jiang_Zemin"):
        image = cv2.imread(str(photo(name)))
        grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        result = filter_array(gate, grey).as_dict()
        assert result["scores"]["is_cartoon"] is False, (name, result["scores"])


def test_quality_falls_with_blur_and_heavy_blur_or_darkness_fail(gate, photo):
    image = cv2.imread(str(photo("Abel_Pacheco")))
    qualities = [
        filter_array(gate, cv2.GaussianBlur(image, (0, 0), sigma) if sigma else image).as_dict()[
            "scores"
        ]["quality"]
        for sigma in (0, 3, 5, 7, 9)
    ]
    assert qualities == sorted(qualities, reverse=True) and qualities[0] > 0.95, qualities
    blurred = filter_array(gate, cv2.GaussianBlur(image, (0, 0), 12)).as_dict()
    assert blurred["rejection_reason"] == "low_quality", blurred
    dark = np.clip(image * 0.04 + np.random.default_rng(0).normal(0, 2, image.shape), 0, 255)
    result = filter_array(gate, dark.astype(np.uint8)).as_dict()
    assert not result["is_valid"] and result["rejection_reason"] in ("low_quality", "no_face")


def test_a_tiny_face_is_too_small_never_an_error(gate, photo):
    image = cv2.imread(str(photo("Abel_Pacheco")))
    tiny = cv2.resize(image, (28, 28), interpolation=cv2.INTER_AREA)  # face about 10 px
    result = filter_array(gate, tiny).as_dict()
    assert not result["is_valid"]
    assert result["rejection_reason"] in ("too_small", "no_face"), result


def test_group_photos_keep_small_faces_in_bulk_only(engine, make_settings, group_photo):
    strict = FaceGate(engine, make_settings(min_face_area_ratio=0.05))
    image = cv2.imread(str(group_photo))
    faces = engine.detect(image)
    single = strict.check_faces(image, faces)
    bulk = strict.check_faces(image, faces, bulk=True)
    assert all("too_small" in c.reasons for c in single)
    assert not any("too_small" in c.reasons for c in bulk)


def test_every_check_can_be_switched_off(engine, make_settings, cartoon):
    off = FaceGate(
        engine,
        make_settings(check_cartoon=False, check_quality=False, check_face_size=False),
    )
    result = filter_source(off, cartoon).as_dict()
    assert result["is_valid"] and result["scores"]["is_cartoon"] is None


def test_no_face_is_a_verdict(gate):
    result = filter_array(gate, np.full((200, 200, 3), 128, np.uint8)).as_dict()
    assert result == {
        "is_valid": False,
        "rejection_reason": "no_face",
        "reasons": ["no_face"],
        "scores": {},
        "face": None,
        "faces_found": 0,
    }


def test_bad_input_is_refused_as_everywhere(gate):
    with pytest.raises(ImageDecodeError):
        filter_source(gate, b"\x89PNG\r\n\x1a\nnot really")


@pytest.mark.parametrize(("name", "live"), [("T1", True), ("F1", False), ("F2", False)])
def test_liveness_through_the_gate(gate, name, live):
    result = filter_source(gate, SPOOFS / f"image_{name}.jpg", liveness=True).as_dict()
    assert result["scores"]["is_live"] is live
    assert ("spoof" in result["reasons"]) is (not live)


def test_liveness_without_its_models_says_so(make_settings, tmp_path, model_root):
    from likeness.engine import FaceEngine

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / TEST_PACK).symlink_to(model_root / TEST_PACK)
    settings = make_settings(model_root=tmp_path / "models")
    gate = FaceGate(FaceEngine(settings))
    assert gate.info()["liveness"]["status"].startswith("unavailable")
    image = cv2.imread(str(SPOOFS / "image_T1.jpg"))
    assert filter_array(gate, image).is_valid  # the other checks still run
    with pytest.raises(LivenessUnavailableError) as caught:
        filter_array(gate, image, liveness=True)
    assert "antispoof" in caught.value.message
    assert str(tmp_path) not in caught.value.message  # no server paths in answers


# --- HTTP -----------------------------------------------------------------------------
def _post(client, url, data):
    return client.post(url, data=data, content_type="multipart/form-data")


def test_api_filter(client, photo, cartoon):
    good = _post(
        client, "/api/filter", {"image": (io.BytesIO(photo("Hans_Blix").read_bytes()), "a.jpg")}
    )
    assert good.status_code == 200 and good.json["is_valid"], good.json
    assert good.json["faces_found"] == 1 and good.json["face"]["box"]
    drawn = _post(client, "/api/filter", {"image": (io.BytesIO(cartoon.read_bytes()), "c.png")})
    assert drawn.status_code == 200 and drawn.json["rejection_reason"] == "cartoon"
    bad = _post(client, "/api/filter", {"image": (io.BytesIO(b"GIF89a broken"), "x.gif")})
    assert bad.status_code == 400 and bad.json["error"]["code"] in (
        "INVALID_IMAGE",
        "UNSUPPORTED_FORMAT",
    )
    wrong = _post(
        client, "/api/filter", {"image": (io.BytesIO(b"x"), "x.jpg"), "liveness": "maybe"}
    )
    assert wrong.status_code == 400
    spoof = _post(
        client,
        "/api/filter",
        {
            "image": (io.BytesIO((SPOOFS / "image_F2.jpg").read_bytes()), "f.jpg"),
            "liveness": "true",
        },
    )
    assert spoof.status_code == 200 and spoof.json["rejection_reason"] == "spoof"


def test_api_detect_reports_checks_per_face(client, group_photo):
    body = {"image": (io.BytesIO(group_photo.read_bytes()), "g.jpg")}
    answer = _post(client, "/api/detect", body).json
    assert len(answer["faces"]) == 6
    assert all(f["checks"]["scores"]["quality"] > 0 for f in answer["faces"])
    assert "checks" in answer["timings_ms"]
    plain = _post(
        client,
        "/api/detect",
        {"image": (io.BytesIO(group_photo.read_bytes()), "g.jpg"), "checks": "false"},
    ).json
    assert "checks" not in plain["faces"][0] and "checks" not in plain["timings_ms"]


def test_api_verify_with_liveness(client):
    live = (SPOOFS / "image_T1.jpg").read_bytes()
    spoof = (SPOOFS / "image_F2.jpg").read_bytes()
    same = _post(
        client,
        "/api/verify",
        {
            "image1": (io.BytesIO(live), "a.jpg"),
            "image2": (io.BytesIO(live), "b.jpg"),
            "liveness": "true",
        },
    ).json
    assert same["is_match"] and same["reason"] is None
    assert all(i["checks"]["scores"]["is_live"] for i in same["images"])
    faked = _post(
        client,
        "/api/verify",
        {
            "image1": (io.BytesIO(live), "a.jpg"),
            "image2": (io.BytesIO(spoof), "b.jpg"),
            "liveness": "true",
        },
    ).json
    assert faked["is_match"] is False and faked["reason"] == "spoof"
    assert {i["field"]: i["checks"]["scores"]["is_live"] for i in faked["images"]} == {
        "image1": True,
        "image2": False,
    }
    assert "similarity" in faked
    plain = _post(
        client,
        "/api/verify",
        {"image1": (io.BytesIO(live), "a.jpg"), "image2": (io.BytesIO(spoof), "b.jpg")},
    ).json
    assert plain["images"][1]["checks"]["scores"]["is_live"] is None  # not asked: not run
    # only the camera shot: the reference photo (here the spoof) is not judged
    shot_only = _post(
        client,
        "/api/verify",
        {
            "image1": (io.BytesIO(live), "a.jpg"),
            "image2": (io.BytesIO(spoof), "b.jpg"),
            "liveness": "image1",
        },
    ).json
    scores = [i["checks"]["scores"]["is_live"] for i in shot_only["images"]]
    assert scores == [True, None] and shot_only["reason"] is None
    bad = _post(
        client,
        "/api/verify",
        {
            "image1": (io.BytesIO(live), "a.jpg"),
            "image2": (io.BytesIO(live), "b.jpg"),
            "liveness": "image3",
        },
    )
    assert bad.status_code == 400 and bad.json["error"]["field"] == "liveness"


# --- enrolment and bulk indexing -----------------------------------------------------------
def test_enrolment_refuses_a_failed_face_unless_told(make_settings, engine, photo, cartoon):
    from likeness.errors import NoPhotoAcceptedError
    from likeness.library import FaceRecognitionLibrary

    with FaceRecognitionLibrary(settings=make_settings(), engine=engine) as lib:
        result = lib.enroll("Abel", [photo("Abel_Pacheco", 1), cartoon])
        assert [a["index"] for a in result.accepted] == [0]
        (refused,) = result.rejected
        assert refused.code == "FACE_REJECTED" and refused.reason == "cartoon"
        assert refused.as_dict()["reason"] == "cartoon"
        with pytest.raises(NoPhotoAcceptedError) as caught:
            lib.enroll("Drawn", [cartoon])
        assert caught.value.rejected[0].reason == "cartoon"
        forced = lib.enroll("Drawn", [cartoon], face_checks=False)
        assert len(forced.accepted) == 1
        assert lib.filter_image(cartoon)["rejection_reason"] == "cartoon"


def test_bulk_keeps_unusable_faces_out_of_search(make_settings, engine, photo, cartoon, tmp_path):
    from likeness.library import FaceRecognitionLibrary

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "real.jpg").write_bytes(photo("Hans_Blix", 1).read_bytes())
    (folder / "drawn.png").write_bytes(cartoon.read_bytes())
    with FaceRecognitionLibrary(settings=make_settings(), engine=engine) as lib:
        report = lib.index_directory(folder)
        assert report.faces == 2 and report.unusable == 1
        assert report.as_dict()["reasons"] == {"cartoon": 1}
        stats = lib.stats()
        assert stats["faces"] == 2 and stats["unusable_faces"] == 1 and stats["index_faces"] == 1
        hits = lib.search(cartoon, threshold=-1).candidates
        assert [h.image_id for h in hits] and all("drawn" not in (h.source or "") for h in hits)
        lib.rebuild()  # from the database: still only the usable face
        assert lib.stats()["index_faces"] == 1


# --- command line ---------------------------------------------------------------------------
def test_cli_filter(model_root, photo, cartoon, tmp_path):
    env = {
        "LIKENESS_MODEL_ROOT": str(model_root),
        "LIKENESS_MODEL_PACK": TEST_PACK,
        "PATH": "",
        "HOME": str(tmp_path),
    }
    base = [sys.executable, "-m", "likeness.cli", "filter"]
    work = tmp_path / "work"
    work.mkdir()
    good = subprocess.run(
        [*base, str(photo("Hans_Blix"))], env=env, capture_output=True, text=True, cwd=work
    )
    assert good.returncode == 0 and ": ok (quality" in good.stdout, good.stderr
    mixed = subprocess.run(
        [*base, "--json", str(photo("Hans_Blix")), str(cartoon), str(work / "missing.jpg")],
        env=env,
        capture_output=True,
        text=True,
        cwd=work,
    )
    assert mixed.returncode == 1, mixed.stderr
    answers = json.loads(mixed.stdout)
    assert [a.get("rejection_reason") for a in answers[:2]] == [None, "cartoon"]
    assert answers[2]["error"]["code"] == "IMAGE_ERROR"
    assert list(work.iterdir()) == []  # no stray files


# --- migration ------------------------------------------------------------------------------
def test_migration_keeps_faces_from_before_usable(db_url):
    """0006 on a gallery that already holds faces (SQLite and PostgreSQL): every
    existing face stays usable (searched as before), with no checks recorded; and it
    can be undone."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from likeness.gallery.store import GalleryStore, NewFace, NewImage
    from likeness.storage import Database
    from likeness.storage.db import MIGRATIONS

    database = Database(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    def move(how, revision):
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            how(config, revision)

    move(command.downgrade, "0005_access")
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO gallery_images (image_id, content_hash, width, height, created_at) "
                "VALUES ('old', :h, 10, 10, CURRENT_TIMESTAMP)"
            ),
            {"h": "a" * 64},
        )
        connection.execute(
            text(
                "INSERT INTO gallery_faces (image_pk, box, det_score, norm, embedding, created_at)"
                " SELECT id, '[0, 0, 1, 1]', 0.9, 20.0, :e, CURRENT_TIMESTAMP FROM gallery_images"
            ),
            {"e": np.ones(512, np.float32).tobytes()},
        )
    database.migrate()
    store = GalleryStore(database, TEST_PACK, "0" * 64)
    assert store.counts()["unusable_faces"] == 0 and len(store.face_ids()) == 1
    store.add_images(
        [
            NewImage(
                "b" * 64,
                10,
                10,
                [
                    NewFace(
                        np.ones(512, np.float32),
                        [0, 0, 1, 1],
                        0.9,
                        1.0,
                        usable=False,
                        checks={"is_valid": False},
                    )
                ],
            )
        ]
    )
    assert store.counts() == {"persons": 0, "images": 2, "faces": 2, "unusable_faces": 1}
    assert len(store.face_ids()) == 1  # the unusable face is never indexed
    move(command.downgrade, "0005_access")
    database.migrate()
    database.dispose()


def test_enrolment_over_http_names_the_failed_check(client, photo, cartoon):
    person = client.post("/api/persons", json={"name": "Hans", "consent_basis": "test"}).json
    url = f"/api/persons/{person['id']}/faces"

    def enrol(*paths, **options):
        body = {"image": [(io.BytesIO(p.read_bytes()), p.name) for p in paths], **options}
        return _post(client, url, body)

    refused = enrol(cartoon)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "NO_PHOTO_ACCEPTED"
    (rejection,) = refused.json["rejected"]
    assert rejection["code"] == "FACE_REJECTED" and rejection["reason"] == "cartoon"
    assert rejection["check"]["scores"]["cartoon_prob"] > 0.5  # why, in numbers
    mixed = enrol(photo("Hans_Blix"), cartoon)
    assert mixed.status_code == 201
    assert [r["reason"] for r in mixed.json["rejected"]] == ["cartoon"]
    forced = enrol(cartoon, face_checks="false")  # forcing is for admins
    assert forced.status_code == 403 and forced.json["error"]["field"] == "face_checks"


def test_models_refuse_malformed_or_wrong_way_weights(engine):
    spec = dict(QualityModel.for_recogniser(engine.files[1].sha256).spec)
    for bad in (
        {"scale": [0.0] * len(spec["inputs"])},
        {"coef": [float("nan")] * len(spec["inputs"])},
        {"coef": [-1.0 if name == "embedding_norm" else 0.0 for name in spec["inputs"]]},
        {"mean": spec["mean"][:-1]},
    ):
        with pytest.raises(ValueError):
            QualityModel({**spec, **bad})
    arrays = {"mean": np.zeros(4, np.float32), "scale": np.ones(4, np.float32)}
    with pytest.raises(ValueError):
        CartoonModel({**arrays, "w0": np.ones((4, 3), np.float32), "b0": np.ones(3, np.float32)})
    with pytest.raises(ValueError):
        CartoonModel({**arrays, "w0": np.ones((4, 1), np.float32)})  # no b0
    with pytest.raises(ValueError):
        CartoonModel(
            {**arrays, "scale": np.zeros(4, np.float32), "w0": np.ones((4, 1)), "b0": np.ones(1)}
        )


def test_a_turned_face_never_scores_higher(engine, photo):
    """The quality model may only lose from a turned, tilted or badly exposed face."""
    import dataclasses

    from likeness.quality.signals import measure

    image = cv2.imread(str(photo("Abel_Pacheco")))
    face = engine.detect(image)[0]
    crop = engine.align(cv2.GaussianBlur(image, (0, 0), 4), face)
    _, norms = engine.embed_aligned([crop])
    signals = measure(face, crop, float(norms[0]), (250, 250))
    model = QualityModel.for_recogniser(engine.files[1].sha256)
    base = model.score(signals)
    for change in (
        {"yaw": 0.6},
        {"yaw": 1e7},
        {"roll": 40.0},
        {"brightness": 30.0},
        {"pitch": float("nan")},
        {"contrast": 5.0},
    ):
        assert model.score(dataclasses.replace(signals, **change)) <= base + 1e-12, change


def test_spoofs_are_stored_as_no_match_and_json_booleans_work(client):
    from likeness.api.state import DATABASE
    from likeness.storage.models import Verification

    live = base64.b64encode((SPOOFS / "image_T1.jpg").read_bytes()).decode()
    spoof = base64.b64encode((SPOOFS / "image_F2.jpg").read_bytes()).decode()
    answer = client.post(
        "/api/verify", json={"image1": live, "image2": spoof, "liveness": True}
    ).json
    assert answer["is_match"] is False and answer["reason"] == "spoof"
    with client.application.extensions[DATABASE].session() as session:
        row = session.get(Verification, answer["verification_id"])
        assert row.is_match is False
    off = client.post("/api/verify", json={"image1": live, "image2": spoof, "liveness": False})
    assert off.status_code == 200 and off.json["images"][1]["checks"]["scores"]["is_live"] is None
    models = client.get("/api/models").json
    assert models["face_checks"]["cartoon"]["on"] is True
    assert models["face_checks"]["liveness"]["status"].startswith("available")


def test_a_person_without_usable_faces_still_guards_its_likeness(
    make_settings, engine, photo, tmp_path
):
    from likeness.library import FaceRecognitionLibrary

    tiny = tmp_path / "tiny.jpg"
    image = cv2.imread(str(photo("Abel_Pacheco", 1)))
    cv2.imwrite(str(tiny), cv2.resize(image, (40, 40), interpolation=cv2.INTER_AREA))
    with FaceRecognitionLibrary(settings=make_settings(), engine=engine) as lib:
        report = lib.index_batch([tiny], persons=["Abel"])
        assert report.unusable == 1  # too small: kept, never searched
        person = lib.store.find_persons("Abel")[0]
        stranger = lib.enroll(
            None, [photo("Hans_Blix", 1), photo("Abel_Pacheco", 2)], person_id=person.id
        )
        assert [r.code for r in stranger.rejected] == ["FACE_MISMATCH"]
        assert [a["index"] for a in stranger.accepted] == [1]


def test_cli_bad_settings_are_one_line(model_root, tmp_path, photo):
    env = {
        "LIKENESS_MODEL_ROOT": str(model_root),
        "LIKENESS_MODEL_PACK": TEST_PACK,
        "LIKENESS_MIN_QUALITY": "1.5",
        "PATH": "",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "likeness.cli", "filter", str(photo("Hans_Blix"))],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("likeness: CONFIG_ERROR") and "min_quality" in done.stderr
