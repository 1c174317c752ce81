"""ASGI middleware: request latency and errors for Starlette, FastAPI and any ASGI app.

The implementation of ``cloudwatch_metrics_client.asgi``."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, MutableMapping
from typing import Any

from ._metrics import Metrics
from ._web import UNMATCHED_ROUTE, RequestRecorder

__all__ = ["MetricsMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def starlette_route(scope: Scope, root_path: str) -> str | None:
    """The Starlette/FastAPI route template of a handled request, mounts included.

    Starlette's router stores the matched route in ``scope["route"]``; a route inside a
    ``Mount`` is relative to it, so the mount templates are found again by matching the
    request from the application's routes (only for mounted routes).
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return None
    if scope.get("root_path", "") == root_path:
        return path or "/"
    routes = getattr(scope.get("app"), "routes", None)
    probe: dict[str, Any] = {**scope, "root_path": root_path, "path_params": {}}
    prefix = ""
    for _ in range(16):  # mounts nest a few levels at most
        if not routes:
            return None
        for candidate in routes:
            if candidate is route:
                return prefix + path or "/"
            inner = getattr(candidate, "routes", None)
            if inner is None or not hasattr(candidate, "matches"):
                continue
            match, child = candidate.matches(probe)
            if getattr(match, "name", None) == "FULL":
                prefix += getattr(candidate, "path", "")
                probe.update(child)
                routes = inner
                break
        else:
            return None
    return None


class MetricsMiddleware:
    """Records every HTTP request of an ASGI application; manages the reporter's life.

    Args:
        app: the ASGI application.
        metrics: a :class:`~cloudwatch_metrics_client.Metrics` (namespace, reporter,
            default dimensions).
        manage_reporter: on lifespan startup, start the metrics' async reporter unless it
            is running already, and stop (drain) it on shutdown if this middleware
            started it. An application that does not speak the lifespan protocol gets
            it answered here. False: leave the reporter alone.
        metric_name: the latency metric (milliseconds), ``RequestLatency``.
        error_metric_name: the error count (the application raised, or a 5xx); None:
            not recorded.
        dimension_names: rename or drop ``Route``, ``Method``, ``StatusClass``.
        add_dimensions: a mapping, or a callable taking the ASGI scope, returning one.
        skip_paths: paths not recorded (exact matches), or a callable taking the path.
        route: a callable taking the ASGI scope and returning the route template (or
            None), for an application without a Starlette router.
        unmatched_route: the ``Route`` of requests no route matched.

    The options are described in full on
    :class:`cloudwatch_metrics_client.wsgi.MetricsMiddleware`.

    Raises:
        InvalidConfigError: a bad option (the message names it).
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        *,
        manage_reporter: bool = True,
        metric_name: str = "RequestLatency",
        error_metric_name: str | None = "RequestErrors",
        dimension_names: Mapping[str, str | None] | None = None,
        add_dimensions: Mapping[str, str] | Callable[[Any], Mapping[str, str]] | None = None,
        skip_paths: Collection[str] | Callable[[str], bool] = (),
        route: Callable[[Any], str | None] | None = None,
        unmatched_route: str = UNMATCHED_ROUTE,
    ) -> None:
        self.app = app
        self.recorder = RequestRecorder(
            metrics,
            metric_name=metric_name,
            error_metric_name=error_metric_name,
            dimension_names=dimension_names,
            add_dimensions=add_dimensions,
            skip_paths=skip_paths,
            route=route,
            unmatched_route=unmatched_route,
        )
        self.manage_reporter = bool(manage_reporter)
        self._started_reporter = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan" and self.manage_reporter:
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        recorder = self.recorder
        if recorder.skip(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers when the application raises first

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        root_path = scope.get("root_path", "")
        failed = True
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
            failed = False
        finally:
            seconds = time.perf_counter() - start
            try:
                route = starlette_route(scope, root_path)
            except Exception:  # noqa: BLE001 - an unusual router: no template
                route = None
            recorder.record(route, scope.get("method", "GET"), status, seconds, failed, scope)

    # ------------------------------------------------------------ lifespan
    async def _start_reporter(self) -> None:
        reporter = self.recorder.metrics.reporter
        # Only an async reporter that is not running yet (a thread-driven one manages
        # its own life: fork and exit hooks).
        if getattr(reporter, "running", True) or not inspect.iscoroutinefunction(
            getattr(reporter, "run", None)
        ):
            return
        await reporter.run()  # type: ignore[union-attr]
        self._started_reporter = True

    async def _stop_reporter(self) -> None:
        if self._started_reporter:
            self._started_reporter = False
            await self.recorder.metrics.reporter.stop()  # type: ignore[union-attr]

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        answered = False  # the application sent a lifespan.* message itself
        pending: list[Message] = []  # messages it received without answering

        async def watch_receive() -> Message:
            message = await receive()
            pending.append(message)
            return message

        async def watch_send(message: Message) -> None:
            nonlocal answered
            answered = True
            kind = message["type"]
            if kind == "lifespan.startup.complete":
                await self._start_reporter()
            elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self._stop_reporter()
            await send(message)

        try:
            await self.app(scope, watch_receive, watch_send)
        except Exception:
            if answered:
                raise
            # The application does not speak the lifespan protocol: answer it here so the
            # reporter still starts and drains with the server.
            await self._serve_lifespan(pending, receive, send)

    async def _serve_lifespan(self, pending: list[Message], receive: Receive, send: Send) -> None:
        while True:
            message = pending.pop(0) if pending else await receive()
            kind = message["type"]
            if kind == "lifespan.startup":
                await self._start_reporter()
                await send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                await self._stop_reporter()
                await send({"type": "lifespan.shutdown.complete"})
                return
