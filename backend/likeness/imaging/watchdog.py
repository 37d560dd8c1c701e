"""Decoding with a deadline: a forked child decodes into shared memory and is
killed when it takes too long. Used for the files whose decoding time is not
bounded by their pixel count alone (JPEGs of several scans). The child runs only
Pillow and numpy (no OpenCV or ONNX Runtime thread pools, which fork would leave
without their threads) and leaves with ``os._exit``."""

from __future__ import annotations

import contextlib
import math
import mmap
import os
import resource
import select
import signal
import struct
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
    run in a child process limited to ``seconds`` of CPU time (``RLIMIT_CPU``, so a
    busy machine does not refuse good files), and to a generous wall-clock time;
    ``ImageTooComplexError`` when it is given up. The child is always reaped."""
    shared = mmap.mmap(-1, max(1, max_pixels * 3))
    read_end = write_end = -1
    pid = 0
    try:
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError as exc:
            raise ImageDecodeError("The image could not be decoded now; try again.") from exc
        if pid == 0:
            _child(decode, shared, write_end, read_end, max_pixels, seconds)
        os.close(write_end)
        write_end = -1
        poller = select.poll()
        poller.register(read_end, select.POLLIN | select.POLLHUP)
        if not poller.poll(int((seconds * 4 + 5) * 1000)):
            raise ImageTooComplexError(
                f"The image took more than {seconds:g} s to decode and was given up."
            )
        message = os.read(read_end, _HEADER.size)
        if len(message) != _HEADER.size:  # killed by its CPU limit, or crashed
            raise ImageTooComplexError(
                f"The image took more than {seconds:g} s to decode and was given up."
            )
        status, height, width = _HEADER.unpack(message)
        if status != 0:
            raise _ERRORS.get(status, ImageDecodeError)()
        return np.frombuffer(shared, np.uint8, height * width * 3).reshape(height, width, 3).copy()
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
        if pid > 0:
            with contextlib.suppress(ProcessLookupError):  # exited already: a no-op
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        shared.close()


def _child(decode, shared, write_end: int, read_end: int, max_pixels: int, seconds: float):
    """In the forked child: limit CPU time, decode, copy out, leave without cleanup."""
    status, shape = 3, (0, 0)
    try:
        os.close(read_end)
        limit = max(1, math.ceil(seconds))
        resource.setrlimit(resource.RLIMIT_CPU, (limit, limit + 1))
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
