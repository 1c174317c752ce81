"""Timers: a context manager and a decorator for sync, async and generator functions."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from cwmetrics_core import (
    CoreStateError,
    InvalidMetricError,
    MetricKey,
    Unit,
    normalise_dimensions,
    parse_unit,
)

from ._scope import monitored_dimensions

if TYPE_CHECKING:
    from ._metrics import Metrics

__all__ = ["Timer", "TimerRun"]

F = TypeVar("F", bound=Callable[..., Any])

_SCALE = {Unit.SECONDS: 1.0, Unit.MILLISECONDS: 1e3, Unit.MICROSECONDS: 1e6}


class TimerRun:
    """One timed run: the context-manager value of ``with timer as run``.

    Attributes:
        duration: the elapsed time in the timer's unit, set on exit.
        failed: True when the block raised.
    """

    __slots__ = ("_dims_token", "_start", "_timer", "duration", "failed")

    def __init__(self, timer: Timer) -> None:
        self._timer = timer
        self._start = 0.0
        self._dims_token: Any = None
        self.duration: float | None = None
        self.failed = False

    def _begin(self) -> TimerRun:
        if self._timer.monitored:
            self._dims_token = monitored_dimensions.set({})
        self._start = time.perf_counter()
        return self

    def _end(self, failed: bool) -> None:
        elapsed = time.perf_counter() - self._start
        timer = self._timer
        extra: dict[str, str] | None = None
        if self._dims_token is not None:
            extra = monitored_dimensions.get()
            monitored_dimensions.reset(self._dims_token)
            self._dims_token = None
        self.duration = elapsed * timer.scale
        self.failed = failed
        timer.metrics._record_timing(timer, self.duration, extra, failed)

    def __enter__(self) -> TimerRun:
        return self._begin()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end(exc_type is not None and not issubclass(exc_type, GeneratorExit))


class Timer:
    """Times calls or blocks and records each duration as a value (percentiles kept).

    Use it as a context manager (``with timer as run: ...; run.duration``) or as a
    decorator on a function, a coroutine function, a generator or an async generator.
    Each use gets fresh state, so one Timer can time concurrent calls. The clock is
    ``time.perf_counter`` (monotonic); the datum's timestamp is the wall clock at exit.

    A call that raises is timed too, and also counted in ``<name>Failures`` (unit Count,
    same dimensions), so failures can be told apart: failure rate =
    ``<name>Failures`` Sum / ``<name>`` SampleCount.

    Args:
        metrics: the :class:`~cloudwatch_metrics_client.Metrics` to record into.
        name: metric name.
        unit: Seconds, Milliseconds (default) or Microseconds.
        dimensions: fixed dimensions.
        monitored: open a fresh ``with_monitored_dimension`` scope for each run.
        count_failures: also count failures in ``<name>Failures``.
    """

    def __init__(
        self,
        metrics: Metrics,
        name: str,
        *,
        unit: Unit | str = Unit.MILLISECONDS,
        dimensions: Mapping[str, str] | None = None,
        monitored: bool = False,
        count_failures: bool = True,
    ) -> None:
        parsed = parse_unit(unit)
        if parsed not in _SCALE:
            raise InvalidMetricError(
                "unit", unit, "a timer's unit must be Seconds, Milliseconds or Microseconds"
            )
        self.metrics = metrics
        self.name = name
        self.unit = parsed
        self.scale = _SCALE[parsed]
        self.dimensions = dict(normalise_dimensions(dimensions or {}))
        self.monitored = monitored
        self.count_failures = count_failures
        self._active: TimerRun | None = None
        #: (namespace, extra dimension items) -> MetricKey, filled by Metrics.
        self._keys: dict[tuple[object, ...], MetricKey] = {}
        # Validate the name now, at the call site, not at the first exit (the namespace
        # may not be configured yet when a decorator runs at import time).
        MetricKey("Validation", name, self.dimensions, parsed)

    def __enter__(self) -> TimerRun:
        if self._active is not None:
            raise CoreStateError(
                "this Timer is already running as a context manager; create one per block "
                "(metrics.timer(...)) or use it as a decorator"
            )
        self._active = TimerRun(self)._begin()
        return self._active

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        run, self._active = self._active, None
        assert run is not None
        run.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        """Decorate ``func`` so that every call is timed."""
        if inspect.isasyncgenfunction(func):

            @functools.wraps(func)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with TimerRun(self):
                    async for item in func(*args, **kwargs):
                        yield item

            return cast(F, agen_wrapper)
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with TimerRun(self):
                    return await func(*args, **kwargs)

            return cast(F, async_wrapper)
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
                with TimerRun(self):
                    return (yield from func(*args, **kwargs))

            return cast(F, gen_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with TimerRun(self):
                return func(*args, **kwargs)

        return cast(F, wrapper)

    def __repr__(self) -> str:
        return f"Timer({self.name!r}, unit={self.unit.value!r}, dimensions={self.dimensions!r})"
