"""nginx/templates/default.conf.template, rendered as the official image's envsubst
step does, run by Debian's nginx in front of a real Gunicorn (buffalo_s), serving
the built SPA. nginx missing fails the test (``.ci/run`` installs it)."""

from __future__ import annotations

import gzip
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from paths import REPO
from support import GunicornServer, free_port

TEMPLATE = REPO / "nginx" / "templates" / "default.conf.template"
FRONTEND = REPO / "frontend"
TEMPLATE_VARS = ("NGINX_PORT", "LIKENESS_BACKEND", "LIKENESS_WEB_ROOT")


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if not found:
        pytest.fail("nginx is not installed (apt-get install nginx; .ci/run does)", pytrace=False)
    return found


def render_template(text: str, values: dict[str, str]) -> str:
    """What the image's ``envsubst "$defined_envs"`` does: replace ``${VAR}`` for the
    variables that are set, leave everything else (nginx's own ``$uri``...) alone."""
    rendered = re.sub(
        r"\$\{([A-Z_][A-Z0-9_]*)\}", lambda m: values.get(m.group(1), m.group(0)), text
    )
    left = re.findall(r"\$\{([A-Z_][A-Z0-9_]*)\}", rendered)
    assert not left, f"template variables without a value: {left}"
    return rendered


