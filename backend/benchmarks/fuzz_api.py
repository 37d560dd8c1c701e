"""A longer schemathesis run against a real Gunicorn (the suite runs a short one):
every operation of /api/openapi.json with ``--max-examples`` generated requests
each, all phases, every check but "schema-valid requests are accepted" (a random
string is a valid ``image`` field for the schema and never a decodable image), on
a server that needs keys (an admin key is sent, and the auth checks try others).

    .venv/bin/python backend/benchmarks/fuzz_api.py --model-root ../shared/models \
        --max-examples 200
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support import GunicornServer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-root", type=Path, required=True)
    parser.add_argument("--max-examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        key = "lk_fuzz0001_" + secrets.token_urlsafe(32)
        server = GunicornServer(
            args.model_root,
            Path(folder),
            workers=2,
            LIKENESS_MAX_UPLOAD_BYTES=str(2 << 20),
            LIKENESS_AUTH_REQUIRED="true",
            LIKENESS_BOOTSTRAP_ADMIN_KEY=key,
            LIKENESS_RATE_LIMITS="false",
        ).start()
        started = time.perf_counter()
        try:
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "schemathesis.cli",
                    "run",
                    f"{server.url}/api/openapi.json",
                    "--max-examples",
                    str(args.max_examples),
                    "--seed",
                    str(args.seed),
                    "--checks",
                    "all",
                    "--exclude-checks",
                    "positive_data_acceptance",
                    "--header",
                    f"Authorization: Bearer {key}",
                    "--exclude-path-regex",
                    "/api/docs/.*",
                    "--request-timeout",
                    "60",
                ],
                text=True,
            )
        finally:
            server.stop()
        tracebacks = server.log().count("Traceback")
    print(
        f"# schemathesis exit {result.returncode}, {time.perf_counter() - started:.0f} s, "
        f"tracebacks in the server log: {tracebacks}"
    )
    return result.returncode or (1 if tracebacks else 0)


if __name__ == "__main__":
    sys.exit(main())
