"""1:N gallery with the real buffalo_s models and LFW photos, on SQLite AND a real
PostgreSQL (unreachable PostgreSQL FAILS, never skips): enrolment with rejection
reasons, search and "unknown", bulk indexing, right to erasure."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from likeness.errors import (
    ImageLoadError,
    InvalidTextError,
    MetadataTooLargeError,
    MultipleFacesError,
    NoFaceDetectedError,
    NoPhotoAcceptedError,
    NotFoundError,
    PersonNotFoundError,
    ValidationError,
)
from likeness.library import FaceRecognitionLibrary
from likeness.storage.models import GalleryFace, GalleryImage, GalleryPerson

from dbtargets import BACKENDS, database_url


@pytest.fixture(params=BACKENDS)
def lib(request, make_settings, engine, tmp_path):
    with database_url(request.param, tmp_path) as url:
        library = FaceRecognitionLibrary(
            settings=make_settings(database_url=url, data_dir=tmp_path / "gallery"),
            engine=engine,
        )
        yield library
        library.database.dispose()


@pytest.fixture(scope="module")
def photo(lfw_dir):
    """``photo(name, n)``: the n-th (1-based) LFW photo of a person on disk."""

    def nth(name: str, n: int):
        return sorted((lfw_dir / "lfw-deepfunneled" / name).glob("*.jpg"))[n - 1]

    return nth


def rows(lib, model) -> int:
    with lib.database.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)))


def test_enrol_search_unknown_and_erasure(lib, photo, group_photo, tmp_path):
    blank = tmp_path / "blank.png"
    import cv2

    cv2.imwrite(str(blank), np.full((200, 200, 3), 200, np.uint8))
    result = lib.enroll(
        "Tony Blair",
        [
            photo("Tony_Blair", 1),
            photo("Tony_Blair", 3),
            blank,
            group_photo,
            b"not an image",
            photo("Tony_Blair", 2),  # LFW photo with two people behind him
        ],
        metadata={"team": "uk"},
    )
    assert [a["index"] for a in result.accepted] == [0, 1]
    codes = {r.index: r.code for r in result.rejected}
    assert codes == {2: "NO_FACE", 3: "MULTIPLE_FACES", 4: "INVALID_IMAGE", 5: "MULTIPLE_FACES"}
    tony = result.person
    assert tony.face_count == 2 and tony.metadata == {"team": "uk"}
    # enrolling the same photo again is refused, with a reason
    with pytest.raises(NoPhotoAcceptedError) as refused:
        lib.enroll(None, [photo("Tony_Blair", 1)], person_id=tony.id)
    assert refused.value.rejected[0].code == "DUPLICATE_IMAGE"
    bush = lib.enroll("Hans Blix", [photo("Hans_Blix", 1)]).person

    found = lib.search(photo("Tony_Blair", 4))
    assert not found.unknown and found.identity.person_id == tony.id
    assert found.identity.score >= lib.search_threshold
    assert found.identity.image_id in tony.image_ids
    assert found.identity.centroid_score is not None
    assert [h.person_id for h in found.candidates] == [tony.id, bush.id]  # one hit per person
    found = lib.search(photo("Hans_Blix", 2), top_k=1)
    assert found.identity.person_name == "Hans Blix" and len(found.candidates) == 1
    stranger = lib.search(photo("David_Beckham", 1))
    assert stranger.unknown and stranger.identity is None and len(stranger) == 0
    assert stranger.candidates  # ranked candidates are still reported
    assert lib.search(photo("Tony_Blair", 4), threshold=0.99).unknown

    # centroid is the normalised mean of the person's embeddings
    with lib.database.session() as session:
        blobs = session.scalars(
            select(GalleryFace.embedding).where(GalleryFace.person_id == tony.id)
        ).all()
    mean = np.mean([np.frombuffer(b, np.float32) for b in blobs], axis=0)
    assert np.allclose(lib.store.centroid(tony.id), mean / np.linalg.norm(mean), atol=1e-6)

    # right to erasure: the person, its images and embeddings leave DB, index and file
    vectors = [np.frombuffer(b, np.float32).tobytes() for b in blobs]
    report = lib.remove(person_id=tony.id)
    assert report.faces == 2 and report.person_ids == [tony.id]
    with pytest.raises(PersonNotFoundError):
        lib.get_person(tony.id)
    with lib.database.session() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(GalleryFace)
                .where(GalleryFace.person_id == tony.id)
            )
            == 0
        )
        assert (
            session.scalar(
                select(func.count())
                .select_from(GalleryImage)
                .where(GalleryImage.person_id == tony.id)
            )
            == 0
        )
    assert rows(lib, GalleryFace) == len(lib.gallery.index) == 1
    saved = lib.gallery.index_path.read_bytes()
    assert not any(v in saved for v in vectors)
    after = lib.search(photo("Tony_Blair", 4))
    assert all(h.person_id != tony.id for h in after.candidates)
    # an image id works too; unknown ids are NotFound
    lib.remove(bush.image_ids[0])
    assert rows(lib, GalleryFace) == 0 and len(lib.gallery.index) == 0
    with pytest.raises(NotFoundError):
        lib.remove("no-such-image")


def test_index_images_bulk_resume_and_failures(lib, photo, group_photo, tmp_path):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    names = ["Wen_Jiabao", "Jiang_Zemin", "Hans_Blix"]
    for name in names:
        for n in (1, 2):
            (folder / "sub" / f"{name}_{n}.jpg").write_bytes(photo(name, n).read_bytes())
    (folder / "group.jpg").write_bytes(group_photo.read_bytes())
    (folder / "broken.jpg").write_bytes(photo("Hans_Blix", 3).read_bytes()[:2000])
    (folder / "notes.txt").write_text("ignored")
    calls = []
    report = lib.index_directory(folder, on_progress=lambda done, total, r: calls.append(done))
    assert report.total == 8 and report.indexed == 7 and report.skipped == 0
    assert [(f.source.endswith("broken.jpg"), f.code) for f in report.failed] == [
        (True, "TRUNCATED_IMAGE")
    ]
    assert report.faces == 6 + 6  # every face of the group photo is indexed
    assert calls and calls[-1] == 8
    assert rows(lib, GalleryImage) == 7 and len(lib.gallery.index) == 12
    # resumable: a second run skips what is done
    again = lib.index_directory(folder)
    assert again.skipped == 7 and again.indexed == 0 and len(again.failed) == 1
    # unlabelled faces rank on their own
    hit = lib.search(photo("Wen_Jiabao", 3), top_k=3).identity
    assert hit is not None and hit.person_id is None and "Wen_Jiabao" in hit.source

    ids = lib.index_image(photo("David_Beckham", 1), image_id="beckham", metadata={"x": 1})
    assert len(ids) == 1
    assert lib.index_image(photo("David_Beckham", 1)) == ids  # same content: same faces
    assert lib.search(photo("David_Beckham", 2)).identity.image_id == "beckham"
    with pytest.raises(NoFaceDetectedError):
        lib.index_image(np.full((120, 120, 3), 90, np.uint8))
    with pytest.raises(ImageLoadError):
        lib.index_image(tmp_path / "missing.jpg")

    # labelled bulk: one face per image, persons by name
    report = lib.index_batch([photo("Tony_Blair", n) for n in (1, 2)], persons=["Tony", "Tony"])
    assert report.indexed == 2
    (tony,) = lib.store.find_persons("Tony")
    assert tony.face_count == 2
    assert lib.search(photo("Tony_Blair", 4)).identity.person_name == "Tony"

    lib.clear()
    assert rows(lib, GalleryFace) == rows(lib, GalleryPerson) == len(lib.gallery.index) == 0


def test_enrol_rejects_multiple_faces_error_class(lib, group_photo):
    with pytest.raises(NoPhotoAcceptedError) as refused:
        lib.enroll("Group", [group_photo])
    assert refused.value.rejected[0].code == MultipleFacesError.code
    assert refused.value.code == "NO_PHOTO_ACCEPTED"


def test_a_failed_enrolment_leaves_nothing(lib, photo, tmp_path):
    """Every photo refused, or a missing file: no empty person is left behind."""
    before = lib.store.counts()
    for images in ([tmp_path / "missing.jpg"], [b"not an image"], []):
        with pytest.raises(NoPhotoAcceptedError):
            lib.enroll("Nobody", images)
    assert lib.store.counts() == before and lib.store.find_persons("Nobody") == []


def test_enrolment_refuses_a_face_of_someone_else(lib, photo):
    """A photo of another person enrolled into "Alice" would make that person match
    as Alice: refused with FACE_MISMATCH unless explicitly allowed."""
    tony = lib.enroll("Tony Blair", [photo("Tony_Blair", 1), photo("Tony_Blair", 3)]).person
    with pytest.raises(NoPhotoAcceptedError) as refused:
        lib.enroll(None, [photo("Hans_Blix", 1)], person_id=tony.id)
    assert refused.value.rejected[0].code == "FACE_MISMATCH"
    assert lib.search(photo("Hans_Blix", 2)).unknown
    # in one request: the stranger is refused, Tony's own photo accepted
    mixed = lib.enroll(None, [photo("Hans_Blix", 1), photo("Tony_Blair", 4)], person_id=tony.id)
    assert [a["index"] for a in mixed.accepted] == [1]
    assert [(r.index, r.code) for r in mixed.rejected] == [(0, "FACE_MISMATCH")]
    # a new person from photos of two people: the odd one out is refused
    new = lib.enroll(
        "Hans Blix", [photo("Hans_Blix", 1), photo("Tony_Blair", 5), photo("Hans_Blix", 2)]
    )
    assert [a["index"] for a in new.accepted] == [0, 2]
    assert new.rejected[0].code == "FACE_MISMATCH"
    # the explicit override, for a person who changed a lot
    forced = lib.enroll(None, [photo("Hans_Blix", 3)], person_id=tony.id, allow_mismatch=True)
    assert forced.accepted and forced.person.face_count == 4


def test_the_same_photo_twice_in_one_request_rejects_the_repeat_alone(lib, photo):
    result = lib.enroll("Tony", [photo("Tony_Blair", 1), photo("Tony_Blair", 1)])
    assert [a["index"] for a in result.accepted] == [0]
    assert [(r.index, r.code) for r in result.rejected] == [(1, "DUPLICATE_IMAGE")]
    assert result.person.face_count == 1


def test_timestamps_are_utc_with_offset_on_create_and_read(lib):
    created = lib.create_person("Clock")
    read = lib.get_person(created.id)
    listed = [p for p in lib.list_persons()[0] if p.id == created.id][0]
    for person in (created, read, listed):
        stamp = person.as_dict()["created_at"]
        assert stamp.endswith("+00:00"), stamp
    assert abs((read.created_at - created.created_at).total_seconds()) < 0.001


def test_names_and_metadata_are_checked(lib):
    for bad in ("bad \ud800 name", "nul \x00 name"):
        with pytest.raises(InvalidTextError):
            lib.create_person(bad)
    with pytest.raises(InvalidTextError):
        lib.create_person("Ok", {"k\x00": "v"})
    with pytest.raises(ValidationError):
        lib.create_person("Ok", {"x": float("nan")})
    with pytest.raises(MetadataTooLargeError):
        lib.create_person("Big", {"blob": "x" * 20_000})
    deep: dict = {}
    node = deep
    for _ in range(20):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(MetadataTooLargeError):
        lib.create_person("Deep", deep)
    assert lib.store.find_persons("Big") == [] and lib.store.find_persons("Deep") == []
