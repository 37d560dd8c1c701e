"""Decoding with a deadline: a forked child decodes into shared memory and is
killed when it takes too long. Used for the files whose decoding time is not
bounded by their pixel count alone (JPEGs of several scans). The child runs only
Pillow and numpy (no OpenCV or ONNX Runtime thread pools, which fork would leave
without their threads) and leaves with ``os._exit``."""

from __future__ import annotations

import mmap
import os
import select
import signal
import struct
import time
from collections.abc import Callable

import numpy as np

from likeness.errors import (
    ImageDecodeError,
    ImageTooComplexError,
    LikenessError,
    TruncatedImageError,
)

_HEADER = struct.Struct("<qqq")  # status, height, width
_ERRORS = {1: TruncatedImageError, 2: ImageDecodeError, 3: ImageDecodeError}


def decode_with_deadline(
    decode: Callable[[], np.ndarray], max_pixels: int, seconds: float
) -> np.ndarray:
    """``decode()`` (-> an (H, W, 3) uint8 array of at most ``max_pixels`` pixels)
    run in a child process; ``ImageTooComplexError`` if it has not finished in
    ``seconds``."""
    shared = mmap.mmap(-1, max(1, max_pixels * 3))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: decode, copy out, leave without cleanup
        status, shape = 3, (0, 0)
        try:
            os.close(read_end)
            image = decode()
            height, width = image.shape[:2]
            if height * width > max_pixels:
                raise ImageDecodeError()
            shared[: image.nbytes] = np.ascontiguousarray(image).tobytes()
            status, shape = 0, (height, width)
        except TruncatedImageError:
            status = 1
        except LikenessError:
            status = 2
        except BaseException:  # noqa: BLE001 - the parent reports it as unreadable
            status = 3
        try:
            os.write(write_end, _HEADER.pack(status, *shape))
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        deadline = time.monotonic() + seconds
        ready: list = []
        while not ready:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([read_end], [], [], left)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            raise ImageTooComplexError(
                f"The image took more than {seconds:g} s to decode and was given up."
            )
        message = os.read(read_end, _HEADER.size)
        if len(message) != _HEADER.size:
            raise ImageDecodeError()
        status, height, width = _HEADER.unpack(message)
        if status != 0:
            raise _ERRORS.get(status, ImageDecodeError)()
        return np.frombuffer(shared, np.uint8, height * width * 3).reshape(height, width, 3).copy()
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
        shared.close()
