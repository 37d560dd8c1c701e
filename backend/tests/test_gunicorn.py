"""End to end: real Gunicorn, 2 workers, concurrent requests, a crashed worker."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from support import lfw_path

PAIRS = [
    (("Abel_Pacheco", 1), ("Abel_Pacheco", 4), True),
    (("Abel_Pacheco", 1), ("Akhmed_Zakayev", 1), False),
]


def _verify(url, a: bytes, b: bytes):
    return requests.post(
        f"{url}/api/verify",
        files={"image1": ("a.jpg", a, "image/jpeg"), "image2": ("b.jpg", b, "image/jpeg")},
        timeout=120,
    )


def test_concurrent_verifications_on_two_workers(gunicorn_server, lfw_dir):
    jobs = []
    for _ in range(12):
        for a, b, same in PAIRS:
            jobs.append(
                (lfw_path(lfw_dir, *a).read_bytes(), lfw_path(lfw_dir, *b).read_bytes(), same)
            )
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(
            pool.map(lambda job: (_verify(gunicorn_server.url, job[0], job[1]), job[2]), jobs)
        )
    for response, same in responses:
        assert response.status_code == 200, response.text
        assert response.json()["is_match"] is same
    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(
            pool.map(
                lambda _: requests.get(f"{gunicorn_server.url}/api/health", timeout=30), range(40)
            )
        )
    assert all(set(r.json()) == {"status", "version"} for r in bodies)  # no pid in answers
    # which worker answered is in the server's own log (JSON lines with the pid)
    pids = gunicorn_server.pids_that_answered("/api/health")
    assert pids == gunicorn_server.worker_pids() and len(pids) == 2


def test_crashed_worker_is_replaced(gunicorn_server, lfw_dir):
    before = gunicorn_server.worker_pids()
    victim = sorted(before)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = gunicorn_server.worker_pids()
        if len(now) == 2 and victim not in now:
            break
        time.sleep(0.2)
    assert victim not in gunicorn_server.worker_pids() and len(gunicorn_server.worker_pids()) == 2
    image = lfw_path(lfw_dir, "Abel_Pacheco", 1).read_bytes()
    # The new worker loads its models, then serves.
    deadline = time.monotonic() + 60
    ok = 0
    while time.monotonic() < deadline and ok < 6:
        ok += _verify(gunicorn_server.url, image, image).status_code == 200
    assert ok == 6


def test_slow_clients_do_not_hold_the_workers(gunicorn_server):
    """Two uploads trickling one byte at a time (a slowloris without nginx in front)
    hold one thread each, not the two workers: other requests are answered."""
    import socket

    port = int(gunicorn_server.url.rsplit(":", 1)[1])
    slow = []
    try:
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(
                b"POST /api/detect HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: multipart/form-data; boundary=x\r\n"
                b"Content-Length: 100000\r\n\r\n--x"
            )
            slow.append(sock)
        for _ in range(6):  # while they trickle, every answer comes at once
            for sock in slow:
                sock.sendall(b"a")
            start = time.monotonic()
            answer = requests.get(f"{gunicorn_server.url}/api/health", timeout=10)
            assert answer.status_code == 200
            assert time.monotonic() - start < 3, "a slow client held a worker"
            time.sleep(0.5)
    finally:
        for sock in slow:
            sock.close()


@pytest.mark.slow
def test_a_worker_killed_under_load_costs_only_its_requests_in_flight(
    model_root, lfw_dir, tmp_path
):
    """8 clients verify for 8 s; one worker is SIGKILLed after 2 s. Gunicorn replaces
    it; only requests that were on that worker fail (at most its 4 threads' and the
    connections it had accepted), and every answer that came back is right."""
    import threading

    from support import GunicornServer

    server = GunicornServer(model_root, tmp_path / "load", workers=2).start()
    a, b = (lfw_path(lfw_dir, "Abel_Pacheco", n).read_bytes() for n in (1, 2))
    results = {"ok": 0, "failed": 0, "wrong": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + 8

    def client() -> None:
        while time.monotonic() < deadline:
            try:
                r = requests.post(
                    f"{server.url}/api/verify",
                    files={"image1": ("a.jpg", a), "image2": ("b.jpg", b)},
                    timeout=60,
                )
                key = "ok" if r.status_code == 200 and r.json()["is_match"] else "wrong"
                if r.status_code >= 500:
                    key = "failed"
            except requests.RequestException:
                key = "failed"
            with lock:
                results[key] += 1

    try:
        victim = sorted(server.worker_pids())[0]
        clients = [threading.Thread(target=client) for _ in range(8)]
        for t in clients:
            t.start()
        time.sleep(2)
        os.kill(victim, signal.SIGKILL)
        for t in clients:
            t.join()
        assert results["wrong"] == 0
        assert results["failed"] <= 8, results  # in flight on the victim only
        assert results["ok"] > 20, results
        now = server.worker_pids()
        assert victim not in now and len(now) == 2
    finally:
        server.stop()


@pytest.mark.slow
def test_stalled_and_trickling_uploads_are_cut_off(model_root, tmp_path):
    """A client that stops sending is dropped after the read timeout; one that
    trickles its body gets 408 REQUEST_TIMEOUT at the body deadline."""
    import socket

    from support import GunicornServer

    server = GunicornServer(
        model_root,
        tmp_path / "slow",
        workers=1,
        LIKENESS_READ_TIMEOUT="2",
        LIKENESS_BODY_SECONDS="4",
    ).start()
    port = int(server.url.rsplit(":", 1)[1])
    head = (
        b"POST /api/detect HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n--x"
    )
    try:
        for trickle in (False, True):
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)
            sock.sendall(head)
            start = time.monotonic()
            sock.settimeout(0.5)
            answer = b""
            while time.monotonic() - start < 20 and not answer:
                if trickle:
                    try:
                        sock.sendall(b"a")
                    except OSError:
                        break
                try:
                    answer = sock.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    break
            waited = time.monotonic() - start
            sock.settimeout(5)
            while answer and b"}}" not in answer:  # the JSON body may come in its own packet
                try:
                    more = sock.recv(4096)
                except OSError:
                    break
                if not more:
                    break
                answer += more
            sock.close()
            assert waited < 12, (trickle, waited)
            assert b" 408 " in answer.split(b"\r\n", 1)[0], answer[:200]
            assert b"REQUEST_TIMEOUT" in answer
        assert requests.get(f"{server.url}/api/health", timeout=10).status_code == 200
        assert "Traceback" not in server.log()
    finally:
        server.stop()
