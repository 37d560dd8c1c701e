"""The face engine on real models and real LFW images."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from likeness import errors
from likeness.engine import FaceEngine, choose_face
from likeness.engine.modelpack import resolve_pack
from likeness.imaging import load_image
from likeness.settings import FacePolicy, Settings

from paths import DATA, TEST_PACK


def _pairs(lfw_dir, genuine: int, impostor: int):
    """The first ``genuine`` and ``impostor`` pairs of each of the first folds."""
    lines = (lfw_dir / "pairs.txt").read_text().splitlines()[1:]
    same = [line.split("\t") for line in lines if len(line.split("\t")) == 3]
    diff = [line.split("\t") for line in lines if len(line.split("\t")) == 4]
    return (
        [((n, int(a)), (n, int(b))) for n, a, b in same[:: len(same) // genuine][:genuine]],
        [((a, int(i)), (b, int(j))) for a, i, b, j in diff[:: len(diff) // impostor][:impostor]],
    )


@pytest.fixture(scope="module")
def pairs(lfw_dir):
    return _pairs(lfw_dir, 30, 30)


def _embedding(engine, lfw, person):
    return engine.embed(load_image(lfw(*person)), FacePolicy.CENTRAL).embedding


def test_genuine_pairs_match(engine, lfw, pairs):
    genuine, _ = pairs
    scores = [
        engine.compare(_embedding(engine, lfw, a), _embedding(engine, lfw, b)) for a, b in genuine
    ]
    assert all(s.is_match for s in scores), [round(s.similarity, 3) for s in scores]


def test_impostor_pairs_do_not_match(engine, lfw, pairs):
    _, impostor = pairs
    scores = [
        engine.compare(_embedding(engine, lfw, a), _embedding(engine, lfw, b)) for a, b in impostor
    ]
    assert not any(s.is_match for s in scores), [round(s.similarity, 3) for s in scores]


def test_embedding_is_unit_norm_512d_with_raw_norm(engine, lfw):
    result = engine.embed(load_image(lfw("Abel_Pacheco", 1)))
    assert result.embedding.shape == (512,)
    assert abs(np.linalg.norm(result.embedding) - 1) < 1e-5
    assert result.norm > 5  # a clear face has a large raw norm
    assert result.face.landmarks.shape == (5, 2)


def test_flip_tta_sums_plain_and_mirrored(engine, lfw):
    image = load_image(lfw("Abel_Pacheco", 1))
    face = engine.detect(image)[0]
    crop = engine.align(image, face)
    plain, _ = engine.embed_aligned([crop], flip=False)
    mirrored, _ = engine.embed_aligned([np.ascontiguousarray(crop[:, ::-1])], flip=False)
    flipped, norms = engine.embed_aligned([crop], flip=True)
    raw_plain = engine.recognizer._raw([crop])[0]
    raw_mirror = engine.recognizer._raw([np.ascontiguousarray(crop[:, ::-1])])[0]
    expected = (raw_plain + raw_mirror) / np.linalg.norm(raw_plain + raw_mirror)
    assert np.allclose(flipped[0], expected, atol=1e-5)
    assert abs(norms[0] - np.linalg.norm(raw_plain)) < 1e-3
    assert float(plain[0] @ mirrored[0]) > 0.8


def test_alignment_matches_insightface_norm_crop(engine, lfw):
    from insightface.utils.face_align import norm_crop

    image = load_image(lfw("Abel_Pacheco", 1))
    face = engine.detect(image)[0]
    ours = engine.align(image, face)
    assert ours.shape == (112, 112, 3)
    assert np.abs(ours.astype(int) - norm_crop(image, face.landmarks).astype(int)).max() <= 1


def test_batched_embeddings_equal_single(engine, group_photo):
    image = load_image(group_photo)
    faces = engine.detect(image)
    batch, _ = engine.embed_faces(image, faces)
    single = np.stack([engine.embed_faces(image, [f])[0][0] for f in faces])
    assert np.allclose(batch, single, atol=1e-4)


def test_group_photo_has_six_faces(engine, group_photo):
    faces = engine.detect(load_image(group_photo))
    assert len(faces) == 6
    assert all(f.score > 0.5 and f.landmarks.shape == (5, 2) for f in faces)


def test_large_faces_that_stock_640_input_misses_are_found(engine, lfw_dir):
    """19 LFW images where SCRFD at a 640x640 input finds nothing."""
    names = (DATA / "lfw_large_faces.txt").read_text().split()
    assert len(names) == 19
    for file_name in names:
        person, number = file_name[:-4].rsplit("_", 1)
        path = lfw_dir / "lfw-deepfunneled" / person / file_name
        faces = engine.detect(load_image(path))
        assert faces, f"no face in {file_name}"


def test_retry_at_another_scale_finds_a_frame_filling_face(engine, lfw):
    """A face blown up to fill a large frame is found by the retry ladder."""
    image = load_image(lfw("Keanu_Reeves", 9))
    big = cv2.resize(image[40:220, 40:220], (1400, 1400))
    first, *retries = engine.detector.scales_for(1400, 1400)
    assert len(engine.detector.model.detect(big, input_size=first)[0]) == 0
    assert retries and engine.detect(big)


def test_detector_input_sizes(engine):
    detector = engine.detector
    assert detector.input_size_for(250, 250) == (256, 256)
    assert detector.input_size_for(4000, 3000) == (640, 480)
    assert detector.input_size_for(60, 40) == (128, 96)
    assert detector.scales_for(250, 250) == [(256, 256), (128, 128), (512, 512)]


def test_face_policies(engine, group_photo):
    image = load_image(group_photo)
    faces = engine.detect(image)
    h, w = image.shape[:2]
    largest = choose_face(faces, w, h, FacePolicy.LARGEST)
    assert faces[largest].area == max(f.area for f in faces)
    central = choose_face(faces, w, h, FacePolicy.CENTRAL)
    dist = [(f.center[0] - w / 2) ** 2 + (f.center[1] - h / 2) ** 2 for f in faces]
    assert central == int(np.argmin(dist))
    with pytest.raises(errors.MultipleFacesError):
        choose_face(faces, w, h, FacePolicy.REJECT)
    with pytest.raises(errors.NoFaceError):
        choose_face([], w, h, FacePolicy.LARGEST)
    result = engine.embed(image, FacePolicy.CENTRAL)
    assert result.index == central and len(result.faces) == 6


def test_missing_pack_names_folder_files_hashes_and_fetch(tmp_path):
    with pytest.raises(errors.ModelFilesMissingError) as caught:
        resolve_pack(tmp_path, "buffalo_l")
    message = caught.value.message
    assert str(tmp_path / "buffalo_l") in message
    assert "det_10g.onnx" in message and "w600k_r50.onnx" in message
    assert "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91" in message
    assert "make models" in message and "non-commercial" in message


def test_buffalo_l_uses_the_same_code_path_and_fails_only_on_files(tmp_path):
    with pytest.raises(errors.ModelFilesMissingError):
        FaceEngine(Settings(model_root=tmp_path, model_pack="buffalo_l"))


def test_tampered_model_file_is_refused(model_root, tmp_path):
    pack = tmp_path / TEST_PACK
    shutil.copytree(model_root / TEST_PACK, pack)
    (pack / "det_500m.onnx").chmod(0o644)
    with (pack / "det_500m.onnx").open("ab") as stream:
        stream.write(b"\0")
    with pytest.raises(errors.ModelIntegrityError):
        resolve_pack(tmp_path, TEST_PACK)
    det, _ = resolve_pack(tmp_path, TEST_PACK, verify=False)
    assert not det.verified


def test_model_info_reports_hashes_and_providers(engine):
    info = engine.info()
    assert info["pack"] == TEST_PACK
    assert {f["file"] for f in info["files"]} == {"det_500m.onnx", "w600k_mbf.onnx"}
    assert all(f["verified"] and f["sha256"] == f["expected_sha256"] for f in info["files"])
    assert info["providers"][-1] == "CPUExecutionProvider"
    assert info["threshold"] == engine.threshold
