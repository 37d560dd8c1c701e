"""Latency (issue 16): per stage and end to end, in-process and over HTTP, p50 and
p95, on this machine, for 1:1 verification of LFW pairs.

* In-process: an engine configured as a one-worker server (every core to one
  request), timing each stage of one pair on its own: decoding (with the server's
  image limits), detection, alignment, embedding, the face checks, and the cosine
  similarity; then ``likeness.verification.verify`` end to end, as the API calls it.
* Over HTTP: ``POST /api/verify`` to Gunicorn with one worker (started here with
  the repository's config, SQLite in a temporary folder, unless ``url`` is given),
  one request at a time. Every request of a round alternates with the in-process
  call on the same pair, so drift in machine speed hits both alike.
* API overhead: HTTP p50 minus in-process p50 (parsing the upload, the response,
  storing the verification for feedback, the socket).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from likeness.engine import FaceEngine, choose_face
from likeness.engine.face_engine import cosine
from likeness.imaging import ImageLimits, load_image
from likeness.quality.gate import FaceGate
from likeness.settings import FacePolicy, Settings
from likeness.verification import verify

REPO = Path(__file__).resolve().parents[2]
STAGES = ("decode", "detect", "align", "embed", "checks", "similarity")


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _summary(values: list[float]) -> dict:
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p95_ms": float(np.percentile(values, 95)),
        "n": len(values),
    }


def stages_of_pair(engine: FaceEngine, gate: FaceGate, limits: ImageLimits,
                   a: bytes, b: bytes) -> dict[str, float]:  # fmt: skip
    """Milliseconds of each stage for one pair (both images)."""
    t = dict.fromkeys(STAGES, 0.0)
    vectors = []
    for data in (a, b):
        start = time.perf_counter()
        image = load_image(data, limits)
        t["decode"] += _ms(start)
        start = time.perf_counter()
        faces = engine.detect(image)
        t["detect"] += _ms(start)
        if not faces:
            raise ValueError("a latency pair has no face")
        policy = FacePolicy(engine.settings.face_policy)
        face = faces[choose_face(faces, image.shape[1], image.shape[0], policy)]
        start = time.perf_counter()
        crop = engine.align(image, face)
        t["align"] += _ms(start)
        start = time.perf_counter()
        unit, norms = engine.embed_aligned([crop])
        t["embed"] += _ms(start)
        start = time.perf_counter()
        gate.check(face, crop, unit[0], float(norms[0]), (image.shape[1], image.shape[0]))
        t["checks"] += _ms(start)
        vectors.append(unit[0])
    start = time.perf_counter()
    cosine(vectors[0], vectors[1])
    t["similarity"] = _ms(start)
    return t


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(model_root: Path, model_pack: str, timeout: float = 120):
    """A one-worker Gunicorn with the repository's config; yields its URL."""
    with tempfile.TemporaryDirectory(prefix="likeness-latency-") as data:
        port = _free_port()
        env = {
            **os.environ,
            "LIKENESS_MODEL_ROOT": str(model_root),
            "LIKENESS_MODEL_PACK": model_pack,
            "LIKENESS_DATA_DIR": data,
            "LIKENESS_PORT": str(port),
            "LIKENESS_HOST": "127.0.0.1",
            "LIKENESS_WORKERS": "1",
        }
        env.pop("LIKENESS_DATABASE_URL", None)
        log = Path(data) / "gunicorn.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--config",
                 str(REPO / "backend" / "gunicorn.conf.py"), "likeness.api.wsgi:app"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
            url = f"http://127.0.0.1:{port}"
            try:
                deadline = time.monotonic() + timeout
                while True:
                    if process.poll() is not None or time.monotonic() > deadline:
                        tail = log.read_text(errors="replace")[-2000:]
                        raise RuntimeError(f"the server did not start:\n{tail}")
                    with contextlib.suppress(requests.RequestException):
                        if requests.get(f"{url}/api/ready", timeout=1).status_code == 200:
                            break
                    time.sleep(0.2)
                yield url
            finally:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def post_verify(session: requests.Session, url: str, a: bytes, b: bytes) -> None:
    """``POST /api/verify`` with two JPEGs; anything but 200 raises."""
    r = session.post(
        f"{url}/api/verify",
        files={"image1": ("a.jpg", a, "image/jpeg"), "image2": ("b.jpg", b, "image/jpeg")},
        timeout=60,
    )
    if r.status_code != 200:
        try:
            detail = r.json().get("error", {}).get("message") or r.text[:200]
        except ValueError:  # not JSON (a proxy's page)
            detail = f"{r.headers.get('Content-Type', 'no content type')} body"
        raise RuntimeError(f"POST {url}/api/verify answered {r.status_code}: {detail}")


def latency(model_root: Path, model_pack: str, pairs: list[tuple[bytes, bytes]], *,
            rounds: int = 2, url: str | None = None,
            api_key: str | None = None) -> dict:  # fmt: skip
    """p50/p95 of every stage, of ``verify`` in-process and of the HTTP call
    (``api_key``: sent as ``X-API-Key`` to a server that wants one)."""
    settings = Settings(model_root=model_root, model_pack=model_pack, workers=1)
    engine = FaceEngine(settings)
    engine.warm_up()
    gate = FaceGate(engine)
    limits = ImageLimits.from_settings(settings)
    server = contextlib.nullcontext(url) if url else gunicorn(model_root, model_pack)
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    in_process, http = [], []
    with server as base, requests.Session() as session:
        if api_key:
            session.headers["X-API-Key"] = api_key
        for a, b in pairs[:3]:  # warm both sides
            verify(engine, {"image1": a, "image2": b}, limits=limits, gate=gate)
            post_verify(session, base, a, b)
        for _ in range(rounds):
            for a, b in pairs:
                for stage, ms in stages_of_pair(engine, gate, limits, a, b).items():
                    stages[stage].append(ms)
                start = time.perf_counter()
                verify(engine, {"image1": a, "image2": b}, limits=limits, gate=gate)
                in_process.append(_ms(start))
                start = time.perf_counter()
                post_verify(session, base, a, b)
                http.append(_ms(start))
    report = {
        "pairs": len(pairs),
        "rounds": rounds,
        "intra_op_threads": settings.session_threads,
        "cores": os.cpu_count(),
        "flip": settings.flip_tta,
        "stages": {s: _summary(v) for s, v in stages.items()},
        "in_process": _summary(in_process),
        "http": _summary(http),
        "server": "given" if url else "gunicorn, 1 worker, started by the suite",
    }
    report["api_overhead_p50_ms"] = report["http"]["p50_ms"] - report["in_process"]["p50_ms"]
    return report
