"""Shared fixtures: real models and images from ../shared (LIKENESS_SHARED), never
skipped — a missing file fails the test run loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbtargets import BACKENDS, database_url
from paths import LFW_DIR, MODEL_ROOT, TEST_PACK
from support import GunicornServer, lfw_path


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.fail(
            f"{what} not found at {path}. Set LIKENESS_SHARED (or LIKENESS_TEST_MODEL_ROOT / "
            "LIKENESS_TEST_LFW_DIR) to the shared models and data.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def model_root() -> Path:
    return _require(MODEL_ROOT / TEST_PACK, "buffalo_s model pack").parent


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    return _require(LFW_DIR / "pairs.txt", "LFW pairs.txt").parent


@pytest.fixture(scope="session")
def lfw_photo(lfw_dir):
    """``lfw_photo(name, n)``: the n-th photo (from 1) of a person in LFW's folder."""

    def nth(name: str, n: int) -> Path:
        return sorted((lfw_dir / "lfw-deepfunneled" / name).glob("*.jpg"))[n - 1]

    return nth


@pytest.fixture(scope="session")
def lfw(lfw_dir):
    """``lfw(name, number) -> Path`` of an LFW image."""
    return lambda name, number: lfw_path(lfw_dir, name, number)


@pytest.fixture(scope="session")
def group_photo() -> Path:
    """insightface's group photo ``t1.jpg`` (6 faces), shipped in the package."""
    import insightface

    return _require(Path(insightface.__file__).parent / "data" / "images" / "t1.jpg", "t1.jpg")


@pytest.fixture
def make_settings(model_root, tmp_path):
    from likeness.settings import Settings

    def make(**overrides):
        values = {
            "model_root": model_root,
            "model_pack": TEST_PACK,
            "data_dir": tmp_path / "data",
            "workers": 1,
            "log_json": True,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture(scope="session")
def engine(model_root):
    from likeness.engine import FaceEngine
    from likeness.settings import Settings

    built = FaceEngine(Settings(model_root=model_root, model_pack=TEST_PACK, workers=1))
    built.warm_up()
    return built


@pytest.fixture
def app(make_settings, engine):
    from likeness.api import create_app

    return create_app(make_settings(), engine=engine)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def gunicorn_server(model_root, tmp_path_factory):
    """A real Gunicorn with 2 workers; small byte limit so oversize tests stay fast."""
    server = GunicornServer(
        model_root,
        tmp_path_factory.mktemp("gunicorn"),
        workers=2,
        LIKENESS_MAX_UPLOAD_BYTES=str(2 * 1024 * 1024),
    ).start()
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A migrated database URL: a SQLite file, then a fresh PostgreSQL schema."""
    from likeness.storage import Database

    with database_url(request.param, tmp_path) as url:
        database = Database(url)
        database.migrate()
        database.dispose()
        yield url
