"""What the ASGI, WSGI and aiohttp middlewares share: options, dimensions, recording.

Each middleware finds the request's route template, method and status its own way, then
hands them to :class:`RequestRecorder`, which builds the dimensions (renamed, dropped and
added as configured) and records ``RequestLatency`` (and ``RequestErrors`` on an error)
through a :class:`~cloudwatch_metrics_client.Metrics`. Recording never raises into the
request: a failure is counted in ``recording_errors`` and logged, rate-limited.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from cwmetrics_core import InvalidConfigError, Unit
from cwmetrics_core._limits import MAX_DIMENSION_VALUE_LENGTH

from ._metrics import Metrics

__all__ = ["UNMATCHED_ROUTE", "DIMENSIONS", "RequestRecorder", "status_class"]

log = logging.getLogger("cloudwatch_metrics_client")

#: The ``Route`` of a request no route matched (404s, redirects): never the raw path.
UNMATCHED_ROUTE = "(unmatched)"
#: The dimensions recorded by default, in this order.
DIMENSIONS = ("Route", "Method", "StatusClass")
#: Methods kept as they are; any other becomes ``OTHER`` (a client picks the method).
_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)
_STATUS_CLASSES = {c: f"{c}xx" for c in range(1, 6)}


def status_class(status: int) -> str:
    """``"2xx"`` for 204; ``"OTHER"`` for a status outside 100-599."""
    return _STATUS_CLASSES.get(status // 100, "OTHER") if status >= 100 else "OTHER"


def _clean_route(route: str) -> str:
    """A dimension value CloudWatch accepts: ASCII (escaped), 1-1024 characters."""
    if not route:
        return "/"
    if not route.isascii():
        route = route.encode("ascii", "backslashreplace").decode("ascii")
    return route[:MAX_DIMENSION_VALUE_LENGTH]


class RequestRecorder:
    """The middlewares' options, validated once, and the per-request recording.

    Args:
        metrics: where to record (its namespace, reporter and default dimensions).
        metric_name: the latency metric, in milliseconds.
        error_metric_name: a count of errors (the application raised, or a 5xx
            status) with the same dimensions; None: not recorded.
        dimension_names: rename or drop the default dimensions: ``{"Route": "Path"}``
            renames, ``{"StatusClass": None}`` drops.
        add_dimensions: more dimensions for every request: a mapping, or a callable
            taking the framework's request object (ASGI scope, WSGI environ, aiohttp
            request) and returning a mapping. Mind the cardinality.
        skip_paths: request paths not recorded at all (exact matches), or a callable
            taking the path and returning True to skip it.
        route: a callable taking the request object and returning the route template
            (or None), for frameworks the middleware does not know.
        unmatched_route: the ``Route`` of requests no route matched.

    Raises:
        InvalidConfigError: an unknown dimension, an empty or bad name, a wrong type.
    """

    def __init__(
        self,
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
        if not isinstance(metrics, Metrics):
            raise InvalidConfigError("metrics", metrics, "must be a Metrics instance")
        for field, name in (("metric_name", metric_name), ("error_metric_name", error_metric_name)):
            if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 255):
                raise InvalidConfigError(field, name, "must be a metric name of 1-255 characters")
        renames = dict(dimension_names or {})
        unknown = set(renames) - set(DIMENSIONS)
        if unknown:
            raise InvalidConfigError(
                "dimension_names", sorted(unknown), f"keys must be among {', '.join(DIMENSIONS)}"
            )
        for new in renames.values():
            if new is not None and (
                not isinstance(new, str) or not 0 < len(new) <= 255 or not new.isascii()
            ):
                raise InvalidConfigError(
                    "dimension_names", new, "a new name must be 1-255 ASCII characters"
                )
        #: (default dimension index, name recorded) for each dimension kept.
        self._kept: tuple[tuple[int, str], ...] = tuple(
            (i, name) for i, d in enumerate(DIMENSIONS) if (name := renames.get(d, d))
        )
        if add_dimensions is not None and not (
            callable(add_dimensions) or isinstance(add_dimensions, Mapping)
        ):
            raise InvalidConfigError(
                "add_dimensions", add_dimensions, "must be a mapping or a callable"
            )
        self._static = dict(add_dimensions) if isinstance(add_dimensions, Mapping) else None
        self._dynamic = add_dimensions if callable(add_dimensions) else None
        if callable(skip_paths):
            self._skip_fn: Callable[[str], bool] | None = skip_paths
            self._skip: frozenset[str] = frozenset()
        elif isinstance(skip_paths, str) or not isinstance(skip_paths, Collection):
            raise InvalidConfigError(
                "skip_paths", skip_paths, "must be a collection of paths or a callable"
            )
        else:
            self._skip_fn = None
            self._skip = frozenset(skip_paths)
        if route is not None and not callable(route):
            raise InvalidConfigError("route", route, "must be a callable or None")
        if not isinstance(unmatched_route, str) or not unmatched_route:
            raise InvalidConfigError("unmatched_route", unmatched_route, "must be a non-empty str")
        self.metrics = metrics
        self.metric_name = metric_name
        self.error_metric_name = error_metric_name
        self.route_hook = route
        self.unmatched_route = _clean_route(unmatched_route)
        #: Requests whose metrics could not be recorded (logged, rate-limited).
        self.recording_errors = 0
        self._lock = threading.Lock()
        self._last_log = -1e18

    def skip(self, path: str) -> bool:
        """True when requests to ``path`` are not recorded."""
        if self._skip_fn is not None:
            return bool(self._skip_fn(path))
        return path in self._skip

    def record(
        self,
        route: str | None,
        method: str,
        status: int,
        seconds: float,
        failed: bool,
        request: object,
    ) -> None:
        """Record one request (never raises).

        Args:
            route: the route template; None when no route matched.
            method: the request method (non-standard ones become ``OTHER``).
            status: the response status (500 when the application raised first).
            seconds: the request's duration.
            failed: the application raised (an error even when a status was sent).
            request: the framework's request object, for ``add_dimensions``/``route``.
        """
        try:
            if self.route_hook is not None:
                hooked = self.route_hook(request)
                if hooked is not None:
                    route = hooked
            values = (
                self.unmatched_route if route is None else _clean_route(route),
                method if method in _METHODS else "OTHER",
                status_class(status),
            )
            dims = {name: values[i] for i, name in self._kept}
            if self._static is not None:
                dims.update(self._static)
            elif self._dynamic is not None:
                dims.update(self._dynamic(request))
            metrics = self.metrics
            metrics.put_value(
                self.metric_name,
                seconds * 1000.0 if seconds > 0 else 0.0,
                unit=Unit.MILLISECONDS,
                dimensions=dims,
            )
            if (failed or status >= 500) and self.error_metric_name is not None:
                metrics.put_value(self.error_metric_name, 1.0, unit=Unit.COUNT, dimensions=dims)
        except Exception as exc:  # noqa: BLE001 - never break the request being served
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            self.recording_errors += 1
            due = now - self._last_log >= 60.0
            if due:
                self._last_log = now
            total = self.recording_errors
        if due:
            log.warning(
                "could not record request metrics (%d request(s) so far): %r", total, exc
            )
