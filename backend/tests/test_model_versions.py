"""Model versions (issue 15): the registry, the start-up integrity check, switching
the gallery to another version and back, through the library, the CLI and HTTP."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import func, select

from likeness.cli import main as cli_main
from likeness.engine import FaceEngine
from likeness.errors import (
    ModelIntegrityError,
    ModelNotActivatableError,
    ModelVersionNotFoundError,
)
from likeness.library import FaceRecognitionLibrary
from likeness.registry import ModelRegistry
from likeness.storage import Database
from likeness.storage.models import FaceEmbedding, GalleryFace, GalleryState

from modelfiles import perturbed_recogniser, writable_root

GATE_PASSED = {
    "gate": {
        "passed": True,
        "thresholds": {"verify": {"base": 0.3, "fmr": 1e-3, "candidate": 0.31}},
    }
}


@pytest.fixture
def root(tmp_path):
    return writable_root(tmp_path)


@pytest.fixture
def settings(make_settings, root, tmp_path):
    return make_settings(model_root=root, data_dir=tmp_path / "data", model_refresh_seconds=0)


@pytest.fixture
def lib(settings):
    with FaceRecognitionLibrary(settings=settings) as library:
        yield library


def _candidate(lib, tmp_path, scale=0.02, gate="passed", metrics=None):
    path = perturbed_recogniser(tmp_path / f"variant-{scale}.onnx", scale)
    registry = lib.model.registry
    return registry.register(
        path, parent=registry.active(), data_sha256="0" * 64,
        metrics=GATE_PASSED if metrics is None else metrics, gate=gate, created_by="test",
    )  # fmt: skip


def _enrol_two(lib, lfw_photo):
    lib.enroll("Ada", [lfw_photo("Colin_Powell", 1), lfw_photo("Colin_Powell", 2)])
    lib.enroll("Bea", [lfw_photo("Tony_Blair", 1), lfw_photo("Tony_Blair", 2)])


def test_the_official_recogniser_is_the_active_base_version(lib):
    versions = lib.list_models()
    assert [v.id for v in versions] == ["buffalo_s-base"]
    assert versions[0].status == "active" and versions[0].origin == "base"
    assert versions[0].sha256 == lib.engine.version


def test_a_registered_version_has_its_files_card_and_hash(lib, tmp_path, root):
    version = _candidate(lib, tmp_path)
    folder = root / "buffalo_s" / "versions" / version.id
    assert (folder / "recognizer.onnx").is_file() and (folder / "metrics.json").is_file()
    card = (folder / "card.md").read_text()
    assert "non-commercial research use only" in card and version.sha256 in card
    assert lib.get_model(version.id).status == "candidate"
    with pytest.raises(ModelVersionNotFoundError):
        lib.get_model("no-such-version")
    with pytest.raises(Exception, match="registered already"):
        lib.model.registry.register(
            folder / "recognizer.onnx", parent=lib.model.registry.active(),
            data_sha256=None, metrics={}, gate="none",
        )  # fmt: skip


def test_an_ungated_or_refused_candidate_needs_force(lib, tmp_path):
    ungated = _candidate(lib, tmp_path, 0.02, gate="none", metrics={})
    refused = _candidate(lib, tmp_path, 0.5, gate="refused", metrics={"gate": {"passed": False}})
    for version in (ungated, refused):
        with pytest.raises(ModelNotActivatableError, match="--force"):
            lib.activate_model(version.id)
    assert lib.model.registry.active().origin == "base"


def test_an_altered_registered_file_stops_the_engine(lib, tmp_path, settings):
    version = _candidate(lib, tmp_path)
    path = lib.model.registry.path(version)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelIntegrityError, match="registered buffalo_s version"):
        FaceEngine(settings, recognizer=lib.model.registry.resolve(version))


def test_activation_re_embeds_the_gallery_and_rollback_restores_it(
    lib, tmp_path, lfw_photo, settings
):
    _enrol_two(lib, lfw_photo)
    base = lib.engine.version
    probe = lfw_photo("Colin_Powell", 3)
    before = lib.search(probe)
    with lib.database.session() as session:
        old = dict(session.execute(select(GalleryFace.id, GalleryFace.embedding)).all())
    version = _candidate(lib, tmp_path)

    job = lib.activate_model(version.id)
    assert job.state == "succeeded", job.error
    assert job.result["reembedded"] == len(old) and job.result["without_crop"] == 0
    assert lib.engine.version == version.sha256  # this process follows at once
    with lib.database.session() as session:
        new = dict(session.execute(select(GalleryFace.id, GalleryFace.embedding)).all())
        kept = session.scalar(
            select(func.count())
            .select_from(FaceEmbedding)
            .where(FaceEmbedding.model_version == base)
        )
        assert session.get(GalleryState, 1).model_version == version.sha256
    assert kept == len(old)  # the base's embeddings are kept for a rollback
    # every face now carries the new model's embedding of its stored crop
    for face_id, blob in new.items():
        crop = lib.face_crop(face_id)
        import cv2

        image = cv2.imdecode(np.frombuffer(crop, np.uint8), cv2.IMREAD_COLOR)
        expected = lib.engine.embed_aligned([image])[0][0]
        assert np.allclose(np.frombuffer(blob, np.float32), expected, atol=1e-5)
        assert blob != old[face_id]
    after = lib.search(probe)
    assert after.identity is not None and after.identity.person_name == "Ada"
    assert before.identity.person_name == "Ada"
    # the gate's thresholds were adopted for the new version
    assert lib.threshold == pytest.approx(0.31)

    back = lib.rollback_model()
    assert back.state == "succeeded", back.error
    assert back.result["reembedded"] == 0  # instant: the base's embeddings were kept
    assert lib.engine.version == base
    with lib.database.session() as session:
        restored = dict(session.execute(select(GalleryFace.id, GalleryFace.embedding)).all())
    assert restored == old  # bit for bit
    assert lib.model.registry.active().id == "buffalo_s-base"
    assert lib.model.registry.get(version.id).status == "retired"


def test_erasure_removes_every_versions_embeddings(lib, tmp_path, lfw_photo):
    _enrol_two(lib, lfw_photo)
    version = _candidate(lib, tmp_path)
    assert lib.activate_model(version.id).state == "succeeded"
    ada = lib.store.find_persons("Ada")[0].id
    lib.remove(person_id=ada)
    with lib.database.session() as session:
        faces = set(session.scalars(select(GalleryFace.id)).all())
        kept = set(session.scalars(select(FaceEmbedding.face_id)).all())
    assert faces and kept == faces  # only Bea's faces are left, in both versions


def test_a_second_library_follows_a_switch_made_by_another(lib, settings, tmp_path, lfw_photo):
    _enrol_two(lib, lfw_photo)
    version = _candidate(lib, tmp_path)
    with FaceRecognitionLibrary(settings=settings) as other:
        assert other.engine.version == lib.engine.version
        assert lib.activate_model(version.id).state == "succeeded"
        # the other process still holds the old model: its search meets the switched
        # gallery, loads the new version and searches again (no error, no mixing)
        found = other.search(lfw_photo("Tony_Blair", 3))
        assert other.engine.version == version.sha256
        assert found.identity is not None and found.identity.person_name == "Bea"


def test_the_command_line_lists_shows_activates_and_rolls_back(
    lib, tmp_path, settings, monkeypatch, capsys
):
    version = _candidate(lib, tmp_path)
    monkeypatch.setenv("LIKENESS_MODEL_ROOT", str(settings.model_root))
    monkeypatch.setenv("LIKENESS_MODEL_PACK", "buffalo_s")
    monkeypatch.setenv("LIKENESS_DATA_DIR", str(settings.data_dir))
    from likeness.settings import get_settings

    get_settings.cache_clear()
    assert cli_main(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {v["id"] for v in listed} == {"buffalo_s-base", version.id}
    assert cli_main(["models", "show", version.id]) == 0
    assert "## Licence" in capsys.readouterr().out
    assert cli_main(["models", "activate", version.id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["result"]["version"] == version.id
    # the active version's file is lost: the tools still switch away from it
    path = lib.model.registry.path(version)
    path.rename(path.with_suffix(".lost"))
    assert cli_main(["models", "rollback"]) == 0
    captured = capsys.readouterr()
    assert "cannot be loaded (MODEL_FILES_MISSING); switching without it" in captured.err
    assert "buffalo_s-base is active" in captured.out
    assert cli_main(["models", "activate", "nope"]) == 2
    assert "MODEL_VERSION_NOT_FOUND" in capsys.readouterr().err


def test_registry_rows_live_in_the_database_beside_the_gallery(settings):
    db = Database(settings.sqlalchemy_url)
    db.migrate()
    try:
        registry = ModelRegistry(db, settings)
        assert registry.active().id == "buffalo_s-base"
        with pytest.raises(ModelNotActivatableError, match="no earlier version"):
            registry.rollback_target()
    finally:
        db.dispose()


def _vectors_of(lib, version: str) -> dict[int, np.ndarray]:
    """Every face's embedding under ``version`` (current or kept)."""
    with lib.database.session() as session:
        if session.get(GalleryState, 1).model_version == version:
            rows = session.execute(select(GalleryFace.id, GalleryFace.embedding)).all()
        else:
            rows = session.execute(
                select(FaceEmbedding.face_id, FaceEmbedding.embedding).where(
                    FaceEmbedding.model_version == version
                )
            ).all()
    return {int(i): np.frombuffer(b, np.float32) for i, b in rows}


