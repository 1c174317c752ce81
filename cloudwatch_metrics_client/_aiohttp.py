"""aiohttp middleware: request latency and errors of an ``aiohttp.web`` application.

The implementation of ``cloudwatch_metrics_client.aiohttp``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from ._metrics import Metrics
from ._web import UNMATCHED_ROUTE, RequestRecorder

__all__ = ["metrics_middleware", "setup_metrics"]

Handler = Callable[[Any], Awaitable[Any]]
Middleware = Callable[[Any, Handler], Awaitable[Any]]


def _route_of(request: Any) -> str | None:
    resource = getattr(getattr(request.match_info, "route", None), "resource", None)
    canonical = getattr(resource, "canonical", None)
    return canonical if isinstance(canonical, str) else None


def metrics_middleware(
    metrics: Metrics,
    *,
    metric_name: str = "RequestLatency",
    error_metric_name: str | None = "RequestErrors",
    dimension_names: Mapping[str, str | None] | None = None,
    add_dimensions: Mapping[str, str] | Callable[[Any], Mapping[str, str]] | None = None,
    skip_paths: Collection[str] | Callable[[str], bool] = (),
    route: Callable[[Any], str | None] | None = None,
    unmatched_route: str = UNMATCHED_ROUTE,
) -> Middleware:
    """An aiohttp middleware recording every request into ``metrics``.

    The options are those of :class:`cloudwatch_metrics_client.wsgi.MetricsMiddleware`;
    the request object passed to callables is the ``aiohttp.web.Request``.

    Raises:
        InvalidConfigError: a bad option (the message names it).
        ImportError: aiohttp is not installed.
    """
    from aiohttp import web

    recorder = RequestRecorder(
        metrics,
        metric_name=metric_name,
        error_metric_name=error_metric_name,
        dimension_names=dimension_names,
        add_dimensions=add_dimensions,
        skip_paths=skip_paths,
        route=route,
        unmatched_route=unmatched_route,
    )
    http_exception = web.HTTPException

    @web.middleware
    async def cloudwatch_metrics(request: Any, handler: Handler) -> Any:
        if recorder.skip(request.path):
            return await handler(request)
        status, failed = 500, True
        start = time.perf_counter()
        try:
            response = await handler(request)
            status, failed = response.status, False
            return response
        except http_exception as exc:  # an answer (404, redirect...), not a failure
            status, failed = exc.status, False
            raise
        finally:
            seconds = time.perf_counter() - start
            try:
                template = _route_of(request)
            except Exception:  # noqa: BLE001 - an unusual resource: no template
                template = None
            recorder.record(template, request.method, status, seconds, failed, request)

    cloudwatch_metrics.recorder = recorder  # type: ignore[attr-defined]
    return cloudwatch_metrics


def setup_metrics(
    app: Any, metrics: Metrics, *, manage_reporter: bool = True, **options: Any
) -> Middleware:
    """Add :func:`metrics_middleware` to ``app`` and, with ``manage_reporter``, start the
    metrics' async reporter on startup (unless it is running) and stop (drain) it on
    cleanup (if it was started here).

    Args:
        app: the ``aiohttp.web.Application``.
        metrics: where to record.
        manage_reporter: False to leave the reporter alone.
        options: the keyword options of :func:`metrics_middleware`.

    Returns:
        The middleware added.
    """
    middleware = metrics_middleware(metrics, **options)
    app.middlewares.append(middleware)
    if manage_reporter:
        started: list[bool] = []

        async def start(_app: Any) -> None:
            reporter: Any = metrics.reporter
            if reporter is not None and getattr(reporter, "running", True) is False:
                await reporter.run()
                started.append(True)

        async def stop(_app: Any) -> None:
            if started:
                started.clear()
                reporter: Any = metrics.reporter
                await reporter.stop()

        app.on_startup.append(start)
        app.on_cleanup.append(stop)
    return middleware
