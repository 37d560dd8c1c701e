"""A request body must arrive within ``LIKENESS_BODY_SECONDS``: a client that
trickles its upload (a byte now and then, under every read timeout) is answered
``408 REQUEST_TIMEOUT`` instead of holding a thread for as long as it likes."""

from __future__ import annotations

import time

from likeness.errors import RequestTimeoutError


class _DeadlineStream:
    def __init__(self, stream, deadline: float, seconds: float) -> None:
        self._stream, self._deadline, self._seconds = stream, deadline, seconds

    def _check(self) -> None:
        if time.monotonic() > self._deadline:
            raise RequestTimeoutError(
                f"The request body did not arrive within {self._seconds:g} s."
            )

    def _call(self, name: str, *args):
        self._check()
        try:
            return getattr(self._stream, name)(*args)
        except (TimeoutError, ConnectionError) as exc:  # the socket's read timeout
            raise RequestTimeoutError("The client stopped sending the request body.") from exc

    def read(self, *args):
        return self._call("read", *args)

    def readline(self, *args):
        return self._call("readline", *args)

    def readlines(self, *args):
        return self._call("readlines", *args)

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line


class BodyDeadline:
    """WSGI middleware: wraps ``wsgi.input`` with the deadline."""

    def __init__(self, app, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    def __call__(self, environ, start_response):
        deadline = time.monotonic() + self.seconds
        environ["wsgi.input"] = _DeadlineStream(environ["wsgi.input"], deadline, self.seconds)
        return self.app(environ, start_response)
