"""docker-compose.yml validated by the Docker CLI's compose (``docker compose config``,
or Debian's ``docker-compose`` v1 where the compose plugin is missing), and the
Dockerfiles checked against the Makefile's install rule and the nginx template.
No Docker engine is needed; a missing docker CLI or compose FAILS the test."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from paths import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
BACKEND_DOCKERFILE = REPO / "backend" / "Dockerfile"
FRONTEND_DOCKERFILE = REPO / "frontend" / "Dockerfile"
TEMPLATE = REPO / "nginx" / "templates" / "default.conf.template"


@cache
def compose_command() -> tuple[str, ...]:
    docker = shutil.which("docker")
    if not docker:
        pytest.fail("the docker CLI is not installed", pytrace=False)
    if subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return (docker, "compose")
    legacy = shutil.which("docker-compose")
    if legacy:
        return (legacy,)
    pytest.fail(
        "neither `docker compose` (plugin) nor `docker-compose` is installed "
        "(apt-get install docker-compose; .ci/run does)",
        pytrace=False,
    )


def compose_config(*profiles: str, **env: str) -> dict:
    command = [*compose_command(), "-f", str(COMPOSE_FILE)]
    for profile in profiles:
        command += ["--profile", profile]
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("LIKENESS_")}
    out = subprocess.run(
        [*command, "config"], capture_output=True, text=True, cwd=REPO, env={**clean_env, **env}
    )
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def active(config: dict) -> set[str]:
    """Services that run without naming a profile (v1 lists the others with theirs)."""
    return {name for name, svc in config["services"].items() if not svc.get("profiles")}


def mounts(service: dict) -> dict[str, dict]:
    """target -> {source, read_only} for short and long volume syntax."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            parts = volume.split(":")
            found[parts[1]] = {"source": parts[0], "read_only": parts[2:] == ["ro"]}
        else:
            found[volume["target"]] = {
                "source": volume["source"],
                "read_only": bool(volume.get("read_only")),
            }
    return found


def test_compose_default_services():
    config = compose_config()
    assert active(config) == {"backend", "web", "purge"}
    services = config["services"]
    # `web` is the only published port.
    published = {name for name, svc in services.items() if svc.get("ports")}
    assert published == {"web"}
    (port,) = services["web"]["ports"]
    if isinstance(port, str):
        assert port.endswith(":8080")
    else:
        assert int(port["target"]) == 8080 and int(port["published"]) == 8080
    backend, web = services["backend"], services["web"]
    assert backend["build"]["dockerfile"] == "backend/Dockerfile"
    assert backend["build"]["args"]["RUNTIME"] == "cpu"
    assert web["build"]["dockerfile"] == "frontend/Dockerfile"
    assert web["environment"]["LIKENESS_BACKEND"] == "backend:8000"
    assert web["depends_on"]["backend"]["condition"] == "service_healthy"
    env = backend["environment"]
    assert env["LIKENESS_MODEL_ROOT"] == "/models" and env["LIKENESS_DATA_DIR"] == "/data"
    assert env["LIKENESS_DATABASE_URL"] in ("", None)  # SQLite in the data volume
    volumes = mounts(backend)
    assert volumes["/models"]["read_only"] and not volumes["/data"]["read_only"]
    assert volumes["/data"]["source"] == "likeness-data"
    assert "likeness-data" in config["volumes"]


def test_compose_profiles_eval_and_postgres():
    config = compose_config("eval", "postgres")
    services = config["services"]
    wanted = {"eval", "postgres"}
    chosen = {n for n, svc in services.items()
              if not svc.get("profiles") or wanted & set(svc["profiles"])}  # fmt: skip
    assert chosen == {"backend", "web", "purge", "eval", "postgres"}
    assert services["eval"]["profiles"] == ["eval"]
    assert services["postgres"]["profiles"] == ["postgres"]
    assert services["eval"]["build"]["dockerfile"] == "eval/Dockerfile"
    assert set(mounts(services["eval"])) == {"/models", "/data", "/out"}
    assert not services["postgres"].get("ports") and not services["eval"].get("ports")