def test_a_switch_during_another_process_sync_never_mixes_versions(
    lib, settings, tmp_path, lfw_photo
):
    """The switch commits while the other process replays the change log (the
    reviewer's race): whatever index it searches holds its own model's vectors."""
    with FaceRecognitionLibrary(settings=settings) as other:
        lib.enroll("Ada", [lfw_photo("Colin_Powell", 1), lfw_photo("Colin_Powell", 2)])
        other.search(lfw_photo("Colin_Powell", 3))
        lib.enroll("Bea", [lfw_photo("Tony_Blair", 1)])  # other must replay this change
        version = _candidate(lib, tmp_path, 0.5)
        replay, searched = other.store.changes_since, []

        def switch_first(*args, **kwargs):
            if not searched:
                searched.append(None)
                assert lib.activate_model(version.id).state == "succeeded"
            return replay(*args, **kwargs)

        index_class = type(other.gallery.index)
        real_search = index_class.search

        def spy(index, query, k):
            ids, vectors = index.vectors()
            searched.append((other.engine.version, ids, vectors))
            return real_search(index, query, k)

        other.store.changes_since = switch_first
        index_class.search = spy
        try:
            found = other.search(lfw_photo("Colin_Powell", 3))
        finally:
            index_class.search = real_search
        assert other.engine.version == version.sha256
        assert found.identity is not None and found.identity.person_name == "Ada"
        for engine_version, ids, vectors in searched[1:]:
            expected = _vectors_of(lib, engine_version)
            for face_id, vector in zip(ids, vectors, strict=True):
                assert np.allclose(expected[int(face_id)], vector, atol=1e-6)


