"""``FaceRecognitionLibrary`` as a Python API and through the CLI (real buffalo_s)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import likeness
from likeness.errors import (
    EmbeddingModelMismatchError,
    IndexNotFoundError,
    NoFaceDetectedError,
    ValidationError,
)
from likeness.library import FaceRecognitionLibrary
from likeness.verification import verify

from paths import TEST_PACK


@pytest.fixture(scope="module")
def photo(lfw_dir):
    def nth(name: str, n: int):
        return sorted((lfw_dir / "lfw-deepfunneled" / name).glob("*.jpg"))[n - 1]

    return nth


def test_lazy_export():
    code = (
        "import sys, likeness; assert 'likeness.library' not in sys.modules; "
        "likeness.FaceRecognitionLibrary"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert likeness.FaceRecognitionLibrary is FaceRecognitionLibrary


def test_config_file_index_dir_and_model_name(model_root, engine, tmp_path, monkeypatch):
    config = tmp_path / "likeness.yaml"
    config.write_text(
        f"model_root: {model_root}\nmatch_threshold: 0.5\nsearch_threshold: 0.45\n"
        "gallery_exact_max: 7\n"
    )
    monkeypatch.delenv("LIKENESS_DATABASE_URL", raising=False)
    lib = FaceRecognitionLibrary(
        config_path=config, index_dir=tmp_path / "g", model_name=TEST_PACK, engine=engine
    )
    assert lib.settings.model_pack == TEST_PACK and lib.settings.gallery_exact_max == 7
    assert lib.settings.data_dir == tmp_path / "g" and lib.database.url.endswith("g/likeness.db")
    assert lib.threshold == 0.5  # 1:1
    assert lib.search_embedding(np.ones(512, np.float32)).threshold == 0.45  # 1:N
    assert lib.gallery.index_path == tmp_path / "g" / "gallery.faiss"
    lib.close()


def test_compare_embedding_and_errors(make_settings, engine, photo, tmp_path):
    lib = FaceRecognitionLibrary(settings=make_settings(), engine=engine)
    a, b = photo("Jiang_Zemin", 1), photo("Jiang_Zemin", 2)
    mine = lib.compare(a, b)
    api = verify(engine, {"image1": a, "image2": b})
    assert mine.comparison == api.comparison and mine.comparison.is_match
    vector = lib.get_embedding(a.read_bytes())
    assert vector.shape == (512,) and np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)
    assert np.allclose(vector, mine.embeddings["image1"].embedding)
    ids = lib.index_image(a, image_id="jz")
    hit = lib.search_embedding(vector * 3.0).identity  # vectors are normalised
    assert hit.face_id == ids[0] and hit.score == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValidationError):
        lib.search_embedding(np.ones(3))
    with pytest.raises(ValidationError):
        lib.search(a, top_k=0)
    with pytest.raises(NoFaceDetectedError) as caught:
        lib.compare(a, np.zeros((100, 100, 3), np.uint8))
    assert caught.value.field == "image2"
    lib.save()
    lib.gallery.index_path.unlink()
    with pytest.raises(IndexNotFoundError):
        lib.load()
    lib.rebuild()  # from the database, the source of truth
    assert lib.load() == {"added": 0, "removed": 0, "generation": lib.store.generation()}
    assert len(lib.gallery.index) == 1
    # a gallery of one model refuses embeddings of another (an engine whose
    # recogniser has another hash, as after swapping the file by hand)
    import dataclasses

    files = lib.engine.files  # the session's shared engine: put its files back
    lib.engine.files = (files[0], dataclasses.replace(files[1], sha256="f" * 64))
    try:
        with pytest.raises(EmbeddingModelMismatchError):
            lib.index_image(photo("Jiang_Zemin", 3))
    finally:
        lib.engine.files = files
    lib.close()


def test_cli_enroll_index_search(model_root, lfw_dir, photo, tmp_path):
    env = {
        "LIKENESS_MODEL_ROOT": str(model_root),
        "LIKENESS_MODEL_PACK": TEST_PACK,
        "PATH": "",
        "HOME": str(tmp_path),
    }
    base = [sys.executable, "-m", "likeness.cli"]
    where = ["--index-dir", str(tmp_path / "g")]

    def run(*args, **extra_env):
        done = subprocess.run(
            [*base, *args, *where], env={**env, **extra_env}, capture_output=True, text=True
        )
        assert done.returncode in (0, 1), done.stderr
        return done

    done = run("enroll", "Wen Jiabao", str(photo("Wen_Jiabao", 1)), str(photo("Wen_Jiabao", 8)))
    assert done.returncode == 1 or "rejected" in done.stdout
    assert "MULTIPLE_FACES" in done.stdout and "1 faces enrolled" in done.stdout
    folder = tmp_path / "photos" / "Hans Blix"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(photo("Hans_Blix", 1).read_bytes())
    # two faces > exact_max 1: the HNSW index is built in the background and the
    # command waits for it before it exits
    done = run(
        "index",
        str(tmp_path / "photos"),
        "--person-from-folder",
        "--json",
        LIKENESS_GALLERY_EXACT_MAX="1",
    )
    body = json.loads(done.stdout)
    assert body["indexed"] == 1 and body["gallery"]["index_kind"] == "hnsw"
    done = run("search", str(photo("Wen_Jiabao", 2)), "--json")
    assert json.loads(done.stdout)["identity"]["name"] == "Wen Jiabao"
    done = run("search", str(photo("Hans_Blix", 2)))
    assert done.stdout.splitlines()[0] == "Hans Blix"
