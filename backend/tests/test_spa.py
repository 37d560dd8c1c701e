"""Serving the built web app at / (likeness.api.spa), without models."""

from __future__ import annotations

import pytest
from flask import Flask

from likeness.api.errors import register_error_handlers
from likeness.api.spa import register_spa
from likeness.errors import ConfigError


@pytest.fixture
def client(tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html><title>app</title>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app-1234.js").write_text("console.log(1)")
    (tmp_path.parent / "secret.txt").write_text("no")
    app = Flask(__name__, static_folder=None)
    register_error_handlers(app)
    app.add_url_rule("/api/health", "health", lambda: {"status": "ok"})
    app.add_url_rule("/api/verify", "verify", lambda: {}, methods=["POST"])
    register_spa(app, tmp_path)
    return app.test_client()


def test_index_files_and_fallback(client):
    index = client.get("/")
    assert index.status_code == 200 and b"<title>app</title>" in index.data
    assert index.headers["Cache-Control"] == "no-cache"
    asset = client.get("/assets/app-1234.js")
    assert asset.status_code == 200 and asset.data == b"console.log(1)"
    assert "max-age=31536000" in asset.headers["Cache-Control"]
    deep = client.get("/some/client/route")
    assert deep.status_code == 200 and b"<title>app</title>" in deep.data


def test_api_paths_never_fall_back(client):
    assert client.get("/api/health").json == {"status": "ok"}
    missing = client.get("/api/nope")
    assert missing.status_code == 404
    assert missing.json["error"]["code"] == "NOT_FOUND"
    # a POST-only API path answers GET with 405, as it does without the web app
    wrong = client.get("/api/verify")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
    assert wrong.json["error"]["code"] == "METHOD_NOT_ALLOWED"
    for method in ("post", "put", "patch", "delete"):  # unknown paths stay 404
        assert getattr(client, method)("/api/nope").status_code == 404
    assert client.delete("/api/verify").status_code == 405
    assert client.options("/api/nope").status_code == 404
    assert client.post("/api").status_code == 404


def test_paths_outside_root_are_refused(client):
    response = client.get("/..%2fsecret.txt")  # the route sees "../secret.txt"
    assert response.status_code == 404 and response.data != b"no"


def test_missing_build_fails_fast(tmp_path):
    with pytest.raises(ConfigError, match="index.html"):
        register_spa(Flask(__name__), tmp_path)


def test_unset_static_dir_serves_nothing():
    app = Flask(__name__)
    register_spa(app, None)
    assert app.test_client().get("/").status_code == 404
