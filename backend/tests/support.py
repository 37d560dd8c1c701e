"""Helpers the tests and benchmarks import: LFW paths and a real Gunicorn server.
(Not in conftest.py, whose module name other test folders share.)"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from paths import REPO, TEST_PACK


def lfw_path(lfw_dir: Path, name: str, number: int) -> Path:
    for variant in ("lfw-deepfunneled", "lfw"):
        path = lfw_dir / variant / name / f"{name}_{number:04d}.jpg"
        if path.exists():
            return path
    raise FileNotFoundError(f"{name} {number} not in {lfw_dir}")


# --- a real Gunicorn server ------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GunicornServer:
    """Gunicorn with the repo's config, on a free port, with its own data dir."""

    def __init__(self, model_root: Path, data_dir: Path, workers: int = 2, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "gunicorn.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "LIKENESS_MODEL_ROOT": str(model_root),
            "LIKENESS_MODEL_PACK": TEST_PACK,
            "LIKENESS_DATA_DIR": str(data_dir),
            "LIKENESS_PORT": str(self.port),
            "LIKENESS_HOST": "127.0.0.1",
            "LIKENESS_WORKERS": str(workers),
            **env,
        }
        if "LIKENESS_DATABASE_URL" not in env:
            self.env.pop("LIKENESS_DATABASE_URL", None)
        self.workers = workers
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> GunicornServer:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                str(REPO / "backend" / "gunicorn.conf.py"),
                "likeness.api.wsgi:app",
            ],
            cwd=REPO,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/api/ready", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn not ready in {timeout}s:\n{self.log()}")

    def worker_pids(self) -> set[int]:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True
        )
        return {int(p) for p in out.stdout.split()}

    def kill(self) -> None:
        """SIGKILL the master and every worker at once (a power cut, as far as the
        processes can tell)."""
        import signal

        for pid in [*self.worker_pids(), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pids_that_answered(self, path: str, since: int = 0) -> set[int]:
        """The workers that answered requests for ``path`` (from the JSON log lines),
        after the first ``since`` characters of the log."""
        pids = set()
        for line in self.log()[since:].splitlines():
            if line.startswith("{") and f'"path": "{path}"' in line:
                pids.add(json.loads(line)["pid"])
        return pids

    def stop(self) -> None:
        """Stop Gunicorn; a worker still there once its master is gone (one that hung
        on its way out) is killed rather than left orphaned."""
        if self.process and self.process.poll() is None:
            workers = self.worker_pids()
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            import signal

            for pid in workers:
                with contextlib.suppress(ProcessLookupError, FileNotFoundError):
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                    if b"gunicorn" in cmdline:  # still ours, not a reused pid
                        os.kill(pid, signal.SIGKILL)
        if hasattr(self, "_log"):
            self._log.close()
