"""Helpers for the web middleware tests: real servers on 127.0.0.1, series read back from
the local CloudWatch."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from cwmetrics_transports.testing import LocalCloudWatch

NS = "Web/Test"


def latency_series(
    cw: LocalCloudWatch, metric: str = "RequestLatency", namespace: str = NS
) -> dict[tuple[tuple[str, str], ...], float]:
    """Dimensions -> sample count of every series of ``metric`` the endpoint accepted."""
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for (ns, name, dims), stats in cw.series().items():
        if ns == namespace and name == metric:
            out[tuple(dims)] = out.get(tuple(dims), 0.0) + stats.sample_count
    return out


def dims(route: str, method: str = "GET", status: str = "2xx") -> tuple[tuple[str, str], ...]:
    return (("Method", method), ("Route", route), ("StatusClass", status))


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Serve a WSGI app on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


@contextlib.contextmanager
def serve_asgi(app: Any, lifespan: str = "on") -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a thread (lifespan included); the
    server is shut down (lifespan shutdown run) when the block ends."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan=lifespan, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"