def test_a_lagging_process_never_claims_a_cleared_gallery_for_its_old_model(
    lib, settings, tmp_path, lfw_photo
):
    version = _candidate(lib, tmp_path)
    lagging = settings.model_copy(update={"model_refresh_seconds": 3600})
    with FaceRecognitionLibrary(settings=lagging) as other:
        assert lib.activate_model(version.id).state == "succeeded"
        lib.clear()
        assert other.engine.version != version.sha256  # it has not looked yet
        other.index_image(lfw_photo("Colin_Powell", 1))  # refused, follows, tries again
        assert other.engine.version == version.sha256
        with lib.database.session() as session:
            assert session.get(GalleryState, 1).model_version == version.sha256
        found = lib.search(lfw_photo("Colin_Powell", 2))
        assert found.candidates


def test_a_vote_on_a_search_made_before_a_switch_pairs_embeddings_of_one_version(
    lib, tmp_path, lfw_photo
):
    from likeness.storage.models import SearchFeedback

    _enrol_two(lib, lfw_photo)
    base = lib.engine.version
    report = lib.search_photo(lfw_photo("Colin_Powell", 3))
    shown = report.results[0].candidates[0]
    version = _candidate(lib, tmp_path)
    assert lib.activate_model(version.id).state == "succeeded"
    vote = lib.vote_on_search(report.search_id, "up", 0, person_id=shown.person_id)
    with lib.database.session() as session:
        row = session.get(SearchFeedback, vote.record.id)
        assert row.model_version == base
        kept = _vectors_of(lib, base)[row.face_id]
        assert np.array_equal(np.frombuffer(row.result_embedding, np.float32), kept)
    assert vote.exemplar_id is None  # learned only under the version it was made with
    # the training export of those votes keeps to their version's embeddings
    from likeness.learning.export import export_training

    report = export_training(lib.database, tmp_path / "export", "pairs", model=base[:12])
    assert report["model_version"] == base
    with np.load(tmp_path / "export" / "faces.npz") as faces:
        vectors = dict(zip(faces["keys"].tolist(), faces["embeddings"], strict=True))
    kept = _vectors_of(lib, base)
    for key, vector in vectors.items():
        if key.startswith("g"):
            assert np.allclose(vector, kept[int(key[1:])], atol=1e-6)


