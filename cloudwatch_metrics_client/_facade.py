"""The seed's class-level API: a thin default facade over one Metrics instance."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar, overload

from cwmetrics_core import Unit, UsageError

from ._metrics import Metrics, set_monitored_dimension
from ._reporter import BaseReporter
from ._timer import Timer

__all__ = ["FacadeBase"]

log = logging.getLogger("cloudwatch_metrics_client")

F = TypeVar("F", bound=Callable[..., Any])


class FacadeBase:
    """Shared class-level plumbing of ``CloudWatchSyncMetrics``/``CloudWatchAsyncMetrics``.

    Each subclass holds one default :class:`Metrics` instance. Nothing is created or read
    at import time; the default reporter is created on first use if none was set.
    """

    _instance: ClassVar[Metrics | None] = None
    _pending_client: ClassVar[Any] = None
    #: The instance once it has a reporter (the recording fast path reads only this).
    _live: ClassVar[Metrics | None] = None

    @classmethod
    def _new_reporter(cls) -> BaseReporter:
        raise NotImplementedError

    @classmethod
    def _use_client(cls, reporter: BaseReporter, client: Any) -> None:
        raise NotImplementedError

    @classmethod
    def metrics(cls) -> Metrics:
        """The default :class:`Metrics` instance behind the class-level API."""
        instance = cls.__dict__.get("_instance")
        if instance is None:
            instance = Metrics()
            cls._instance = instance
        return instance

    @classmethod
    def _ready(cls) -> Metrics:
        live = cls._live
        if live is not None:
            return live
        metrics = cls.__dict__.get("_instance")
        if metrics is None or metrics.reporter is None:
            metrics = cls.metrics()
            if metrics.reporter is None:
                log.warning(
                    "%s used before with_reporter(): creating a default reporter that is not "
                    "running; call with_reporter(...) and run() to report regularly",
                    cls.__name__,
                )
                cls.with_reporter(cls._new_reporter())
        return metrics

    @classmethod
    def with_namespace(cls, namespace: str) -> type[Any]:
        """Set the namespace of everything recorded through the class-level API.

        Raises:
            InvalidMetricError: an invalid namespace (empty, > 255, ``AWS/...``).
        """
        cls.metrics().namespace = namespace
        return cls

    @classmethod
    def with_reporter(cls, reporter: BaseReporter) -> type[Any]:
        """Report through ``reporter`` (a client given to ``with_client`` is handed to it)."""
        metrics = cls.metrics()
        metrics.reporter = reporter
        cls._live = metrics
        if cls._pending_client is not None:
            client, cls._pending_client = cls._pending_client, None
            cls._use_client(reporter, client)
        return cls

    @classmethod
    def with_client(cls, client: Any) -> type[Any]:
        """Send through ``client``: a boto3/aiobotocore/aioboto3 CloudWatch client or a
        transport. Applied to the current reporter, or to the next one set.

        Raises:
            TypeError: an object that is neither a known client nor a transport.
        """
        reporter = cls.metrics().reporter
        if reporter is None:
            cls._pending_client = client
        else:
            cls._use_client(reporter, client)
        return cls

    @classmethod
    def with_monitored_dimension(cls, name: str, value: str) -> type[Any]:
        """Add a dimension to the elapsed-time metric of the current monitored call only.

        Scoped per task and per thread (contextvars): concurrent calls never see each
        other's dimensions, and nothing leaks after the call.

        With a reporter in ``errors="log"`` mode, both errors below are logged and counted
        in ``stats.invalid_dropped`` instead.

        Raises:
            CoreStateError: called outside a ``monitored_task`` call.
            InvalidMetricError: a bad dimension name or value.
        """
        try:
            set_monitored_dimension(name, value)
        except UsageError as exc:
            metrics = cls._live
            if metrics is None:
                raise
            metrics._rejected(exc, name)
        return cls

    @overload
    @classmethod
    def monitored_task(cls, func: F, /) -> F: ...

    @overload
    @classmethod
    def monitored_task(
        cls,
        func: None = None,
        /,
        *,
        metric_name: str | None = None,
        unit: Unit | str = Unit.MILLISECONDS,
        dimensions: Mapping[str, str] | None = None,
    ) -> Callable[[F], F]: ...

    @classmethod
    def monitored_task(
        cls,
        func: Callable[..., Any] | None = None,
        /,
        *,
        metric_name: str | None = None,
        unit: Unit | str = Unit.MILLISECONDS,
        dimensions: Mapping[str, str] | None = None,
    ) -> Any:
        """Record the elapsed time of every call of the decorated function.

        Works bare (``@monitored_task``) or with arguments
        (``@monitored_task(metric_name="Handler", unit="Milliseconds", dimensions={...})``),
        on plain functions, coroutine functions and (async) generator functions. The
        metric name defaults to the function's ``__name__``. Calls that raise are timed
        too and counted in ``<metric_name>Failures``. Inside a call,
        ``with_monitored_dimension()`` adds dimensions to that call's datum.

        Raises:
            InvalidMetricError: a bad metric name, unit or dimensions (at decoration).
        """

        def decorate(target: F) -> F:
            timer = Timer(
                _LazyMetrics(cls),  # type: ignore[arg-type]
                metric_name or target.__name__,
                unit=unit,
                dimensions=dimensions,
                monitored=True,
            )
            return timer(target)

        if func is not None:
            return decorate(func)
        return decorate

    @classmethod
    def timer(
        cls,
        name: str,
        *,
        unit: Unit | str = Unit.MILLISECONDS,
        dimensions: Mapping[str, str] | None = None,
    ) -> Timer:
        """A :class:`Timer` on the default instance (context manager or decorator)."""
        return Timer(_LazyMetrics(cls), name, unit=unit, dimensions=dimensions)  # type: ignore[arg-type]

    @classmethod
    def _reset_default(cls) -> None:
        """Forget the default instance and any pending client (for tests and re-setup)."""
        cls._instance = None
        cls._live = None
        cls._pending_client = None


class _LazyMetrics:
    """Resolves the facade's Metrics at record time, so decorators can run at import."""

    __slots__ = ("_facade",)

    def __init__(self, facade: type[FacadeBase]) -> None:
        self._facade = facade

    def _record_timing(
        self, timer: Timer, duration: float, extra: dict[str, str] | None, failed: bool
    ) -> None:
        try:
            metrics = self._facade._live or self._facade._ready()
        except Exception as exc:  # noqa: BLE001 - never break the timed call
            log.warning("could not record timing %r: %s", timer.name, exc)
            return
        metrics._record_timing(timer, duration, extra, failed)