def test_compose_settings_are_overridable():
    url = "postgresql://likeness:likeness@postgres:5432/likeness"
    config = compose_config(
        "postgres",
        LIKENESS_DATABASE_URL=url,
        LIKENESS_RUNTIME="gpu",
        LIKENESS_WEB_PORT="9090",
        LIKENESS_MODELS_DIR="/srv/models",
    )
    backend = config["services"]["backend"]
    assert backend["environment"]["LIKENESS_DATABASE_URL"] == url
    assert backend["build"]["args"]["RUNTIME"] == "gpu"
    assert mounts(backend)["/models"]["source"] == "/srv/models"
    (port,) = config["services"]["web"]["ports"]
    assert "9090" in json.dumps(port)


#: Settings the containers fix for themselves (address, mounts, no web app, a
#: writer-only gallery on workers) and the proxy count nginx needs on the backend.
CONTAINER_FIXED = {"host", "port", "model_root", "data_dir", "static_dir", "gallery_index"}
BACKEND_FIXED = {"LIKENESS_TRUSTED_PROXIES"}
#: Secrets only the API reads stay out of the workers' and the purge's environment.
BACKEND_ONLY = {"LIKENESS_BOOTSTRAP_ADMIN_KEY"}


def test_every_setting_reaches_the_containers():
    """Any LIKENESS_* setting set in the shell (or .env) reaches the backend, the
    workers and the daily purge; one not set stays unset (the settings' default);
    LIKENESS_CONFIG (a path on the host) does not."""
    from likeness.settings import Settings

    config = compose_config(
        "scale",
        LIKENESS_VERIFICATION_MAX_DAYS="7",
        LIKENESS_ANONYMOUS_VERIFY="false",
        LIKENESS_LOG_LEVEL="DEBUG",
        LIKENESS_CONFIG="/home/someone/likeness.yaml",
    )
    for name in ("backend", "worker", "cluster-worker", "purge"):
        env = config["services"][name]["environment"]
        assert env["LIKENESS_VERIFICATION_MAX_DAYS"] == "7", name
        assert env["LIKENESS_ANONYMOUS_VERIFY"] == "false", name
        assert env["LIKENESS_LOG_LEVEL"] == "DEBUG", name
        assert env.get("LIKENESS_MIN_QUALITY") is None, name  # not set: left unset
        assert "LIKENESS_CONFIG" not in env, name
    declared = yaml.safe_load(COMPOSE_FILE.read_text())
    shared = set(declared["x-shared-env"])
    backend_own = set(declared["services"]["backend"]["environment"]) - shared  # merged in
    assert backend_own == BACKEND_FIXED | BACKEND_ONLY, "a setting only the backend gets"
    for name in ("worker", "cluster-worker", "purge"):
        assert not BACKEND_ONLY & set(config["services"][name]["environment"]), name
    missing = [
        f"LIKENESS_{n.upper()}"
        for n in Settings.model_fields
        if n not in CONTAINER_FIXED
        and f"LIKENESS_{n.upper()}" not in shared | BACKEND_FIXED | BACKEND_ONLY
    ]
    assert not missing, f"settings docker-compose.yml does not pass through: {missing}"


def test_compose_scale_profile():
    """Redis, Celery workers and a clustering worker beside the backend replicas;
    every one of them on the same models, database and queue."""
    url = "postgresql://likeness:likeness@postgres:5432/likeness"
    broker = "redis://redis:6379/0"
    config = compose_config("scale", "postgres", LIKENESS_DATABASE_URL=url,
                            LIKENESS_BROKER_URL=broker)  # fmt: skip
    services = config["services"]
    assert {"redis", "worker", "cluster-worker"} <= set(services)
    assert active(compose_config()) == {"backend", "web", "purge"}  # scale is opt-in
    for name in ("backend", "worker", "cluster-worker"):
        env = services[name]["environment"]
        assert env["LIKENESS_DATABASE_URL"] == url and env["LIKENESS_BROKER_URL"] == broker
        assert mounts(services[name])["/models"]["read_only"]
    assert services["worker"]["command"][:2] == ["likeness", "worker"]
    cluster = services["cluster-worker"]["command"]
    assert cluster[cluster.index("--queues") + 1] == "cluster"
    assert cluster[cluster.index("--concurrency") + 1] == "1"
    for name in ("backend", "worker"):  # the folder to index, at the same path
        assert mounts(services[name])["/photos"]["read_only"]
    assert not any(services[n].get("ports") for n in ("redis", "worker", "cluster-worker"))
    # without the scale profile the backend runs jobs itself (no broker)
    assert compose_config()["services"]["backend"]["environment"]["LIKENESS_BROKER_URL"] in (
        "", None)  # fmt: skip


