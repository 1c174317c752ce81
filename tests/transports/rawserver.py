"""A raw-socket HTTP/1.1 listener on 127.0.0.1 with scripted (mis)behaviour.

Each accepted connection reads one request (head and ``Content-Length`` body), records
it, then answers with the server's ``behaviour``:

* ``"ok"``: ``200`` with ``{}`` at once;
* ``"late"``: the same answer after ``LATE`` (8) seconds;
* ``"trickle_head"``: the status line and headers one byte per ``TRICKLE`` (0.2) s;
* ``"trickle_body"``: headers at once, then a 400-byte body one byte per ``TRICKLE`` s;
* ``"error"``: ``error_status`` with ``error_body`` and ``error_headers`` at once.

Every wait is bounded and cut short by :meth:`RawServer.close`, which also joins the
threads (bounded), so a test never outlives its server by more than a fraction of a
second. Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from dataclasses import dataclass, field
from types import TracebackType

LATE = 8.0
TRICKLE = 0.2

OK_BODY = b"{}"


def _answer(status: str, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/x-amz-json-1.0",
             f"Content-Length: {len(body)}", "x-amzn-RequestId: raw-1"]  # fmt: skip
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_request(
    conn: socket.socket | ssl.SSLSocket, stop: threading.Event
) -> tuple[bytes, bytes] | None:
    """Read one request (head, ``Content-Length`` body) from ``conn``; None when the peer
    closed, the head passed 1 MiB, or ``stop`` was set. ``conn`` may have a timeout: each
    timed-out read re-checks ``stop``."""
    data = b""
    while b"\r\n\r\n" not in data:
        if stop.is_set() or len(data) > 1 << 20:
            return None
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        if stop.is_set():
            return None
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            return None
        body += chunk
    return head, body


@dataclass
class Received:
    """One request as the listener read it."""

    peer: tuple[str, int]
    head: bytes
    body: bytes

    @property
    def target(self) -> str:
        return self.head.split(b"\r\n", 1)[0].split(b" ")[1].decode()

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.decode("latin-1").partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


@dataclass
class RawServer:
    """The listener; use as a context manager."""

    behaviour: str = "ok"
    tls: ssl.SSLContext | None = None
    error_status: str = "400 Bad Request"
    error_body: bytes = b""
    error_headers: tuple[tuple[str, str], ...] = ()
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        #: Set when a peer closed a connection while this server was still answering.
        self.peer_closed = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._accepter = threading.Thread(target=self._accept, name="raw-accept", daemon=True)
        self._accepter.start()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._accepter.join(2)
        for conn in list(self._conns):
            with contextlib.suppress(OSError):
                conn.close()
        for thread in self._threads:
            thread.join(2)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(conn)
            thread = threading.Thread(
                target=self._serve, args=(conn, peer), name="raw-conn", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _trickle(self, conn: socket.socket | ssl.SSLSocket, data: bytes) -> None:
        for i in range(len(data)):
            if self._stop.wait(TRICKLE):
                return
            conn.sendall(data[i : i + 1])

    def _serve(self, raw: socket.socket, peer: tuple[str, int]) -> None:
        conn: socket.socket | ssl.SSLSocket = raw
        try:
            raw.settimeout(0.1)
            if self.tls is not None:
                raw.settimeout(5)
                conn = self.tls.wrap_socket(raw, server_side=True)
                conn.settimeout(0.1)
            while not self._stop.is_set():
                request = read_request(conn, self._stop)
                if request is None:
                    return
                self.received.append(Received(peer, *request))
                if self.behaviour == "ok":
                    conn.sendall(_answer("200 OK", OK_BODY))
                elif self.behaviour == "late":
                    if self._stop.wait(LATE):
                        return
                    conn.sendall(_answer("200 OK", OK_BODY))
                elif self.behaviour == "trickle_head":
                    self._trickle(conn, _answer("200 OK", OK_BODY, (("X-Pad", "p" * 100),)))
                    return
                elif self.behaviour == "trickle_body":
                    body = b'{"pad": "' + b"p" * 390 + b'"}'
                    answer = _answer("200 OK", body)
                    head_len = len(answer) - len(body)
                    conn.sendall(answer[:head_len])
                    self._trickle(conn, body)
                    return
                else:
                    conn.sendall(_answer(self.error_status, self.error_body, self.error_headers))
        except (OSError, ssl.SSLError):
            if not self._stop.is_set():
                self.peer_closed.set()
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()
