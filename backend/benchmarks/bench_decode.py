"""Hostile images: what decoding costs, before and after the guards of issue 9.

Each case runs in a fresh subprocess (so peak RSS is the case's own) and reports
wall time and the rise of peak RSS over the process after imports, for

  unguarded   Pillow's open + load + the previous conversion chain (RGBA ->
              composite over white -> RGB -> array -> BGR), as ``decode_image``
              did before (commit 28c59e1), with only the pixel check it had
  decode_image  today's ``likeness.imaging.decode_image`` with default limits

Cases (made here, nothing downloaded):
  scan-bomb     a 4000x4000 progressive JPEG whose last scan is repeated 3,000
                times (under the 25 Mpx limit; every scan is a pass over the image)
  webp-25mpx    a 5000x5000 lossless RGBA WebP of one colour (a few KB)
  worst-legal   the most a request may cost now: a 5000x5000 progressive JPEG
                with the most scans allowed (64)

  .venv/bin/python backend/benchmarks/bench_decode.py
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

CHILD = r"""
import json, resource, sys, time, warnings
import cv2, numpy as np
from PIL import Image
from likeness.imaging import decode_image
from likeness.errors import LikenessError

def unguarded(data):
    import io
    Image.MAX_IMAGE_PIXELS = None
    pil = Image.open(io.BytesIO(data))
    if pil.size[0] * pil.size[1] > 40_000_000:
        raise ValueError("too many pixels")
    pil.load()
    if pil.mode in ("RGBA", "LA", "PA"):
        rgba = pil.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        pil = Image.alpha_composite(background, rgba)
    if pil.mode != "RGB":
        pil = pil.convert("RGB")
    return cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)

path, how = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
outcome = "decoded"
try:
    image = unguarded(data) if how == "unguarded" else decode_image(data)
    outcome = f"decoded {image.shape[1]}x{image.shape[0]}"
except LikenessError as error:
    outcome = f"refused {error.code}"
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mb": (peak - base) / 1024, "outcome": outcome}))
"""


def progressive(width: int, height: int, extra_scans: int) -> bytes:
    """A flat grey progressive JPEG (its refinement scans are a few bytes each)."""
    out = io.BytesIO()
    Image.new("L", (width, height), 128).save(out, "JPEG", progressive=True, quality=90)
    data = out.getvalue()
    last, end = data.rindex(b"\xff\xda"), data.rindex(b"\xff\xd9")
    return data[:end] + data[last:end] * extra_scans + data[end:]


def webp(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (200, 150, 100, 128)).save(out, "WEBP", lossless=True)
    return out.getvalue()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", help="a subset of the cases")
    args = parser.parse_args()
    cases = {
        "scan-bomb": lambda: progressive(4000, 4000, 20_000),
        "webp-25mpx": lambda: webp(5000, 5000),
        "worst-legal": lambda: progressive(5000, 5000, 64 - 10),
    }
    print(f"{'case':12s} {'bytes':>10s} {'path':>13s} {'seconds':>8s} {'peak MB':>8s}  outcome")
    with tempfile.TemporaryDirectory() as folder:
        for name, make in cases.items():
            if args.cases and name not in args.cases:
                continue
            path = Path(folder) / name
            path.write_bytes(make())
            for how in ("unguarded", "decode_image"):
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, str(path), how],
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                if out.returncode:
                    print(f"{name:12s} {how}: failed\n{out.stderr[-2000:]}")
                    continue
                r = json.loads(out.stdout.strip().splitlines()[-1])
                print(
                    f"{name:12s} {path.stat().st_size:10,d} {how:>13s} {r['seconds']:8.2f} "
                    f"{r['peak_mb']:8.0f}  {r['outcome']}",
                    flush=True,
                )
    print("# command: .venv/bin/python backend/benchmarks/bench_decode.py")


if __name__ == "__main__":
    main()
