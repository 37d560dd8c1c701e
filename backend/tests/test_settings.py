"""Settings: defaults, environment, YAML file, precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from likeness import errors
from likeness.settings import DEFAULT_THRESHOLDS, FacePolicy, Settings, load_settings


def test_defaults(monkeypatch):
    for key in ("LIKENESS_CONFIG", "LIKENESS_MODEL_PACK", "LIKENESS_PORT", "LIKENESS_HOST"):
        monkeypatch.delenv(key, raising=False)
    s = Settings()
    assert s.model_pack == "buffalo_l"
    assert s.model_root == Path("~/.insightface/models").expanduser()
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.threshold == DEFAULT_THRESHOLDS["buffalo_l"]
    assert s.sqlalchemy_url.startswith("sqlite:///") and s.sqlalchemy_url.endswith("likeness.db")


def test_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LIKENESS_MODEL_PACK", "buffalo_s")
    monkeypatch.setenv("LIKENESS_MODEL_ROOT", str(tmp_path))
    monkeypatch.setenv("LIKENESS_WORKERS", "4")
    monkeypatch.setenv("LIKENESS_FACE_POLICY", "reject")
    monkeypatch.setenv("LIKENESS_PROVIDERS", '["CUDAExecutionProvider"]')
    monkeypatch.setenv("LIKENESS_DATABASE_URL", "postgresql://u@h/db")
    s = Settings()
    assert s.pack_dir == tmp_path / "buffalo_s"
    assert s.workers == 4 and s.face_policy is FacePolicy.REJECT
    assert s.providers == ["CUDAExecutionProvider"]
    assert s.sqlalchemy_url == "postgresql://u@h/db"
    assert s.threshold == DEFAULT_THRESHOLDS["buffalo_s"]


def test_yaml_file_below_environment(monkeypatch, tmp_path):
    config = tmp_path / "likeness.yaml"
    config.write_text("model_pack: buffalo_s\nport: 9000\nmatch_threshold: 0.42\nworkers: 3\n")
    monkeypatch.setenv("LIKENESS_PORT", "9100")
    s = load_settings(config)
    assert s.model_pack == "buffalo_s" and s.workers == 3
    assert s.port == 9100  # environment wins over the file
    assert s.threshold == 0.42
    assert load_settings(config, workers=5).workers == 5  # explicit wins over both


def test_threads_split_cores_between_workers(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert Settings(workers=4).session_threads == 2
    assert Settings(workers=16).session_threads == 1
    assert Settings(workers=4, intra_op_threads=3).session_threads == 3


def test_invalid_values_and_missing_file(tmp_path):
    with pytest.raises(ValueError):
        Settings(face_policy="biggest")
    with pytest.raises(ValueError):
        Settings(det_threshold=1.5)
    with pytest.raises(errors.ConfigError):
        load_settings(tmp_path / "missing.yaml")


def test_an_optional_period_can_be_turned_off_from_the_environment(monkeypatch):
    """Compose passes only environment variables: ``none`` or ``null`` is None (keep
    forever) for the optional numbers; an empty value is unset (the default), so a
    blank line never turns a privacy period off."""
    from likeness.settings import Settings

    monkeypatch.setenv("LIKENESS_VERIFICATION_MAX_DAYS", "none")
    monkeypatch.setenv("LIKENESS_FEEDBACK_CROPS_MAX_DAYS", "")
    monkeypatch.setenv("LIKENESS_SEARCH_THRESHOLD", "NULL")
    monkeypatch.setenv("LIKENESS_FEEDBACK_MAX_DAYS", "365")
    settings = Settings()
    assert settings.verification_max_days is None
    assert settings.feedback_crops_max_days == 90  # empty: the default
    assert settings.search_threshold is None
    assert settings.feedback_max_days == 365


def test_a_missing_config_file_is_an_error(monkeypatch, tmp_path):
    from likeness.errors import ConfigError
    from likeness.settings import Settings

    monkeypatch.setenv("LIKENESS_CONFIG", str(tmp_path / "nowhere.yaml"))
    with pytest.raises(ConfigError, match="nowhere.yaml"):
        Settings()