class NginxServer:
    """Debian's nginx in the foreground with a temp prefix and our template."""

    def __init__(self, prefix: Path, backend: str, web_root: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefix = prefix
        prefix.mkdir(parents=True, exist_ok=True)
        server = render_template(
            TEMPLATE.read_text(),
            {
                "NGINX_PORT": f"127.0.0.1:{self.port}",
                "LIKENESS_BACKEND": backend,
                "LIKENESS_WEB_ROOT": str(web_root),
            },
        )
        (prefix / "default.conf").write_text(server)
        mime = Path("/etc/nginx/mime.types")
        types = (
            f"include {mime};"
            if mime.exists()
            else "types { text/html html; text/css css; application/javascript js; }"
        )
        # As root, workers would drop to `nobody` and could not read pytest's tmp dirs.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
        temps = "\n".join(
            f"    {name}_temp_path {prefix / name};"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (prefix / "nginx.conf").write_text(
            f"""{user}
daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    {types}
    default_type application/octet-stream;
    access_log {prefix / "access.log"};
    sendfile on;
{temps}
    include {prefix / "default.conf"};
}}
"""
        )
        self.command = [nginx_binary(), "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
        self.process: subprocess.Popen | None = None

    def check(self) -> str:
        out = subprocess.run([*self.command, "-t"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stderr

    def start(self, timeout: float = 10) -> NginxServer:
        self.check()
        self.process = subprocess.Popen(
            [*self.command, "-e", str(self.prefix / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown of master and workers
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def web_root(tmp_path_factory) -> Path:
    """The real SPA, built into a temp dir (frontend/dist is left alone); a tiny
    stand-in with a hashed bundle only if the repo has no frontend yet."""
    out = tmp_path_factory.mktemp("spa")
    if (FRONTEND / "package.json").exists():
        npm = shutil.which("npm")
        if not npm:
            pytest.fail("npm is not installed (needed to build the SPA)", pytrace=False)
        if not (FRONTEND / "node_modules").exists():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)
        build = subprocess.run(
            [
                npm,
                "run",
                "build",
                "--",
                "--outDir",
                str(out),
                "--emptyOutDir",
                "--logLevel",
                "warn",
            ],
            cwd=FRONTEND,
            capture_output=True,
            text=True,
        )
        assert build.returncode == 0, build.stdout + build.stderr
    else:
        (out / "assets").mkdir()
        (out / "assets" / "index-Ab12Cd34.js").write_text("console.log('likeness');\n" * 400)
        (out / "index.html").write_text(
            '<!doctype html><html><head><script type="module" '
            'src="/assets/index-Ab12Cd34.js"></script></head><body><div id="root"></div>'
            "</body></html>\n"
        )
    assert (out / "index.html").exists() and list((out / "assets").glob("*.js"))
    return out


@pytest.fixture(scope="module")
def backend(model_root, tmp_path_factory):
    """Real Gunicorn (1 worker, default 10 MiB upload limit) on a free port."""
    server = GunicornServer(model_root, tmp_path_factory.mktemp("gunicorn-nginx"), workers=1)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def nginx(backend, web_root, tmp_path_factory):
    server = NginxServer(
        tmp_path_factory.mktemp("nginx"), f"127.0.0.1:{backend.port}", web_root
    ).start()
    yield server
    server.stop()


def test_index_is_served_and_never_cached(nginx, web_root):
    index = (web_root / "index.html").read_bytes()
    for path in ("/", "/index.html", "/some/client/route"):  # the last: SPA fallback
        response = requests.get(nginx.url + path, timeout=5)
        assert response.status_code == 200, path
        assert response.headers["Content-Type"].startswith("text/html")
        assert response.headers["Cache-Control"] == "no-cache", path
        assert "script-src 'self'" in response.headers["Content-Security-Policy"], path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.content == index
    assert "Server" not in response.headers or "nginx/" not in response.headers["Server"]


def test_hashed_assets_are_cached_long_and_gzipped(nginx, web_root):
    bundle = max((web_root / "assets").glob("*.js"), key=lambda p: p.stat().st_size)
    response = requests.get(
        f"{nginx.url}/assets/{bundle.name}",
        headers={"Accept-Encoding": "gzip"},
        timeout=5,
        stream=True,
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    raw = response.raw.read()  # still compressed
    assert len(raw) < bundle.stat().st_size / 2
    assert gzip.decompress(raw) == bundle.read_bytes()

    missing = requests.get(f"{nginx.url}/assets/index-missing.js", timeout=5)
    assert missing.status_code == 404 and b"<div" not in missing.content


def test_verify_through_nginx(nginx, lfw):
    files = {
        "image1": ("a.jpg", lfw("Abel_Pacheco", 1).read_bytes(), "image/jpeg"),
        "image2": ("b.jpg", lfw("Abel_Pacheco", 4).read_bytes(), "image/jpeg"),
    }
    response = requests.post(
        f"{nginx.url}/api/verify", files=files, headers={"X-Request-ID": "via-nginx-1"}, timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["is_match"] is True and body["similarity"] > body["threshold"]
    assert response.headers["X-Request-ID"] == "via-nginx-1"
    vote = requests.post(
        f"{nginx.url}/api/feedback",
        json={"verification_id": body["verification_id"], "vote": "up"},
        timeout=10,
    )
    assert vote.status_code == 201, vote.text
    export = requests.get(f"{nginx.url}/api/feedback/export", timeout=10)
    assert export.status_code == 403 and export.json()["error"]["code"] == "FORBIDDEN"
    assert requests.get(f"{nginx.url}/healthz", timeout=5).text == "ok\n"
    ready = requests.get(f"{nginx.url}/api/ready", timeout=5)
    assert ready.status_code == 200 and ready.json()["ready"] is True


def test_oversized_upload_gets_413_json_from_nginx(nginx):
    big = b"\0" * (31 * 1024 * 1024)  # over client_max_body_size 30m
    files = {"image1": ("a.jpg", big, "image/jpeg"), "image2": ("b.jpg", b"x", "image/jpeg")}
    response = requests.post(f"{nginx.url}/api/verify", files=files, timeout=60)
    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert set(response.json()["error"]) == {"code", "message", "field"}


def test_body_between_backend_and_nginx_limits_gets_backend_413(nginx):
    """29 MiB passes nginx (30m) and is refused by Flask (28.1 MiB): same shape."""
    files = {"image1": ("a.jpg", b"\0" * (29 * 1024 * 1024), "image/jpeg")}
    response = requests.post(f"{nginx.url}/api/verify", files=files, timeout=60)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "proxy limit" not in response.json()["error"]["message"]


def test_backend_down_gets_502_json(web_root, tmp_path):
    server = NginxServer(tmp_path / "nginx", f"127.0.0.1:{free_port()}", web_root).start()
    try:
        response = requests.get(f"{server.url}/api/ready", timeout=10)
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "BACKEND_UNAVAILABLE"
        assert requests.get(server.url + "/", timeout=5).status_code == 200  # SPA still up
    finally:
        server.stop()


def test_backend_image_healthcheck_command(backend):
    """backend/Dockerfile's HEALTHCHECK, run as is against the real Gunicorn."""
    dockerfile = (REPO / "backend" / "Dockerfile").read_text()
    command = json.loads(
        re.search(r"^HEALTHCHECK [^\n]*\\\n\s*CMD (\[[^\n]*\])$", dockerfile, re.M)[1]
    )
    assert command[0] == "python"
    command[0] = sys.executable
    ready = subprocess.run(command, env={**os.environ, "LIKENESS_PORT": str(backend.port)})
    assert ready.returncode == 0
    down = subprocess.run(
        command, env={**os.environ, "LIKENESS_PORT": str(free_port())}, capture_output=True
    )
    assert down.returncode != 0
