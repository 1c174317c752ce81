"""Metrics: the instance recording API shared by the sync and async facades."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, NoReturn, TypeVar

from cwmetrics_core import (
    CoreStateError,
    InvalidMetricError,
    MetricKey,
    MetricTypeError,
    Unit,
    UsageError,
    check_namespace,
    check_storage_resolution,
    check_timestamp,
    normalise_dimensions,
    parse_unit,
)
from cwmetrics_core._limits import MAX_TIMESTAMP_AGE, MAX_TIMESTAMP_AHEAD

from ._reporter import BaseReporter
from ._scope import Scope, monitored_dimensions, new_scope
from ._timer import InertTimer, Timer

__all__ = ["Metrics", "DimensionsArg", "TimestampArg"]

log = logging.getLogger("cloudwatch_metrics_client")

F = TypeVar("F", bound=Callable[..., Any])
#: Dimensions as a mapping, ``(name, value)`` pairs, or boto3's ``[{"Name":..,"Value":..}]``.
DimensionsArg = Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[Mapping[str, str]] | None
#: A datetime (naive means UTC) or epoch seconds, as boto3 accepts.
TimestampArg = datetime | float | int | None

_KEY_CACHE_MAX = 10_000


def _dims_cache_key(dimensions: Any) -> Any:
    """A hashable stand-in for ``dimensions`` (only used as a cache key)."""
    if dimensions is None:
        return ()
    if dimensions.__class__ is dict:
        return tuple(dimensions.items())
    if isinstance(dimensions, Mapping):
        return tuple(dimensions.items())
    if isinstance(dimensions, (list, tuple)):
        # Only shapes validation accepts as they are: anything else skips the cache, so
        # a rejected input can never hit a key cached for a valid one.
        pairs = []
        for d in dimensions:
            if d.__class__ is tuple and len(d) == 2:
                pairs.append(d)
            elif isinstance(d, Mapping) and len(d) == 2 and "Name" in d and "Value" in d:
                pairs.append((d["Name"], d["Value"]))
            else:
                return None
        return tuple(pairs)
    return None  # unusual input: skip the cache, validate the slow way


def _as_pairs(dimensions: Any) -> Any:
    if dimensions is None:
        return ()
    if isinstance(dimensions, Mapping):
        return dimensions
    if isinstance(dimensions, (str, bytes)):
        return dimensions  # rejected by normalise_dimensions with a clear message
    try:
        items = list(dimensions)
    except TypeError:
        return dimensions
    out = []
    for item in items:
        if isinstance(item, Mapping):
            if set(item) != {"Name", "Value"}:
                raise MetricTypeError(
                    "Dimensions", item, "boto3-style entries need exactly 'Name' and 'Value'"
                )
            out.append((item["Name"], item["Value"]))
        else:
            out.append(tuple(item) if isinstance(item, list) else item)
    return out


def epoch_seconds(timestamp: object, field: str = "Timestamp") -> float:
    """Convert a datetime (naive = UTC) or epoch seconds to float epoch seconds.

    Raises:
        MetricTypeError: neither a datetime nor a number.
        InvalidMetricError: not finite positive epoch seconds.
    """
    if isinstance(timestamp, str):  # ISO 8601, as boto3 accepts
        text = timestamp.strip()
        try:
            timestamp = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
        except ValueError:
            raise InvalidMetricError(
                field, timestamp, "not an ISO 8601 date-time, a datetime or epoch seconds"
            ) from None
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=timezone.utc)
        return check_timestamp(timestamp.timestamp(), field)
    return check_timestamp(timestamp, field)


class Metrics:
    """Record metrics into a reporter: values (percentiles kept), statistic sets, timers.

    This is the instance API; the seed's class-level ``CloudWatchSyncMetrics`` /
    ``CloudWatchAsyncMetrics`` are thin facades over one instance each.

    =================  ==========================================================
    Argument           Meaning
    =================  ==========================================================
    ``namespace``      CloudWatch namespace for every metric recorded here.
    ``reporter``       a ``CloudWatchSyncMetricReporter`` or ``...AsyncMetricReporter``.
    ``dimensions``     default dimensions added to every metric (call overrides win).
    =================  ==========================================================

    Default timestamps come from the reporter's
    [Clock][cloudwatch_metrics_client.Clock] (``reporter.clock.time()``).

    Example::

        reporter = CloudWatchSyncMetricReporter(report_interval=60)
        metrics = Metrics("MyApp", reporter, dimensions={"Stage": "prod"})
        metrics.put_value("Latency", 12.5, unit="Milliseconds", dimensions={"Op": "get"})
        with metrics.timer("DbQuery"):
            run_query()
        reporter.run()

    Every call validates its input and raises :class:`~cwmetrics_core.InvalidMetricError`
    (a ``ValueError``) naming the field and the limit, unless the reporter was built with
    ``errors="log"``, in which case the bad call is logged once per metric, counted in
    ``reporter.stats.invalid_dropped`` and dropped. Nothing already recorded is affected.
    """

    def __init__(
        self,
        namespace: str | None = None,
        reporter: BaseReporter[Any] | None = None,
        *,
        dimensions: DimensionsArg = None,
    ) -> None:
        self._namespace = check_namespace(namespace) if namespace is not None else None
        self._defaults = dict(normalise_dimensions(_as_pairs(dimensions)))
        self._keys: dict[Any, MetricKey] = {}
        #: Timer.series (no added dimension), or (Timer.series, added items) -> MetricKey.
        self._timer_keys: dict[str | tuple[str, tuple[tuple[str, str], ...]], MetricKey] = {}
        self._reporter: BaseReporter[Any] | None = None
        self._now: Callable[[], float] = time.time
        if reporter is not None:
            self.reporter = reporter

    # ---------------------------------------------------------------- configuration
    @property
    def namespace(self) -> str | None:
        """The namespace metrics are recorded in."""
        return self._namespace

    @namespace.setter
    def namespace(self, namespace: str) -> None:
        self._namespace = check_namespace(namespace)
        self._keys = {}
        self._timer_keys = {}

    @property
    def reporter(self) -> BaseReporter[Any] | None:
        """The reporter that buffers and sends what is recorded here (its clock gives the
        default timestamps)."""
        return self._reporter

    @reporter.setter
    def reporter(self, reporter: BaseReporter[Any]) -> None:
        # Bound once here: the hot path calls these without looking at the reporter.
        self._now = reporter.clock.time
        self._reporter = reporter

    def _require_reporter(self) -> BaseReporter[Any]:
        reporter = self._reporter
        if reporter is None:
            _no_reporter()
        assert reporter is not None
        return reporter

    # ---------------------------------------------------------------- keys
    def key(
        self,
        name: str,
        unit: Unit | str | None = None,
        dimensions: DimensionsArg = None,
        storage_resolution: int = 60,
    ) -> MetricKey:
        """The validated :class:`~cwmetrics_core.MetricKey` for these arguments (cached).

        Raises:
            InvalidMetricError: as MetricKey; CoreStateError: no namespace configured.
        """
        if storage_resolution.__class__ is not int:
            # Cache keys hold the canonical int: True == 1 and hashes alike, so a bool (or
            # numpy.bool_) must be rejected before any lookup, not found as a cached 1.
            storage_resolution = check_storage_resolution(storage_resolution)
        try:
            cache_key = (name, unit, _dims_cache_key(dimensions), storage_resolution)
            key = self._keys.get(cache_key)
        except (TypeError, KeyError, ValueError):
            cache_key, key = None, None
        if key is not None:
            return key
        if self._namespace is None:
            raise CoreStateError("no namespace: call with_namespace() or pass Metrics(namespace)")
        dims = dict(self._defaults)
        if dimensions is not None:
            dims.update(normalise_dimensions(_as_pairs(dimensions)))
        key = MetricKey(
            self._namespace,
            name,
            dims,
            parse_unit(unit),
            storage_resolution,
        )
        if cache_key is not None and cache_key[2] is not None:
            if len(self._keys) >= _KEY_CACHE_MAX:
                self._keys.clear()
            self._keys[cache_key] = key
        return key

    def _timestamp(self, timestamp: TimestampArg) -> float:
        now = self._now()
        if timestamp is None:
            return now
        ts = epoch_seconds(timestamp)
        reporter = self._reporter
        max_age = reporter.config.max_timestamp_age if reporter is not None else MAX_TIMESTAMP_AGE
        if ts < now - max_age:
            raise InvalidMetricError(
                "Timestamp",
                timestamp,
                f"older than {max_age / 86400:.3f} days; CloudWatch refuses data older than two "
                "weeks (the reporter keeps a margin for queueing)",
            )
        if ts > now + MAX_TIMESTAMP_AHEAD:
            raise InvalidMetricError(
                "Timestamp", timestamp, "more than two hours in the future; CloudWatch refuses it"
            )
        return ts

    def _rejected(self, exc: UsageError, name: object) -> None:
        reporter = self._reporter
        if reporter is None or reporter.errors == "raise" or self._namespace is None:
            raise exc
        reporter.count_invalid(name, exc)

    # ---------------------------------------------------------------- recording
    def put_value(
        self,
        name: str,
        value: float,
        *,
        unit: Unit | str | None = None,
        dimensions: DimensionsArg = None,
        timestamp: TimestampArg = None,
        count: float = 1.0,
        storage_resolution: int = 60,
    ) -> None:
        """Record ``count`` observations of ``value``; each distinct value is kept with
        its count and sent as ``Values``/``Counts`` (CloudWatch computes percentiles).

        Raises:
            InvalidMetricError: bad name, dimensions, unit, value, count or timestamp
                (unless the reporter has ``errors="log"``). Nothing is recorded.
        """
        self._put_value(name, value, unit, dimensions, timestamp, count, storage_resolution)

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
        # The hot path of put_value and of put_statistic with one value, positional: a
        # cached key for plain-dict dimensions, the clock's wall time, then the reporter's
        # record() or record_statistic() (bound once, see the reporter setter).
        try:
            key = None
            # Only an exact int resolution may use the cache (True == 1); key() checks
            # and canonicalises anything else before looking up.
            if dimensions.__class__ is dict and storage_resolution.__class__ is int:
                try:
                    key = self._keys.get(
                        (name, unit, tuple(dimensions.items()), storage_resolution)
                    )
                except TypeError:  # unhashable junk: validated (and rejected) below
                    key = None
            if key is None:
                key = self.key(name, unit, dimensions, storage_resolution)
            ts = self._now() if timestamp is None else self._timestamp(timestamp)
            # The reporter's record()/record_statistic(), one call shorter: its lock-free
            # recorder, read at each call (a fork replaces it), and a fold when it asks.
            reporter = self._reporter
            if reporter is None:
                _no_reporter()
            if statistic:
                if reporter.statistic_recorder(key, value, ts):
                    reporter.fold()
            elif reporter.recorder(key, value, ts, count):
                reporter.fold()
        except UsageError as exc:
            self._rejected(exc, name)

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
        """Aggregate into SampleCount/Sum/Minimum/Maximum only (no percentiles).

        Pass ``value`` (one observation) or ``statistic_values`` (boto3's
        ``{"SampleCount", "Sum", "Minimum", "Maximum"}``).

        Raises:
            InvalidMetricError: as :meth:`put_value`, or a bad statistic set.
        """
        if statistic_values is None and value is not None:  # the fast path
            self._put_value(name, value, unit, dimensions, timestamp, 1.0, storage_resolution, True)
            return
        try:
            key = self.key(name, unit, dimensions, storage_resolution)
            reporter = self._reporter or self._require_reporter()
            ts = self._timestamp(timestamp)
            if statistic_values is not None:
                if value is not None:
                    raise InvalidMetricError(
                        "Value", value, "give Value or StatisticValues, not both"
                    )
                try:
                    stats = (
                        statistic_values["SampleCount"],
                        statistic_values["Sum"],
                        statistic_values["Minimum"],
                        statistic_values["Maximum"],
                    )
                except (KeyError, TypeError):
                    raise InvalidMetricError(
                        "StatisticValues",
                        statistic_values,
                        "needs SampleCount, Sum, Minimum and Maximum",
                    ) from None
                reporter.record_statistics(key, *stats, ts)
            elif value is None:
                raise InvalidMetricError("Value", value, "a value or StatisticValues is required")
            else:
                reporter.record_statistic(key, value, ts)
        except UsageError as exc:
            self._rejected(exc, name)

    # ---------------------------------------------------------------- timing
    def timer(
        self,
        name: str,
        *,
        unit: Unit | str = Unit.MILLISECONDS,
        dimensions: Mapping[str, str] | None = None,
        count_failures: bool = True,
    ) -> Timer:
        """A :class:`Timer` recording durations of ``name`` (context manager/decorator).

        Raises:
            InvalidMetricError: bad name, unit or dimensions (with ``errors="log"``:
                logged and counted, and the timer returned records nothing).
        """
        try:
            return Timer(
                self.record_timing,
                name,
                unit=unit,
                dimensions=dimensions,
                count_failures=count_failures,
            )
        except UsageError as exc:
            self._rejected(exc, name)
            return InertTimer(name)

    def monitored(
        self,
        name: str,
        *,
        unit: Unit | str = Unit.MILLISECONDS,
        dimensions: Mapping[str, str] | None = None,
    ) -> Timer:
        """Like :meth:`timer`, and each run opens a ``with_monitored_dimension`` scope."""
        try:
            return Timer(
                self.record_timing, name, unit=unit, dimensions=dimensions, monitored=True
            )
        except UsageError as exc:
            self._rejected(exc, name)
            return InertTimer(name)

    def with_monitored_dimension(self, name: str, value: str) -> Metrics:
        """Add a dimension to the current monitored call (:meth:`monitored` or the
        facades' ``monitored_task``) only; scoped per task and thread.

        With ``errors="log"``, both errors below are logged, counted and ignored instead.

        Raises:
            CoreStateError: not inside a monitored call.
            InvalidMetricError: a bad dimension name or value.
        """
        try:
            set_monitored_dimension(name, value)
        except UsageError as exc:
            self._rejected(exc, name)
        return self

    def record_timing(
        self, timer: Timer, duration: float, extra: Mapping[str, str] | None, failed: bool
    ) -> None:
        """Record one timed run of ``timer`` (the timers' ``record`` callable): the
        duration, and a failure count when it raised. Never raises into the timed code
        (any bad input was rejected when the timer or the monitored dimension was set);
        an error here is counted as an invalid call."""
        if timer.inert:
            return
        try:
            # The series string alone when no dimension was added (no tuple to build).
            cache_key = (timer.series, tuple(extra.items())) if extra else timer.series
            key = self._timer_keys.get(cache_key)
            dims: Mapping[str, str] = timer.dimensions
            if extra:
                dims = {**dims, **extra}
            if key is None:
                key = self.key(timer.name, timer.unit, dims)
                if len(self._timer_keys) >= _KEY_CACHE_MAX:
                    self._timer_keys.clear()
                self._timer_keys[cache_key] = key
            now = self._now()
            reporter = self._require_reporter()
            if reporter.recorder(key, duration if duration > 0 else 0.0, now, 1.0):
                reporter.fold()
            if failed and timer.count_failures:
                fail_key = self.key(timer.failures_name, Unit.COUNT, dims)
                reporter.record_statistic(fail_key, 1.0, now)
        except Exception as exc:  # noqa: BLE001 - must not break the timed call
            current = self._reporter
            if current is None:
                log.warning("could not record timing %r: %s", timer.name, exc)
            else:
                current.count_invalid(timer.name, exc)


def _no_reporter(*args: object) -> NoReturn:
    """``Metrics`` records here until it has a reporter."""
    raise CoreStateError("no reporter: pass one to Metrics(...) or call with_reporter()")


#: (name, value) pairs already validated by set_monitored_dimension (bounded).
_valid_pairs: dict[tuple[str, str], tuple[str, str]] = {}


def set_monitored_dimension(name: str, value: str) -> None:
    """Set a dimension on the current monitored call (task/thread local).

    Raises:
        CoreStateError: not inside a monitored call.
        InvalidMetricError: a bad dimension name or value.
    """
    current = monitored_dimensions.get()
    if current is None:
        raise CoreStateError(
            "with_monitored_dimension() must be called inside a @monitored_task call"
        )
    if isinstance(current, Scope):
        scope = current
    else:  # the first dimension of this call: create its scope (room was held as an int)
        scope = new_scope(current)
        monitored_dimensions.set(scope)
    try:
        pair = _valid_pairs.get((name, value))
    except TypeError:  # unhashable: validated (and rejected) below
        pair = None
    if pair is None:
        ((n, v),) = normalise_dimensions({name: value})
        if len(_valid_pairs) >= _KEY_CACHE_MAX:
            _valid_pairs.clear()
        _valid_pairs[(n, v)] = pair = (n, v)
    n, v = pair
    if n not in scope and len(scope) >= scope.room:
        raise InvalidMetricError(
            "Dimensions", name, "more than 30 dimensions on this call (timer's own included)"
        )
    scope[n] = v

