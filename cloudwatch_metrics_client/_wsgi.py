"""WSGI middleware: request latency and errors for Flask, Django and any WSGI app.

The implementation of ``cloudwatch_metrics_client.wsgi``."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any

from ._metrics import Metrics
from ._web import UNMATCHED_ROUTE, RequestRecorder

__all__ = ["MetricsMiddleware", "ROUTE_KEY"]

#: The environ key an application may set to the route template of the request.
ROUTE_KEY = "cloudwatch_metrics_client.route"

Environ = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def _flask_route(environ: Environ) -> str | None:
    """Flask (werkzeug) keeps the request object in the environ; its ``url_rule`` is the
    matched rule (None for a 404)."""
    request = environ.get("werkzeug.request")
    rule = getattr(request, "url_rule", None)
    text = getattr(rule, "rule", None)
    return text if isinstance(text, str) else None


def _django_route(environ: Environ) -> str | None:
    """The Django URL resolver's route for the request path (None: no match)."""
    from django.urls import Resolver404, resolve

    try:
        match = resolve(environ.get("PATH_INFO", "") or "/")
    except Resolver404:
        return None
    route = match.route
    if not isinstance(route, str):
        return None
    return route if route.startswith("/") else "/" + route


def _is_django(app: object) -> bool:
    """The Django WSGI handler, without importing Django for other applications."""
    if "django" not in sys.modules:
        return False
    try:
        from django.core.handlers.wsgi import WSGIHandler
    except ImportError:
        return False
    return isinstance(app, WSGIHandler)


class MetricsMiddleware:
    """Records every request of a WSGI application.

    Args:
        app: the WSGI application (``flask_app.wsgi_app``, Django's
            ``get_wsgi_application()``, any callable).
        metrics: a :class:`~cloudwatch_metrics_client.Metrics` (namespace, reporter,
            default dimensions).
        metric_name: the latency metric (milliseconds), ``RequestLatency``.
        error_metric_name: the error count (the application raised, or a 5xx), with the
            same dimensions; None: not recorded.
        dimension_names: rename or drop ``Route``, ``Method``, ``StatusClass``:
            ``{"Route": "Endpoint", "StatusClass": None}``.
        add_dimensions: more dimensions: a mapping, or a callable taking the request
            object (here the WSGI environ) and returning one. Each distinct dimension
            set is a billed custom metric: keep the values few.
        skip_paths: paths not recorded (exact ``PATH_INFO`` matches, e.g.
            ``{"/health"}``), or a callable taking the path, True to skip.
        route: a callable taking the request object and returning its route template
            (None: not known), for a framework the middleware does not know.
        unmatched_route: the ``Route`` of requests no route matched.

    The reporter is not started or stopped here: a thread-driven reporter restarts
    itself in forked workers and drains at exit (see the gunicorn page of the docs).

    Raises:
        InvalidConfigError: a bad option (the message names it).
    """

    def __init__(
        self,
        app: WSGIApp,
        metrics: Metrics,
        *,
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
        self._django = _is_django(app)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self.recorder.skip(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        request = _Request(self, environ)

        def watch_start(status: str, headers: Any, exc_info: ExcInfo | None = None) -> Any:
            try:
                request.status = int(status[:3])
            except ValueError:
                request.status = 0
            # Flask forgets its request object once the response is returned: read the
            # matched rule while the application is still answering.
            request.route = _flask_route(environ)
            if exc_info is not None:
                return start_response(status, headers, exc_info)
            return start_response(status, headers)

        try:
            body = self.app(environ, watch_start)
        except BaseException:
            request.finish(failed=True)
            raise
        return _Body(body, request)

    def route_of(self, environ: Environ, seen: str | None = None) -> str | None:
        """The route template of a handled request (None: no route matched).

        ``environ[ROUTE_KEY]`` when the application set it, else the Flask rule seen when
        the response started (``seen``), else Django's resolver route.
        """
        route = environ.get(ROUTE_KEY)
        if isinstance(route, str):
            return route
        if seen is None and self._django:
            seen = _django_route(environ)
        return seen


class _Request:
    """One request in progress: recorded once, when its body is closed (or it failed)."""

    __slots__ = ("environ", "middleware", "route", "start", "status")

    def __init__(self, middleware: MetricsMiddleware, environ: Environ) -> None:
        self.middleware = middleware
        self.environ = environ
        self.status = 500
        self.route: str | None = None
        self.start = time.perf_counter()

    def finish(self, failed: bool) -> None:
        seconds = time.perf_counter() - self.start
        middleware, environ = self.middleware, self.environ
        try:
            route = middleware.route_of(environ, self.route)
        except Exception:  # noqa: BLE001 - an unusual router: no template
            route = None
        middleware.recorder.record(
            route,
            environ.get("REQUEST_METHOD", "GET"),
            self.status,
            seconds,
            failed,
            environ,
        )


class _Body:
    """The response body, passed through; the request is recorded when it is closed."""

    __slots__ = ("_body", "_done", "_failed", "_request")

    def __init__(self, body: Iterable[bytes], request: _Request) -> None:
        self._body = body
        self._request = request
        self._done = False
        self._failed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._body
        except BaseException:
            self._failed = True
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        except BaseException:
            self._failed = True
            raise
        finally:
            if not self._done:
                self._done = True
                self._request.finish(self._failed)
