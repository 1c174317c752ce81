"""The seed's class-level API: a thin default facade over one Metrics instance."""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, overload

from cwmetrics_core import Unit, UsageError

from ._metrics import DimensionsArg, Metrics, TimestampArg, set_monitored_dimension
from ._reporter import BaseReporter
from ._timer import Timer, TimerUnitName, UnitName

__all__ = ["FacadeBase", "FacadeBacklog", "UnitArg"]

log = logging.getLogger("cloudwatch_metrics_client")

F = TypeVar("F", bound=Callable[..., Any])
#: What the recording calls return: None (sync facade) or ``Awaitable[None]`` (async).
R = TypeVar("R")
#: The facade class a chained ``with_*`` call returns (``type[Self]`` on Python 3.10).
FacadeT = TypeVar("FacadeT", bound="FacadeBase[Any]")
#: A unit: a ``Unit`` member or one of CloudWatch's unit names (checked by mypy too).
UnitArg = Unit | UnitName

#: Guards the switch from "not set up" to "live" and the backlog kept until then.
_setup_lock = threading.Lock()


@dataclass(frozen=True)
class FacadeBacklog:
    """What a class-level facade did with calls made before it was set up.

    Attributes:
        kept: calls held now, waiting for ``with_namespace`` and ``with_reporter``.
        replayed: calls handed to the reporter when the facade was set up.
        dropped: calls beyond ``backlog_limit``, not kept (logged once).
    """

    kept: int = 0
    replayed: int = 0
    dropped: int = 0


class _Backlog:
    """Calls made before the facade is set up, kept (bounded) until it is.

    It has the recording methods of `Metrics` that the facade uses, so the facade
    records into it exactly as into the live instance. Wall-clock timestamps are taken
    when the call is made, so replayed data keeps its own time.
    """

    def __init__(self, facade: type[FacadeBase[Any]], limit: int) -> None:
        self._facade = facade
        self._limit = limit
        self._items: list[tuple[Any, ...]] = []
        self._closed = False
        self.replayed = 0
        self.dropped = 0
        self._warned_keep = False
        self._warned_drop = False
        self._exit_hook = False

    def snapshot(self) -> FacadeBacklog:
        with _setup_lock:
            return FacadeBacklog(len(self._items), self.replayed, self.dropped)

    def _keep(self, item: tuple[Any, ...]) -> None:
        warn_keep = warn_drop = hook = False
        with _setup_lock:
            if not self._closed:
                if len(self._items) < self._limit:
                    self._items.append(item)
                    warn_keep, self._warned_keep = not self._warned_keep, True
                    hook, self._exit_hook = not self._exit_hook, True
                else:
                    self.dropped += 1
                    warn_drop, self._warned_drop = not self._warned_drop, True
                item = ()
        if item:  # set up meanwhile: record directly
            self._facade._replay([item])
            return
        name = self._facade.__name__
        if hook:
            atexit.register(self._at_exit)
        if warn_keep:
            log.warning(
                "%s used before with_namespace() and with_reporter(): keeping up to %d "
                "calls until both are set",
                name,
                self._limit,
            )
        if warn_drop:
            log.warning(
                "%s is still not set up: more than %d calls made before with_namespace() "
                "and with_reporter(); further ones are dropped and counted (%s.backlog())",
                name,
                self._limit,
                name,
            )

    def _close(self) -> list[tuple[Any, ...]]:
        """Under _setup_lock: stop keeping; return what was kept."""
        self._closed = True
        items, self._items = self._items, []
        self.replayed += len(items)
        return items

    def _at_exit(self) -> None:
        with _setup_lock:
            left = len(self._items)
            current = self._facade.__dict__.get("_backlog") is self
        if current and not self._closed:
            log.warning(
                "%s was never set up: %d call(s) kept and %d dropped were not reported "
                "(call with_namespace() and with_reporter() at start-up)",
                self._facade.__name__,
                left,
                self.dropped,
            )

    # The recording methods of Metrics used by the facades (same signatures).
    def _put_value(
        self,
        name: str,
        value: float,
        unit: Unit | str | None,
        dimensions: DimensionsArg,
        timestamp: TimestampArg,
        count: float,
        storage_resolution: int,
        statistic: bool = False,
    ) -> None:
        ts = time.time() if timestamp is None else timestamp
        item: tuple[Any, ...]
        if statistic:
            item = ("statistic", name, value, unit, _copy(dimensions), ts, None, storage_resolution)
        else:
            item = ("value", name, value, unit, _copy(dimensions), ts, count, storage_resolution)
        self._keep(item)

    def put_statistic(
        self,
        name: str,
        value: float | None = None,
        *,
        unit: Unit | str | None = None,
        dimensions: DimensionsArg = None,
        timestamp: TimestampArg = None,
        statistic_values: Mapping[str, float] | None = None,
        storage_resolution: int = 60,
    ) -> None:
        ts = time.time() if timestamp is None else timestamp
        stats = statistic_values
        if isinstance(stats, Mapping):
            stats = dict(stats)
        self._keep(
            ("statistic", name, value, unit, _copy(dimensions), ts, stats, storage_resolution)
        )

    def record_timing(
        self, timer: Timer, duration: float, extra: Mapping[str, str] | None, failed: bool
    ) -> None:
        if not timer.inert:
            self._keep(("timing", timer, duration, dict(extra or {}), failed, time.time()))


