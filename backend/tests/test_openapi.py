"""The OpenAPI document (issue 10): every route is in it with its scope, it is a
valid OpenAPI 3 document, Swagger UI serves it, and schemathesis fuzzes a real
Gunicorn against it: no 5xx, every answer as documented (a bounded run here;
``backend/benchmarks/fuzz_api.py`` runs longer)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def spec_app(model_root, tmp_path_factory):
    from likeness.api import create_app
    from likeness.settings import Settings

    settings = Settings(
        model_root=model_root,
        model_pack="buffalo_s",
        data_dir=tmp_path_factory.mktemp("openapi"),
        workers=1,
    )
    return create_app(settings)


def test_every_api_route_is_documented_with_its_scope(spec_app):
    spec = spec_app.test_client().get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {
        (path, method) for path, operations in spec["paths"].items() for method in operations
    }
    for rule in spec_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        view = spec_app.view_functions[rule.endpoint]
        assert getattr(view, "likeness_scope", None), f"{rule.rule} declares no scope"
        assert getattr(view, "likeness_doc", None), f"{rule.rule} is not documented"
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)  # <int:face_id> -> {face_id}
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, (path, method)
    verify = spec["paths"]["/api/verify"]["post"]
    assert {} in verify["security"]  # anonymous use is on: no key needed either
    assert "consent_basis" in spec["components"]["schemas"]["PersonCreate"]["required"]
    assert set(verify["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    erase = spec["paths"]["/api/persons/{person_id}"]["delete"]
    assert erase["security"] and "401" in erase["responses"] and "403" in erase["responses"]
    assert "admin" in erase["description"]


def test_the_document_is_valid_openapi(spec_app):
    import schemathesis

    spec = spec_app.test_client().get("/api/openapi.json").get_json()
    schema = schemathesis.openapi.from_dict(spec)  # validates the document
    assert len(list(schema.get_all_operations())) >= 18


def test_swagger_ui_is_served_under_its_csp(spec_app):
    client = spec_app.test_client()
    page = client.get("/api/docs")
    assert page.status_code == 200 and b"swagger-ui" in page.data
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert client.get("/api/docs/swagger-ui-bundle.js").status_code == 200
    assert b"/api/openapi.json" in client.get("/api/docs/init.js").data


def test_fuzzing_the_running_api_finds_no_5xx_and_no_undocumented_answer(gunicorn_server, tmp_path):
    """A few hundred generated requests through real HTTP (2 workers)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{gunicorn_server.url}/api/openapi.json",
            "--max-examples",
            "25",
            "--seed",
            "20261125",
            "--phases",
            "examples,fuzzing",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance",
            "--exclude-path-regex",
            "/api/docs/.*",
            "--request-timeout",
            "60",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Traceback" not in gunicorn_server.log()
