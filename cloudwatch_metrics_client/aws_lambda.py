"""AWS Lambda: write an invocation's metrics before it ends, as EMF on stdout.

Inside Lambda a reporter built without a transport writes Embedded Metric Format
documents to stdout (``EmfTransport``): CloudWatch Logs extracts the metrics, and no API
call is on the invocation's path. :func:`metrics_handler` makes sure the documents are
written before the invocation ends::

    from cloudwatch_metrics_client import CloudWatchSyncMetricReporter, Metrics
    from cloudwatch_metrics_client.aws_lambda import function_dimensions, metrics_handler

    reporter = CloudWatchSyncMetricReporter(report_interval=None)
    metrics = Metrics("MyApp", reporter, dimensions=function_dimensions())

    @metrics_handler(metrics, cold_start_metric="ColdStart")
    def handler(event, context):
        metrics.put_value("Orders", 1, unit="Count")
        return {"ok": True}

The decorator works on ``def`` and ``async def`` handlers. When the handler returns or
raises, everything recorded so far is flushed (the call waits for it, at most until the
invocation's deadline). If the handler is still running ``flush_margin`` seconds before
``context.get_remaining_time_in_millis()`` runs out, what was recorded until then is
flushed too, so a timeout does not lose it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cwmetrics_core import InvalidConfigError

from ._metrics import Metrics
from ._reporter import BaseReporter
from .aiocloudwatch import CloudWatchAsyncMetricReporter
from .cloudwatch import CloudWatchSyncMetricReporter

__all__ = ["metrics_handler", "function_dimensions"]

log = logging.getLogger("cloudwatch_metrics_client")

F = TypeVar("F", bound=Callable[..., Any])

#: The final flush waits at most this long when the context gives no deadline.
_DEFAULT_FLUSH_TIMEOUT = 5.0


def function_dimensions(*, version: bool = False) -> dict[str, str]:
    """Default dimensions naming the function, from the Lambda environment.

    Args:
        version: also ``FunctionVersion`` (``$LATEST`` or a number; every new version
            is then a new metric).

    Returns:
        ``{"FunctionName": ...}`` (and ``FunctionVersion``), or ``{}`` outside Lambda.
    """
    dims: dict[str, str] = {}
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if name:
        dims["FunctionName"] = name
        ver = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        if version and ver:
            dims["FunctionVersion"] = ver
    return dims


def _remaining(context: Any) -> float | None:
    """Seconds left in the invocation, or None when the context does not say."""
    get = getattr(context, "get_remaining_time_in_millis", None)
    if get is None:
        return None
    try:
        return max(0.0, float(get()) / 1000.0)
    except (TypeError, ValueError):
        return None


def _function_name(context: Any) -> str | None:
    name = getattr(context, "function_name", None)
    if isinstance(name, str) and name:
        return name
    return os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or None


def metrics_handler(
    metrics: Metrics,
    *,
    flush_margin: float = 0.5,
    cold_start_metric: str | None = None,
) -> Callable[[F], F]:
    """Decorate a Lambda handler so its metrics are written before the invocation ends.

    Args:
        metrics: the :class:`~cloudwatch_metrics_client.Metrics` the handler records
            into; its reporter is flushed (a ``CloudWatchSyncMetricReporter`` for
            ``def`` handlers; either kind for ``async def`` ones).
        flush_margin: seconds before the invocation's deadline at which what was
            recorded so far is flushed if the handler is still running.
        cold_start_metric: a metric name (e.g. ``"ColdStart"``) recorded as 1 (unit
            Count, dimension ``FunctionName``) on the first invocation in this process;
            None records nothing.

    Raises:
        InvalidConfigError: ``flush_margin`` out of range (Lambda's limit is 900 s).
        TypeError: (when decorating) not a function; (when called) the metrics have no
            reporter, or a ``def`` handler with an async reporter (it cannot be awaited).
    """
    if isinstance(flush_margin, bool) or not isinstance(flush_margin, (int, float)) or not (
        0 <= flush_margin < 900
    ):
        raise InvalidConfigError("flush_margin", flush_margin, "must be seconds in 0..900")
    cold = [True]

    def record_cold_start(context: Any) -> None:
        if not cold[0]:
            return
        cold[0] = False
        if cold_start_metric is not None:
            name = _function_name(context)
            metrics.put_value(
                cold_start_metric,
                1,
                unit="Count",
                dimensions={"FunctionName": name} if name else None,
            )

    def reporter_of() -> BaseReporter[Any]:
        reporter = metrics.reporter
        if reporter is None:
            raise TypeError("metrics_handler: the Metrics object has no reporter")
        return reporter

    def decorate(handler: F) -> F:
        if not callable(handler):
            raise TypeError(f"metrics_handler decorates a function, not {handler!r}")
        if inspect.iscoroutinefunction(handler):
            return _wrap_async(handler, reporter_of, record_cold_start, flush_margin)  # type: ignore[return-value]
        return _wrap_sync(handler, reporter_of, record_cold_start, flush_margin)  # type: ignore[return-value]

    return decorate


def _wrap_sync(
    handler: Callable[..., Any],
    reporter_of: Callable[[], BaseReporter[Any]],
    record_cold_start: Callable[[Any], None],
    margin: float,
) -> Callable[..., Any]:
    @functools.wraps(handler)
    def wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        reporter = reporter_of()
        if not isinstance(reporter, CloudWatchSyncMetricReporter):
            raise TypeError(
                "metrics_handler: a def handler needs a CloudWatchSyncMetricReporter "
                f"(got {type(reporter).__name__}); make the handler async def instead"
            )
        record_cold_start(context)
        remaining = _remaining(context)
        timer: threading.Timer | None = None
        if remaining is not None:
            timer = threading.Timer(
                max(0.0, remaining - margin), reporter.flush, kwargs={"timeout": margin}
            )
            timer.daemon = True
            timer.start()
        try:
            return handler(event, context, *args, **kwargs)
        finally:
            if timer is not None:
                timer.cancel()
            left = _remaining(context)
            timeout = _DEFAULT_FLUSH_TIMEOUT if left is None else left
            if not reporter.flush(timeout=timeout):
                log.warning("metrics_handler: flush did not finish within %.3fs", timeout)

    return wrapper


def _wrap_async(
    handler: Callable[..., Awaitable[Any]],
    reporter_of: Callable[[], BaseReporter[Any]],
    record_cold_start: Callable[[Any], None],
    margin: float,
) -> Callable[..., Awaitable[Any]]:
    async def flush(reporter: BaseReporter[Any], timeout: float) -> bool:
        if isinstance(reporter, CloudWatchAsyncMetricReporter):
            return await reporter.flush(timeout=timeout)
        if isinstance(reporter, CloudWatchSyncMetricReporter):
            return await asyncio.to_thread(reporter.flush, timeout)
        raise TypeError(f"metrics_handler: unknown reporter {type(reporter).__name__}")

    @functools.wraps(handler)
    async def wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        reporter = reporter_of()
        record_cold_start(context)
        remaining = _remaining(context)
        early: list[asyncio.Task[bool]] = []
        handle: asyncio.TimerHandle | None = None
        if remaining is not None:
            loop = asyncio.get_running_loop()
            handle = loop.call_later(
                max(0.0, remaining - margin),
                lambda: early.append(loop.create_task(flush(reporter, margin))),
            )
        try:
            return await handler(event, context, *args, **kwargs)
        finally:
            if handle is not None:
                handle.cancel()
            left = _remaining(context)
            timeout = _DEFAULT_FLUSH_TIMEOUT if left is None else left
            if not await flush(reporter, timeout):
                log.warning("metrics_handler: flush did not finish within %.3fs", timeout)
            for task in early:
                if not task.done():
                    task.cancel()

    return wrapper
