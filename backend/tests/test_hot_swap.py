"""End to end (issue 15): a model version activated in a running two-worker
Gunicorn, and rolled back, while clients keep searching, verifying and
detecting. No request fails, every worker ends on the new version without a
restart, and search keeps finding the enrolled person."""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter

import pytest
import requests

from modelfiles import perturbed_recogniser, writable_root
from support import GunicornServer

pytestmark = pytest.mark.slow


def _b64(path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _wait_job(url: str, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(f"{url}/api/jobs/{job_id}", timeout=30).json()
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def _versions_served(url: str, tries: int = 24) -> set[str]:
    return {
        requests.get(f"{url}/api/models", timeout=30).json()["version"]["id"] for _ in range(tries)
    }


class Clients:
    """Threads that search, verify and detect until stopped; every answer counted."""

    def __init__(self, url: str, probe, pair) -> None:
        self.url, self.stop = url, threading.Event()
        self.statuses: Counter = Counter()
        self.errors: list[str] = []
        self.found: Counter = Counter()
        self.probe, self.pair = _b64(probe), (_b64(pair[0]), _b64(pair[1]))
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(4)]

    def _once(self, i: int) -> None:
        kind = ("search", "verify", "search", "detect")[i % 4]
        if kind == "search":
            r = requests.post(f"{self.url}/api/search", json={"image": self.probe}, timeout=60)
            if r.status_code == 200:
                identity = r.json()["identity"]
                self.found[identity["name"] if identity else None] += 1
        elif kind == "verify":
            r = requests.post(
                f"{self.url}/api/verify",
                json={"image1": self.pair[0], "image2": self.pair[1]},
                timeout=60,
            )
        else:
            r = requests.post(f"{self.url}/api/detect", json={"image": self.probe}, timeout=60)
        self.statuses[(kind, r.status_code)] += 1
        if r.status_code != 200:
            self.errors.append(f"{kind} {r.status_code}: {r.text[:300]}")

    def _run(self, i: int) -> None:
        while not self.stop.is_set():
            try:
                self._once(i)
            except requests.RequestException as error:  # a dropped connection counts too
                self.errors.append(f"{type(error).__name__}: {error}")

    def __enter__(self) -> Clients:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)


def test_activation_and_rollback_under_load_fail_no_request(tmp_path, lfw_photo, make_settings):
    from likeness.registry import ModelRegistry
    from likeness.storage import Database

    root = writable_root(tmp_path)
    data = tmp_path / "data"
    server = GunicornServer(
        root, data, workers=2, LIKENESS_MODEL_REFRESH_SECONDS="0.5", LIKENESS_THREADS="2"
    ).start()
    try:
        url = server.url
        for name, person in (("Ada", "Colin_Powell"), ("Bea", "Tony_Blair")):
            made = requests.post(
                f"{url}/api/persons", json={"name": name, "consent_basis": "test"}, timeout=30
            ).json()
            photos = [_b64(lfw_photo(person, 1)), _b64(lfw_photo(person, 2))]
            added = requests.post(
                f"{url}/api/persons/{made['id']}/faces", json={"images": photos}, timeout=60
            )
            assert added.status_code == 201, added.text
        # a candidate version, registered beside the running service
        settings = make_settings(model_root=root, data_dir=data)
        db = Database(settings.sqlalchemy_url)
        registry = ModelRegistry(db, settings)
        candidate = registry.register(
            perturbed_recogniser(tmp_path / "variant.onnx", 0.02), parent=registry.active(),
            data_sha256=None, metrics={}, gate="none", created_by="test",
        )  # fmt: skip
        db.dispose()
        assert _versions_served(url) == {"buffalo_s-base"}

        probe = lfw_photo("Colin_Powell", 3)
        pair = (lfw_photo("Tony_Blair", 3), lfw_photo("Tony_Blair", 4))
        with Clients(url, probe, pair) as clients:
            time.sleep(2)
            refused = requests.post(
                f"{url}/api/models/versions/{candidate.id}/activate", json={}, timeout=30
            )
            assert refused.status_code == 409  # never gated: needs force
            started = requests.post(
                f"{url}/api/models/versions/{candidate.id}/activate",
                json={"force": True},
                timeout=30,
            )
            assert started.status_code == 202, started.text
            job = _wait_job(url, started.json()["id"])
            assert job["state"] == "succeeded", job
            time.sleep(2)
            assert _versions_served(url) == {candidate.id}  # both workers, no restart
            before_rollback = sum(clients.statuses.values())
            back = requests.post(f"{url}/api/models/rollback", timeout=30)
            assert back.status_code == 202, back.text
            assert _wait_job(url, back.json()["id"])["state"] == "succeeded"
            time.sleep(2)
            assert _versions_served(url) == {"buffalo_s-base"}
        assert not clients.errors, clients.errors[:5]
        total = sum(clients.statuses.values())
        assert total > before_rollback > 20, clients.statuses
        assert set(clients.found) == {"Ada"}, clients.found
        models = requests.get(f"{url}/api/models/versions", timeout=30).json()
        assert models["active"] == "buffalo_s-base"
        assert {v["id"]: v["status"] for v in models["versions"]} == {
            "buffalo_s-base": "active",
            candidate.id: "retired",
        }
    finally:
        server.stop()