def test_a_write_committed_just_before_a_switch_is_answered_not_repeated(
    lib, settings, tmp_path, lfw_photo
):
    lib.enroll("Ada", [lfw_photo("Colin_Powell", 1)])
    assert lib.cluster().state == "succeeded"  # new faces are then assigned at once
    version = _candidate(lib, tmp_path)
    with FaceRecognitionLibrary(settings=settings) as other:
        apply, fired = other.gallery.apply, []

        def switch_after_commit(change, save=None):
            if not fired:  # the switch commits right after this process's write
                fired.append(None)
                assert lib.activate_model(version.id).state == "succeeded"
            return apply(change, save)

        other.gallery.apply = switch_after_commit
        ids = other.index_image(lfw_photo("Tony_Blair", 1), image_id="photo-1")
        assert len(ids) == 1
    with lib.database.session() as session:
        assert session.scalar(select(func.count()).select_from(GalleryFace)) == 2


def test_the_server_refuses_to_start_when_the_active_version_will_not_load(lib, tmp_path):
    import os
    import subprocess
    import sys

    from paths import REPO
    from support import free_port

    version = _candidate(lib, tmp_path)
    assert lib.activate_model(version.id).state == "succeeded"
    lib.model.registry.path(version).unlink()
    env = {
        **os.environ,
        "LIKENESS_MODEL_ROOT": str(lib.settings.model_root),
        "LIKENESS_MODEL_PACK": "buffalo_s",
        "LIKENESS_DATA_DIR": str(lib.settings.data_dir),
        "LIKENESS_PORT": str(free_port()),
    }
    env.pop("LIKENESS_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", str(REPO / "backend" / "gunicorn.conf.py"),
         "likeness.api.wsgi:app"],
        env=env, capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert done.returncode != 0
    assert "likeness: MODEL_FILES_MISSING" in done.stderr
    assert "likeness models rollback" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_process_that_cannot_load_the_new_version_keeps_serving_its_own(
    lib, settings, tmp_path, lfw_photo
):
    from likeness.errors import EmbeddingModelMismatchError

    _enrol_two(lib, lfw_photo)
    version = _candidate(lib, tmp_path)
    with FaceRecognitionLibrary(settings=settings) as other:
        base = other.engine.version
        assert lib.activate_model(version.id).state == "succeeded"
        lib.model.registry.path(version).unlink()  # gone on this replica's disk
        # 1:1 needs no gallery: it goes on with the model it has
        assert other.compare(lfw_photo("Tony_Blair", 1), lfw_photo("Tony_Blair", 2)).is_match
        assert other.engine.version == base
        with pytest.raises(EmbeddingModelMismatchError):  # 409, never a mixed search
            other.search(lfw_photo("Tony_Blair", 3))