def _copy(dimensions: Any) -> Any:
    """A snapshot of ``dimensions`` (the caller may reuse the object before replay)."""
    if isinstance(dimensions, Mapping):
        return dict(dimensions)
    if isinstance(dimensions, (list, tuple)):
        return [dict(d) if isinstance(d, Mapping) else d for d in dimensions]
    return dimensions


class FacadeBase(Generic[R]):
    """Shared class-level plumbing of `CloudWatchSyncMetrics`/`CloudWatchAsyncMetrics`.

    Each subclass holds one default [Metrics][cloudwatch_metrics_client.Metrics] instance.
    Nothing is created or read at import time.

    Calls made before the facade is set up (both `with_namespace()` and `with_reporter()`
    called, in either order) never raise: the first `backlog_limit` of them are kept, with
    the time they were made, and recorded when the set-up completes; further ones are
    dropped, counted (`backlog()`) and logged once. Bad input in kept calls is logged and
    counted in the reporter's `stats.invalid_dropped` when they are recorded.
    """

    #: How many calls made before set-up are kept until it completes.
    backlog_limit: ClassVar[int] = 1000

    _instance: ClassVar[Metrics | None] = None
    _pending_client: ClassVar[Any] = None
    #: The instance once it has a namespace and a reporter (the fast path reads only this).
    _live: ClassVar[Metrics | None] = None
    _backlog: ClassVar[_Backlog | None] = None

    #: The reporter class this facade sends through (``with_client`` checks it).
    _reporter_type: ClassVar[type[BaseReporter[Any]]]
    #: What ``put_metric``/``put_statistic`` return: None (sync), or an already
    #: completed awaitable (async, as the seed's coroutines were).
    _done: R

    @classmethod
    def _use_client(cls, reporter: BaseReporter[Any], client: Any) -> None:
        if not isinstance(reporter, cls._reporter_type):
            raise TypeError(f"{cls.__name__} needs a {cls._reporter_type.__name__}")
        reporter.use_client(client)

    @classmethod
    def put_metric(
        cls,
        MetricName: str,
        Value: float,
        Unit: UnitArg | None = None,
        Dimensions: DimensionsArg = None,
        Timestamp: TimestampArg = None,
        StorageResolution: int = 60,
        Count: float = 1.0,
    ) -> R:
        """Record a value; every distinct value is kept with its count (percentiles).

        Recorded when called. The async facade returns an already-completed awaitable
        (``await`` it as the seed does, or not: nothing is lost without it, and nothing
        waits for I/O).

        Raises:
            InvalidMetricError: bad input (unless the reporter has ``errors="log"``).
        """
        (cls._live or cls._ready())._put_value(
            MetricName, Value, Unit, Dimensions, Timestamp, Count, StorageResolution
        )
        return cls._done

    @classmethod
    def put_statistic(
        cls,
        MetricName: str,
        Value: float | None = None,
        Unit: UnitArg | None = None,
        Dimensions: DimensionsArg = None,
        Timestamp: TimestampArg = None,
        StorageResolution: int = 60,
        StatisticValues: Mapping[str, float] | None = None,
    ) -> R:
        """Aggregate into Sum/SampleCount/Minimum/Maximum (no percentiles).

        Recorded when called; the async facade returns an already-completed awaitable.

        Raises:
            InvalidMetricError: bad input (unless the reporter has ``errors="log"``).
        """
        if StatisticValues is None and Value is not None:  # one value: the fast path
            (cls._live or cls._ready())._put_value(
                MetricName, Value, Unit, Dimensions, Timestamp, 1.0, StorageResolution, True
            )
            return cls._done
        cls._ready().put_statistic(
            MetricName,
            Value,
            unit=Unit,
            dimensions=Dimensions,
            timestamp=Timestamp,
            statistic_values=StatisticValues,
            storage_resolution=StorageResolution,
        )
        return cls._done

    #: The seed's plural spelling.
    put_statistics = put_statistic

    @classmethod
    def metrics(cls) -> Metrics:
        """The default [Metrics][cloudwatch_metrics_client.Metrics] instance behind the
        class-level API."""
        instance = cls.__dict__.get("_instance")
        if instance is None:
            instance = Metrics()
            cls._instance = instance
        return instance

    @classmethod
    def backlog(cls) -> FacadeBacklog:
        """Counts of the calls made before this facade was set up (kept, replayed,
        dropped over `backlog_limit`)."""
        backlog = cls.__dict__.get("_backlog")
        return FacadeBacklog() if backlog is None else backlog.snapshot()

    @classmethod
    def _ready(cls) -> Metrics | _Backlog:
        """The live instance, or the backlog that keeps calls until set-up."""
        live = cls._live
        if live is not None:
            return live
        with _setup_lock:
            live = cls._live
            if live is not None:
                return live
            backlog: _Backlog | None = cls.__dict__.get("_backlog")
            if backlog is None:
                backlog = cls._backlog = _Backlog(cls, cls.backlog_limit)
            return backlog

    @classmethod
    def _go_live(cls) -> None:
        """Switch to the live instance once it has a namespace and a reporter; record
        what was kept until then."""
        with _setup_lock:
            metrics = cls.__dict__.get("_instance")
            if metrics is None or metrics.namespace is None or metrics.reporter is None:
                return
            cls._live = metrics
            backlog = cls.__dict__.get("_backlog")
            items = backlog._close() if backlog is not None else []
        if items:
            log.info("%s: recording %d call(s) made before set-up", cls.__name__, len(items))
            cls._replay(items)

    @classmethod
    def _replay(cls, items: list[tuple[Any, ...]]) -> None:
        metrics = cls.metrics()
        reporter = metrics.reporter
        for item in items:
            kind, name = item[0], item[1]
            if kind == "timing":
                name = item[1].name
            try:
                if kind == "value":
                    _, name, value, unit, dims, ts, count, res = item
                    metrics.put_value(
                        name, value, unit=unit, dimensions=dims, timestamp=ts, count=count,
                        storage_resolution=res,
                    )  # fmt: skip
                elif kind == "statistic":
                    _, name, value, unit, dims, ts, stats, res = item
                    metrics.put_statistic(
                        name, value, unit=unit, dimensions=dims, timestamp=ts,
                        statistic_values=stats, storage_resolution=res,
                    )  # fmt: skip
                else:
                    _, timer, duration, extra, failed, ts = item
                    dims = {**timer.dimensions, **extra}
                    metrics.put_value(
                        timer.name, max(duration, 0.0), unit=timer.unit, dimensions=dims,
                        timestamp=ts,
                    )  # fmt: skip
                    if failed and timer.count_failures:
                        metrics.put_statistic(
                            timer.failures_name, 1.0, unit=Unit.COUNT, dimensions=dims,
                            timestamp=ts,
                        )  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - set-up must not raise for old calls
                if reporter is None:
                    log.warning("%s: dropped call for %r: %s", cls.__name__, name, exc)
                else:
                    reporter.count_invalid(name, exc)

    @classmethod
    def with_namespace(cls: type[FacadeT], namespace: str) -> type[FacadeT]:
        """Set the namespace of everything recorded through the class-level API.

        Raises:
            InvalidMetricError: an invalid namespace (empty, > 255, `AWS/...`).
        """
        cls.metrics().namespace = namespace
        cls._go_live()
        return cls

    @classmethod
    def with_reporter(cls: type[FacadeT], reporter: BaseReporter[Any]) -> type[FacadeT]:
        """Report through `reporter` (a client given to `with_client` is handed to it)."""
        metrics = cls.metrics()
        metrics.reporter = reporter
        if cls._pending_client is not None:
            client, cls._pending_client = cls._pending_client, None
            cls._use_client(reporter, client)
        cls._go_live()
        return cls

    @classmethod
    def with_client(cls: type[FacadeT], client: Any) -> type[FacadeT]:
        """Send through `client`: a boto3/aiobotocore/aioboto3 CloudWatch client or a
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
    def with_monitored_dimension(cls: type[FacadeT], name: str, value: str) -> type[FacadeT]:
        """Add a dimension to the elapsed-time metric of the current monitored call only.

        Scoped per task and per thread (contextvars): concurrent calls never see each
        other's dimensions, and nothing leaks after the call.

        With a reporter in `errors="log"` mode, both errors below are logged and counted
        in `stats.invalid_dropped` instead. Unlike recording calls, this raises before
        set-up too: calling it outside a monitored call is a bug whatever the set-up.

        Raises:
            CoreStateError: called outside a `monitored_task` call.
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
        unit: Unit | TimerUnitName = Unit.MILLISECONDS,
        dimensions: Mapping[str, str] | None = None,
    ) -> Callable[[F], F]: ...

    @classmethod
    def monitored_task(
        cls,
        func: Callable[..., Any] | None = None,
        /,
        *,
        metric_name: str | None = None,
        unit: Unit | TimerUnitName = Unit.MILLISECONDS,
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
                _LazyMetrics(cls).record_timing,
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
        unit: Unit | TimerUnitName = Unit.MILLISECONDS,
        dimensions: Mapping[str, str] | None = None,
    ) -> Timer:
        """A [Timer][cloudwatch_metrics_client.Timer] on the default instance (context
        manager or decorator).

        Raises:
            InvalidMetricError: a bad name, unit or dimensions.
        """
        return Timer(_LazyMetrics(cls).record_timing, name, unit=unit, dimensions=dimensions)

    @classmethod
    def _reset_default(cls) -> None:
        """Forget the default instance and any pending client (for tests and re-setup)."""
        cls._instance = None
        cls._live = None
        cls._pending_client = None
        cls._backlog = None


class _LazyMetrics:
    """Resolves the facade's Metrics at record time, so decorators can run at import."""

    __slots__ = ("_facade",)

    def __init__(self, facade: type[FacadeBase[Any]]) -> None:
        self._facade = facade

    def record_timing(
        self, timer: Timer, duration: float, extra: Mapping[str, str] | None, failed: bool
    ) -> None:
        """The timers' ``record`` callable: into the live instance, or the backlog."""
        facade = self._facade
        try:
            metrics = facade._live or facade._ready()
        except Exception as exc:  # noqa: BLE001 - never break the timed call
            log.warning("could not record timing %r: %s", timer.name, exc)
            return
        metrics.record_timing(timer, duration, extra, failed)