# --- Dockerfiles ------------------------------------------------------------------------
def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def makefile_install_steps() -> list[str]:
    """The pip steps of the Makefile's .installed rule that the backend image repeats."""
    makefile = (REPO / "Makefile").read_text()
    insightface = re.search(r"^INSIGHTFACE := (\S+)", makefile, re.M).group(1)
    rule = re.search(r"^\$\(VENV\)/\.installed:.*?\n((?:\t.*\n)+)", makefile, re.M).group(1)
    steps = [" ".join(line.split()) for line in rule.splitlines()]
    assert any("-r backend/requirements.lock" in s for s in steps)
    assert any("--no-deps $(INSIGHTFACE)" in s for s in steps)
    return [insightface]


def test_backend_dockerfile():
    steps = instructions(BACKEND_DOCKERFILE)
    text = " ".join(arg for _, arg in steps)
    froms = [arg for kind, arg in steps if kind == "FROM"]
    assert froms[0].startswith("python:3.11-slim")
    assert any("nvidia/cuda" in arg or "CUDA_IMAGE" in arg for arg in froms)
    assert ("ARG", "RUNTIME=cpu") in steps
    # Same install order as the Makefile: lock file, insightface without deps, backend.
    (insightface,) = makefile_install_steps()
    assert f"INSIGHTFACE={insightface}" in text
    positions = [
        text.index("pip install -r backend/requirements.lock"),
        text.index('pip install --no-deps "${INSIGHTFACE}"'),
        text.index("pip install --no-deps ./backend"),
    ]
    assert positions == sorted(positions)
    assert "onnxruntime-gpu" in text
    user = [arg for kind, arg in steps if kind == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert "LIKENESS_MODEL_ROOT=/models" in text and "LIKENESS_DATA_DIR=/data" in text
    assert "ARG MODELS_DIR" in " ".join(f"{k} {a}" for k, a in steps)
    assert any(kind == "HEALTHCHECK" and "/api/ready" in arg for kind, arg in steps)
    cmd = [arg for kind, arg in steps if kind == "CMD"][-1]
    assert json.loads(cmd)[:3] == ["gunicorn", "--config", "/app/backend/gunicorn.conf.py"]
    assert "LIKENESS_HOST=0.0.0.0" in text and "LIKENESS_PORT=8000" in text


def test_frontend_dockerfile_uses_the_template():
    steps = instructions(FRONTEND_DOCKERFILE)
    text = " ".join(arg for _, arg in steps)
    froms = [arg for kind, arg in steps if kind == "FROM"]
    assert froms[0].startswith("node:20") and "nginx" in froms[-1] and "1.27" in froms[-1]
    assert "npm ci" in text and "npm run build" in text
    assert "/etc/nginx/templates/default.conf.template" in text
    # Every variable of the template has a default in the image.
    variables = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)\}", TEMPLATE.read_text()))
    env = " ".join(arg for kind, arg in steps if kind == "ENV")
    assert variables and all(f"{name}=" in env for name in variables), (variables, env)
    assert any(kind == "HEALTHCHECK" for kind, _ in steps)
    user = [arg for kind, arg in steps if kind == "USER"]
    assert user[-1] not in ("root", "0")


def test_dockerfile_sources_exist_and_are_not_ignored():
    ignored = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for dockerfile in (BACKEND_DOCKERFILE, FRONTEND_DOCKERFILE):
        for kind, arg in instructions(dockerfile):
            if kind != "COPY" or "--from=" in arg:
                continue
            sources = [s for s in arg.split() if not s.startswith("--")][:-1]
            for source in sources:
                source = source.replace("${MODELS_DIR}", "backend/docker/no-models").rstrip("/")
                assert (REPO / source).exists(), f"{dockerfile.name}: COPY {source} is missing"
                top = source.split("/")[0]
                assert source not in ignored and top not in ignored, (dockerfile, source)
