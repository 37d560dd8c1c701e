"""API keys and scopes (issue 10): keys stored hashed, every route behind the
scope it declares, open only on loopback, detect/verify optionally anonymous,
erasures and exports audited. Flask test client with real models; the CLI as a
subprocess."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from sqlalchemy import select

from likeness.auth import KeyStore, covers
from likeness.storage import Database
from likeness.storage.audit import AuditLog
from likeness.storage.models import ApiKeyRow

BOOTSTRAP = "lk_boot0001_aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xYz-_"


def test_scopes_include_the_lower_ones():
    assert covers("admin", "verify") and covers("write", "write") and not covers("verify", "write")
    with pytest.raises(ValueError):
        covers("admin", "root")


def test_keys_are_stored_hashed_and_can_be_revoked(db_url):
    db = Database(db_url)
    keys = KeyStore(db)
    new = keys.create("kiosk", "verify")
    assert new.token.startswith("lk_") and len(new.token) > 40
    with db.session() as session:
        row = session.scalar(select(ApiKeyRow))
        assert new.token not in (row.digest, row.key_id, row.name)
    assert keys.authenticate(new.token).scope == "verify"
    assert keys.authenticate(new.token[:-1] + "x") is None
    assert keys.authenticate("lk_nope_" + "x" * 40) is None
    assert keys.authenticate("Bearer junk") is None
    keys.revoke(new.key.key_id)
    assert keys.authenticate(new.token) is None
    assert keys.list()[0].revoked_at is not None
    db.dispose()


@pytest.fixture
def guarded(make_settings, engine):
    """An app that listens beyond loopback: keys needed, detect/verify anonymous."""
    from likeness.api import create_app

    app = create_app(make_settings(host="0.0.0.0", bootstrap_admin_key=BOOTSTRAP), engine=engine)
    from likeness.api.state import DATABASE

    keys = KeyStore(app.extensions[DATABASE])
    tokens = {scope: keys.create(f"{scope} key", scope).token for scope in ("verify", "write")}
    tokens["admin"] = BOOTSTRAP
    return app, tokens


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def photo_file(lfw, name="Abel_Pacheco", number=1):
    return (io.BytesIO(lfw(name, number).read_bytes()), f"{name}.jpg")


def test_every_route_needs_its_scope_beyond_loopback(guarded, lfw):
    app, tokens = guarded
    client = app.test_client()
    assert client.get("/api/health").status_code == 200  # public
    # detect and verify stay anonymous
    verify = client.post(
        "/api/verify", data={"image1": photo_file(lfw), "image2": photo_file(lfw, number=2)}
    )
    assert verify.status_code == 200
    # everything that reads or changes the gallery, feedback or models needs a key
    for method, path in (
        ("post", "/api/search"),
        ("post", "/api/persons"),
        ("get", "/api/persons"),
        ("get", "/api/models"),
        ("get", "/api/feedback/export"),
        ("delete", "/api/persons/1"),
        ("post", "/api/feedback"),
    ):
        response = getattr(client, method)(path)
        assert response.status_code == 401, (path, response.get_json())
        assert response.get_json()["error"]["code"] == "UNAUTHENTICATED"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # scopes: verify < write < admin
    search = client.post(
        "/api/search", data={"image": photo_file(lfw)}, headers=bearer(tokens["verify"])
    )
    assert search.status_code == 200
    refused = client.post(
        "/api/persons",
        json={"name": "A", "consent_basis": "test"},
        headers=bearer(tokens["verify"]),
    )
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "FORBIDDEN"
    person = client.post(
        "/api/persons",
        json={"name": "Tony", "consent_basis": "test"},
        headers=bearer(tokens["write"]),
    )
    assert person.status_code == 201
    pid = person.get_json()["id"]
    enrolled = client.post(
        f"/api/persons/{pid}/faces",
        data={"image": [photo_file(lfw)]},
        headers={"X-API-Key": tokens["write"]},  # the other header
    )
    assert enrolled.status_code == 201
    assert client.delete(f"/api/persons/{pid}", headers=bearer(tokens["write"])).status_code == 403
    assert client.get("/api/models", headers=bearer(tokens["write"])).status_code == 403
    assert client.get("/api/models", headers=bearer(tokens["admin"])).status_code == 200
    # an admin may lower the search threshold; others may not
    low = {"image": photo_file(lfw), "threshold": "0.1"}
    assert client.post("/api/search", data=low, headers=bearer(tokens["write"])).status_code == 400
    low = {"image": photo_file(lfw), "threshold": "0.1"}
    assert client.post("/api/search", data=low, headers=bearer(tokens["admin"])).status_code == 200
    # erasure and export by the bootstrap admin key, both audited
    assert client.delete(f"/api/persons/{pid}", headers=bearer(tokens["admin"])).status_code == 200
    export = client.get("/api/feedback/export", headers=bearer(tokens["admin"]))
    assert export.status_code == 200
    from likeness.api.state import DATABASE

    entries = AuditLog(app.extensions[DATABASE]).entries()
    assert [e["action"] for e in entries[:2]] == ["feedback.export", "person.erase"]
    assert entries[1]["target"] == str(pid) and entries[1]["actor"].startswith("key:boot0001")
    # a wrong or revoked key is refused even where no key is needed
    assert client.post("/api/detect", headers=bearer("lk_x_" + "y" * 40)).status_code == 401


def test_anonymous_verify_can_be_turned_off_and_loopback_is_open(make_settings, engine, lfw):
    from likeness.api import create_app

    closed = create_app(make_settings(host="0.0.0.0", anonymous_verify=False), engine=engine)
    files = {"image1": photo_file(lfw), "image2": photo_file(lfw, number=2)}
    assert closed.test_client().post("/api/verify", data=files).status_code == 401
    forced = create_app(make_settings(auth_required=True), engine=engine)  # loopback, forced
    assert (
        forced.test_client()
        .post("/api/persons", json={"name": "A", "consent_basis": "test"})
        .status_code
        == 401
    )
    local = create_app(make_settings(), engine=engine)  # loopback: open (make run)
    assert (
        local.test_client()
        .post("/api/persons", json={"name": "A", "consent_basis": "test"})
        .status_code
        == 201
    )


def cli(*args: str, database: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "likeness.cli", *args, "--database-url", database],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_keys_cli_create_list_revoke_and_audit(tmp_path):
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    made = cli("keys", "create", "--name", "ops", "--scope", "admin", database=url)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("lk_") and "shown once" in made.stderr
    listed = cli("keys", "list", database=url)
    assert "ops" in listed.stdout and token not in listed.stdout
    key_id = token.split("_")[1]
    assert cli("keys", "revoke", key_id, database=url).returncode == 0
    assert "revoked" in cli("keys", "list", database=url).stdout
    missing = cli("keys", "revoke", "nope", database=url)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    bad = cli("keys", "create", "--name", "x", "--scope", "root", database=url)
    assert bad.returncode != 0
    audit = cli("audit", database=url).stdout.splitlines()
    assert '"key.revoke"' in audit[0] and '"key.create"' in audit[1]


# --- hosts, cross-site requests, CORS, headers, rate limits ----------------------------
def test_only_trusted_host_names_are_served(make_settings, engine):
    from likeness.api import create_app

    client = create_app(make_settings(), engine=engine).test_client()
    assert client.get("/api/health").status_code == 200  # Host: localhost
    rebound = client.get("/api/feedback/export", headers={"Host": "evil.example"})
    assert rebound.status_code == 400  # DNS rebinding: refused before anything else
    assert rebound.get_json()["error"]["code"] == "UNTRUSTED_HOST"
    app = create_app(make_settings(trusted_hosts=["faces.example.org"]), engine=engine)
    assert (
        app.test_client().get("/api/health", headers={"Host": "faces.example.org:8443"}).status_code
        == 200
    )
    assert app.test_client().get("/api/health").status_code == 400


def test_cross_site_form_posts_need_a_key(make_settings, engine):
    from likeness.api import create_app

    client = create_app(make_settings(), engine=engine).test_client()  # open (loopback)
    form = {"name": "Mallory's victim", "consent_basis": "test"}
    foreign = client.post("/api/persons", data=form, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and foreign.get_json()["error"]["code"] == "FORBIDDEN"
    blind = client.post("/api/persons", data=form, headers={"Sec-Fetch-Site": "cross-site"})
    assert blind.status_code == 403
    own = client.post("/api/persons", data=form, headers={"Origin": "http://localhost"})
    assert own.status_code == 201
    curl = {**form, "name": "Mallory's other victim"}  # names are unique
    assert client.post("/api/persons", data=curl).status_code == 201  # curl: no Origin


def test_cors_allow_list_and_no_wildcard_with_keys(make_settings, engine):
    from likeness.api import create_app
    from likeness.errors import ConfigError

    app = create_app(make_settings(cors_origins=["https://app.example"]), engine=engine)
    answer = app.test_client().get("/api/health", headers={"Origin": "https://app.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Origin" in answer.headers.get("Vary", "")
    other = app.test_client().get("/api/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    with pytest.raises(ConfigError):
        create_app(make_settings(host="0.0.0.0", cors_origins=["*"]), engine=engine)


def test_security_headers_on_api_and_web_app(make_settings, engine, tmp_path):
    from likeness.api import create_app

    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "index.html").write_text("<!doctype html><title>x</title>")
    client = create_app(make_settings(static_dir=tmp_path / "dist"), engine=engine).test_client()
    api = client.get("/api/health")
    assert api.headers["Cache-Control"] == "no-store"
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in api.headers["Content-Security-Policy"]
    page = client.get("/")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    missing = client.get("/api/nothing")
    assert missing.status_code == 404 and missing.headers["Cache-Control"] == "no-store"


def test_rate_limits_per_address_and_per_key(make_settings, engine):
    from likeness.api import create_app
    from likeness.api.state import DATABASE

    app = create_app(
        make_settings(
            host="0.0.0.0", rate_limit_anonymous="2 per minute", rate_limit_key="3 per minute"
        ),
        engine=engine,
    )
    client = app.test_client()
    codes = [client.post("/api/detect").status_code for _ in range(3)]
    assert codes == [415, 415, 429]  # (no body: 415 until the limit)
    limited = client.post("/api/detect")
    assert limited.get_json()["error"]["code"] == "RATE_LIMITED"
    assert client.get("/api/health").status_code == 200  # never limited
    token = KeyStore(app.extensions[DATABASE]).create("busy", "verify").token
    keyed = [client.post("/api/detect", headers=bearer(token)).status_code for _ in range(4)]
    assert keyed == [415, 415, 415, 429]  # its own bucket, its own limit


def test_guessing_keys_is_rate_limited_per_address(make_settings, engine):
    from likeness.api import create_app

    app = create_app(make_settings(host="0.0.0.0", auth_failures_per_minute=5), engine=engine)
    client = app.test_client()
    codes = [
        client.get("/api/gallery", headers=bearer(f"lk_boot0001_guess{i:030d}")).status_code
        for i in range(7)
    ]
    assert codes == [401] * 5 + [429] * 2
    assert client.get("/api/gallery").status_code == 429  # key-less tries count as well
    assert client.get("/api/health").status_code == 200


def test_bootstrap_keys_must_be_strong_and_stay_revoked(make_settings, engine, tmp_path):
    from likeness.api import create_app
    from likeness.api.state import DATABASE
    from likeness.errors import ConfigError

    for weak in ("lk_aaaaaaaaaaaaaaaaaaaaaaaaaaa_x", "lk_b_" + "1" * 40, "lk_c_" + "ab" * 20):
        with pytest.raises(ConfigError):
            create_app(make_settings(bootstrap_admin_key=weak), engine=engine)
    app = create_app(make_settings(host="0.0.0.0", bootstrap_admin_key=BOOTSTRAP), engine=engine)
    keys = KeyStore(app.extensions[DATABASE])
    keys.revoke("boot0001")
    again = create_app(make_settings(host="0.0.0.0", bootstrap_admin_key=BOOTSTRAP), engine=engine)
    assert again.test_client().get("/api/models", headers=bearer(BOOTSTRAP)).status_code == 401
    actions = [e["action"] for e in AuditLog(app.extensions[DATABASE]).entries()]
    assert "key.create" in actions


def test_key_names_cannot_forge_audit_lines(db_url):
    from likeness.errors import ValidationError

    keys = KeyStore(Database(db_url))
    for name in ("x) key:boot0001 (bootstrap", "a\nb", "evil\u202e"):
        with pytest.raises(ValidationError):
            keys.create(name, "verify")
    assert keys.create("door kiosk #2", "verify").key.name == "door kiosk #2"


def test_wrong_methods_say_which_are_allowed(make_settings, engine):
    from likeness.api import create_app

    answer = create_app(make_settings(), engine=engine).test_client().put("/api/verify")
    assert answer.status_code == 405 and answer.get_json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert "POST" in answer.headers["Allow"]


def test_cors_preflights_pass_without_a_key(make_settings, engine):
    from likeness.api import create_app

    app = create_app(
        make_settings(host="0.0.0.0", cors_origins=["https://app.example"]), engine=engine
    )
    preflight = app.test_client().options(
        "/api/persons",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
