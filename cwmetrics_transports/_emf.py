"""EmfTransport: Embedded Metric Format documents to stdout, a text stream or the agent.

The core packs EMF documents (:class:`~cwmetrics_core.EmfSink`, bound because this
transport declares it in :meth:`EmfTransport.make_sink`); this transport only writes a
request's body, one document per line:

* ``"stdout"``: ``sys.stdout`` as it is at each send (AWS Lambda turns each line into a
  CloudWatch Logs event, and CloudWatch extracts the metrics);
* any text stream (an object with ``write``; ``flush`` is called when present);
* ``"tcp://host:port"``: the CloudWatch agent's EMF listener (port 25888). One
  connection, reused; a connection the agent closed is noticed before writing; after a
  failed connect the next attempt waits with a doubling backoff (``reconnect_backoff``),
  and a send inside that pause fails at once. A failure is a
  ``SendOutcome(ok=False, error_code="NetworkError")``: the core keeps the data and
  retries with its own backoff. Recording never waits for any of it (sends happen in the
  reporter's thread or task);
* ``"udp://host:port"``: one datagram per document, newline included; the sink keeps each
  document within :data:`~cwmetrics_core._limits.EMF_MAX_UDP_DATAGRAM_BYTES`.

With no ``target``, ``AWS_EMF_AGENT_ENDPOINT`` (read when the transport is built, never at
import) chooses the agent, else ``"stdout"``.

Delivery is at least once, as EMF's own: a TCP write that fails half-way is sent again
whole, and documents before the break may arrive twice (the agent drops a truncated line).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import sys
import threading
import time
from typing import Any, Protocol

from cwmetrics_core import EmfSink, Limits, PutMetricDataRequest, SendOutcome, WireFormat
from cwmetrics_core._limits import EMF_MAX_EVENT_BYTES, EMF_MAX_UDP_DATAGRAM_BYTES

from ._base import AsyncTransport, Transport, run_in_daemon_thread
from ._errors import InvalidEndpointError

__all__ = ["EmfTransport", "AGENT_ENDPOINT_ENV"]

#: The environment variable naming the CloudWatch agent's EMF endpoint.
AGENT_ENDPOINT_ENV = "AWS_EMF_AGENT_ENDPOINT"

log = logging.getLogger("cwmetrics_transports.emf")
_OK = SendOutcome(ok=True)


class _TextStream(Protocol):
    def write(self, text: str, /) -> Any: ...


def _parse_agent(target: str, source: str) -> tuple[str, str, int]:
    scheme, sep, rest = target.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("tcp", "udp"):
        raise InvalidEndpointError(
            f"{source}={target!r}: expected 'stdout', 'tcp://host:port' or 'udp://host:port'"
        )
    host, colon, port_text = rest.rstrip("/").rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidEndpointError(
            f"{source}={target!r}: needs a host and a port in 1..65535 ({scheme}://host:port)"
        )
    return scheme, host, int(port_text)


class EmfTransport(Transport, AsyncTransport):
    """Writes Embedded Metric Format documents (sync ``send`` and async ``asend``).

    Args:
        target: ``"stdout"``, a text stream, ``"tcp://host:port"`` or ``"udp://host:port"``;
            None: ``AWS_EMF_AGENT_ENDPOINT`` if set, else ``"stdout"``.
        log_group: ``_aws.LogGroupName`` in each document (the agent's destination log
            group); None leaves it to the agent's configuration.
        log_stream: ``_aws.LogStreamName``, likewise.
        timeout: seconds a TCP connect or write may take.
        reconnect_backoff: ``(first, most)`` seconds between TCP connect attempts after a
            failure (doubling; reset by a success).
        max_document_bytes: largest document (default: one CloudWatch Logs event, or one
            UDP datagram for ``udp://``).

    Raises:
        InvalidEndpointError: a target that is none of the above (names where it came from).
        InvalidConfigError: an out-of-range size (from :class:`~cwmetrics_core.EmfSink`).
    """

    wire_format = WireFormat.EMF

    def __init__(
        self,
        target: str | _TextStream | None = None,
        *,
        log_group: str | None = None,
        log_stream: str | None = None,
        timeout: float = 2.0,
        reconnect_backoff: tuple[float, float] = (0.1, 5.0),
        max_document_bytes: int | None = None,
    ) -> None:
        source = "target"
        if target is None:
            target = os.environ.get(AGENT_ENDPOINT_ENV) or "stdout"
            source = AGENT_ENDPOINT_ENV
        self._stream: _TextStream | None = None
        self._host = ""
        self._port = 0
        if isinstance(target, str):
            if target == "stdout":
                self.kind = "stdout"
            else:
                self.kind, self._host, self._port = _parse_agent(target, source)
        elif callable(getattr(target, "write", None)):
            self.kind = "stream"
            self._stream = target
        else:
            raise InvalidEndpointError(
                f"target={target!r}: expected 'stdout', a text stream, 'tcp://host:port' "
                "or 'udp://host:port'"
            )
        if max_document_bytes is None:
            max_document_bytes = (
                EMF_MAX_UDP_DATAGRAM_BYTES - 1 if self.kind == "udp" else EMF_MAX_EVENT_BYTES
            )
        self._max_document_bytes = max_document_bytes
        self._log_group = log_group
        self._log_stream = log_stream
        self.make_sink(Limits())  # bad sizes or names raise here, at construction
        self.timeout = float(timeout)
        self._backoff_first, self._backoff_most = (float(b) for b in reconnect_backoff)
        self._backoff = 0.0
        self._connect_at = 0.0
        self._sock: socket.socket | None = None
        self._udp_addr: Any = None
        self._lock = threading.Lock()
        self.closed = False

    @property
    def target(self) -> str:
        """Where documents go: ``"stdout"``, ``"stream"`` or ``"tcp://host:port"``."""
        if self.kind in ("stdout", "stream"):
            return self.kind
        return f"{self.kind}://{self._host}:{self._port}"

    def make_sink(self, limits: Limits) -> EmfSink:
        """An :class:`~cwmetrics_core.EmfSink` for this target (document size, log group)."""
        return EmfSink(
            limits,
            max_document_bytes=self._max_document_bytes,
            log_group=self._log_group,
            log_stream=self._log_stream,
        )

    # ------------------------------------------------------------------ sending
    def send(self, request: PutMetricDataRequest) -> SendOutcome:
        """Write the request's documents; a failure is returned, never raised."""
        if request.wire_format is not WireFormat.EMF:
            return SendOutcome(
                ok=False,
                error_code="InvalidParameterValue",
                message=f"EmfTransport got a {request.wire_format.value!r} request",
            )
        if self.kind == "stdout":
            return self._write(sys.stdout, request.body)
        if self.kind == "stream":
            assert self._stream is not None
            return self._write(self._stream, request.body)
        with self._lock:
            if self.kind == "tcp":
                return self._send_tcp(request.body)
            return self._send_udp(request.body)

    async def asend(self, request: PutMetricDataRequest) -> SendOutcome:
        """As :meth:`send`; socket I/O runs in a worker thread, stream writes inline."""
        if self.kind in ("stdout", "stream"):
            return self.send(request)
        return await run_in_daemon_thread(functools.partial(self.send, request))

    @staticmethod
    def _write(stream: _TextStream, body: bytes) -> SendOutcome:
        try:
            stream.write(body.decode("ascii"))
            flush = getattr(stream, "flush", None)
            if flush is not None:
                flush()
        except (OSError, ValueError) as exc:  # closed stream, broken pipe
            return SendOutcome(ok=False, error_code="NetworkError", message=repr(exc))
        return _OK

    def _failed(self, what: str, exc: BaseException | None = None) -> SendOutcome:
        message = f"CloudWatch agent at {self.target}: {what}"
        if exc is not None:
            message += f" ({exc!r})"
        log.debug("%s", message)
        return SendOutcome(ok=False, error_code="NetworkError", message=message)

    def _drop_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def _peer_closed(self, sock: socket.socket) -> bool:
        """True when the agent closed the connection (or reset it) since the last write."""
        try:
            sock.setblocking(False)
            try:
                return sock.recv(1, socket.MSG_PEEK) == b""
            finally:
                sock.settimeout(self.timeout)
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _send_tcp(self, body: bytes) -> SendOutcome:
        sock = self._sock
        if sock is not None and self._peer_closed(sock):
            self._drop_socket()
            sock = None
        if sock is None:
            now = time.monotonic()
            if now < self._connect_at:
                return self._failed(f"not connected; next attempt in {self._connect_at - now:.2f}s")
            try:
                sock = socket.create_connection((self._host, self._port), timeout=self.timeout)
            except OSError as exc:
                self._backoff = min(
                    max(self._backoff * 2, self._backoff_first), self._backoff_most
                )
                self._connect_at = time.monotonic() + self._backoff
                return self._failed("connect failed", exc)
            sock.settimeout(self.timeout)
            self._sock = sock
            self._backoff = 0.0
        try:
            sock.sendall(body)
        except OSError as exc:
            self._drop_socket()
            return self._failed("write failed", exc)
        return _OK

    def _send_udp(self, body: bytes) -> SendOutcome:
        try:
            if self._sock is None:
                family, kind, proto, _name, addr = socket.getaddrinfo(
                    self._host, self._port, type=socket.SOCK_DGRAM
                )[0]
                self._sock = socket.socket(family, kind, proto)
                self._udp_addr = addr
            sock = self._sock
            for line in body.split(b"\n"):
                if line:
                    sock.sendto(line + b"\n", self._udp_addr)
        except OSError as exc:
            self._drop_socket()
            return self._failed("datagram not sent", exc)
        return _OK

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the agent connection (stdout and streams are left open). Idempotent."""
        with self._lock:
            self._drop_socket()
            self.closed = True

    async def aclose(self) -> None:
        """As :meth:`close`."""
        self.close()

    def __repr__(self) -> str:
        return f"EmfTransport(target={self.target!r})"
