"""Gunicorn's threaded worker with time limits on every client socket:

* a read timeout (``LIKENESS_READ_TIMEOUT``): a client that stops sending frees its
  thread after that long;
* a request deadline (``LIKENESS_BODY_SECONDS``): from the first byte of a request
  until its answer starts, however the bytes trickle in (a byte now and then would
  pass every read timeout).

Either one ends in a ``TimeoutError`` in the read; ``likeness.api.deadline`` turns
it into ``408 REQUEST_TIMEOUT``. (Gunicorn's own ``timeout`` only watches the
worker, not its connections.)"""

from __future__ import annotations

import time

from gunicorn.workers import gthread

from likeness.settings import get_settings


class DeadlineSocket:
    """A client socket whose every receive waits at most the read timeout and never
    past the current request's deadline. Sending an answer ends the request: the
    next receive starts the next request's deadline (keep-alive)."""

    def __init__(self, sock, read_timeout: float, request_seconds: float) -> None:
        self._sock = sock
        self._read_timeout = read_timeout
        self._request_seconds = request_seconds
        self._deadline: float | None = None

    def _arm(self) -> None:
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self._request_seconds
        left = self._deadline - now
        if left <= 0:
            raise TimeoutError("the request took longer than its deadline")
        self._sock.settimeout(min(self._read_timeout, left))

    def recv(self, *args):
        self._arm()
        return self._sock.recv(*args)

    def recv_into(self, *args):
        self._arm()
        return self._sock.recv_into(*args)

    def send(self, *args):
        self._deadline = None
        self._sock.settimeout(self._read_timeout)
        return self._sock.send(*args)

    def sendall(self, *args):
        self._deadline = None
        self._sock.settimeout(self._read_timeout)
        return self._sock.sendall(*args)

    def setblocking(self, flag):  # gunicorn makes it blocking; ours keep their timeout
        if not flag:
            self._sock.setblocking(False)

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _TimedConn(gthread.TConn):
    def init(self):
        if not self.initialized:
            settings = get_settings()
            self.sock.setblocking(True)
            self.sock = DeadlineSocket(self.sock, settings.read_timeout, settings.body_seconds)
        super().init()


class ReadTimeoutWorker(gthread.ThreadWorker):
    """``worker_class`` of gunicorn.conf.py when threads > 1."""

    def init_process(self):
        gthread.TConn = _TimedConn  # the class the worker builds its connections with
        super().init_process()
