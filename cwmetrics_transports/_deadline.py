"""A total deadline for one blocking httpx send: an httpcore network backend.

httpx's ``Timeout`` bounds each read and write, so a peer that trickles its answer one
byte at a time never trips it. :class:`DeadlineBackend` wraps httpcore's sync backend:
every connect, TLS handshake, read and write waits at most ``min(its own timeout, time
left until the deadline)``, and fails at once past it, so the whole send ends by the
deadline (plus one socket call's scheduling slack). httpcore closes a connection whose
read or write failed, so a trickling peer's connection is never reused.

The deadline is per thread (:class:`Deadline`): the transport sets it around one
``client.send()``; a connection is only ever used by the thread that sends on it.
"""

from __future__ import annotations

import threading
import time
import typing
from typing import Any

import httpcore

__all__ = ["Deadline", "DeadlineBackend", "DeadlineStream"]


class Deadline(threading.local):
    """The ``time.monotonic()`` instant the current thread's send must end by."""

    at: float | None = None
    total: float | None = None

    def budget(self, timeout: float | None, error: type[Exception]) -> float | None:
        """``timeout`` shortened to the time left; raises ``error`` when none is left."""
        at = self.at
        if at is None:
            return timeout
        left = at - time.monotonic()
        if left <= 0:
            raise error(f"the send's total deadline of {self.total} s has passed")
        return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every operation respects the thread's :class:`Deadline`."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        budget = self._deadline.budget(timeout, httpcore.ReadTimeout)
        return self._inner.read(max_bytes, budget)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        budget = self._deadline.budget(timeout, httpcore.WriteTimeout)
        self._inner.write(buffer, budget)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        budget = self._deadline.budget(timeout, httpcore.ConnectTimeout)
        inner = self._inner.start_tls(ssl_context, server_hostname, budget)
        return DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's sync backend with every operation bounded by ``deadline``."""

    def __init__(self, deadline: Deadline, inner: httpcore.NetworkBackend | None = None) -> None:
        self._deadline = deadline
        self._inner = inner if inner is not None else httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        budget = self._deadline.budget(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, budget, local_address, socket_options)
        return DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        budget = self._deadline.budget(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_unix_socket(path, budget, socket_options)
        return DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
