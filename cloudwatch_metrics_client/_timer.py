"""Timers: a context manager and a decorator for sync, async and generator functions."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Literal, TypeVar, cast

from cwmetrics_core import (
    CoreStateError,
    InvalidMetricError,
    MetricKey,
    Unit,
    normalise_dimensions,
    parse_unit,
)
from cwmetrics_core._limits import MAX_DIMENSIONS, MAX_NAME_LENGTH

from ._scope import Scope, monitored_dimensions, new_scope

__all__ = ["InertTimer", "RecordTiming", "Timer", "TimerRun", "UnitName", "TimerUnitName"]

F = TypeVar("F", bound=Callable[..., Any])

#: What a timer calls when a timed run ends: ``record(timer, duration, extra, failed)``,
#: with the duration in the timer's unit, the run's monitored dimensions (or None) and
#: whether it raised. ``Metrics.record_timing`` is one; it must never raise.
RecordTiming = Callable[["Timer", float, "Mapping[str, str] | None", bool], None]

UnitName = Literal[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
]
"""CloudWatch's unit names, as type checkers see them (`Unit` members are accepted too).

At run time any case is accepted, and an unknown name raises `InvalidMetricError`."""
TimerUnitName = Literal["Seconds", "Milliseconds", "Microseconds"]
"""The units a timer records in."""

_SCALE = {Unit.SECONDS: 1.0, Unit.MILLISECONDS: 1e3, Unit.MICROSECONDS: 1e6}


def _reset(token: Any) -> None:
    """Restore the monitored scope; a token from another context (a block entered in one
    task and left in another) cannot be reset there and is left to its own context."""
    try:  # noqa: SIM105 - contextlib.suppress costs ~0.3 us here, once per call
        monitored_dimensions.reset(token)
    except ValueError:
        pass


class TimerRun:
    """One timed run: the context-manager value of ``with timer as run``.

    Attributes:
        failed: True when the block raised.
    """

    __slots__ = ("_ctx_token", "_duration", "_scope", "_start", "_timer", "_token", "failed")

    def __init__(self, timer: Timer) -> None:
        self._timer = timer
        self._start = 0.0
        self._scope: Scope | None = new_scope(timer.room) if timer.monitored else None
        self._token: Any = None
        self._ctx_token: Any = None
        self._duration: float | None = None
        self.failed = False

    @property
    def duration(self) -> float:
        """The elapsed time in the timer's unit, once the block has exited.

        Raises:
            CoreStateError: read inside the block, before it exited.
        """
        duration = self._duration
        if duration is None:
            raise CoreStateError("TimerRun.duration is only known once the timed block exited")
        return duration

    @property
    def done(self) -> bool:
        """True once the block has exited (``duration`` can be read)."""
        return self._duration is not None

    def _begin(self) -> TimerRun:
        if self._scope is not None:
            self._token = monitored_dimensions.set(self._scope)
        self._start = time.perf_counter()
        return self

    def _finish(self, failed: bool) -> None:
        elapsed = time.perf_counter() - self._start
        timer = self._timer
        self._duration = duration = elapsed * timer.scale
        self.failed = failed
        timer.record(timer, duration, self._scope, failed)

    def _end(self, failed: bool) -> None:
        if self._token is not None:
            _reset(self._token)
            self._token = None
        self._finish(failed)

    def __enter__(self) -> TimerRun:
        return self._begin()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end(exc_type is not None and not issubclass(exc_type, GeneratorExit))

    def _enter_step(self) -> Any:
        return monitored_dimensions.set(self._scope) if self._scope is not None else None

    @staticmethod
    def _leave_step(token: Any) -> None:
        if token is not None:
            _reset(token)


class Timer:
    """Times calls or blocks and records each duration as a value (percentiles kept).

    Use it as a context manager (``with timer as run: ...; run.duration``) or as a
    decorator on a function, a coroutine function, a generator or an async generator.
    Each use gets fresh state, so one Timer can time concurrent calls and blocks (per
    task and thread). The clock is ``time.perf_counter`` (monotonic); the datum's
    timestamp is the wall clock at exit.

    A call that raises is timed too, and also counted in ``<name>Failures`` (unit Count,
    same dimensions; for names over 247 characters, the name is shortened so that this
    fits CloudWatch's 255), so failures can be told apart: failure rate =
    ``<name>Failures`` Sum / ``<name>`` SampleCount.

    Args:
        record: called with each run's duration (see `RecordTiming`), e.g.
            ``Metrics.record_timing``; ``Metrics.timer()`` passes its own.
        name: metric name.
        unit: Seconds, Milliseconds (default) or Microseconds.
        dimensions: fixed dimensions.
        monitored: open a fresh ``with_monitored_dimension`` scope for each run.
        count_failures: also count failures in ``<name>Failures``.

    Raises:
        InvalidMetricError: a bad name, unit or dimensions (checked here, not at exit).
    """

    #: True for a timer that records nothing (see `InertTimer`).
    inert = False

    def __init__(
        self,
        record: RecordTiming,
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
        #: Where each run's duration goes.
        self.record = record
        self.name = name
        self.unit = parsed
        self.scale = _SCALE[parsed]
        self.dimensions = dict(normalise_dimensions(dimensions or {}))
        self.monitored = monitored
        self.count_failures = count_failures
        #: Dimensions a monitored run may still add.
        self.room = MAX_DIMENSIONS - len(self.dimensions)
        self._last: TimerRun | None = None
        self._active: ContextVar[list[TimerRun] | tuple[()]] = ContextVar(
            f"cwmetrics_timer_{id(self)}"
        )
        # Validate now, at the call site, not at the first exit (the namespace may not be
        # configured yet when a decorator runs at import time).
        MetricKey("Validation", name, self.dimensions, parsed)
        #: Where failures are counted: ``<name>Failures``, the name shortened to fit 255.
        self.failures_name = name[: MAX_NAME_LENGTH - len("Failures")] + "Failures"
        #: Identifies the timer's series (name, unit, fixed dimensions) as one string:
        #: what a ``record`` callable may cache its keys on.
        self.series = repr((name, parsed.value, sorted(self.dimensions.items())))

    def __enter__(self) -> TimerRun:
        run = TimerRun(self)._begin()
        # A per-context stack of runs: concurrent tasks/threads (and nesting) each exit
        # their own run. reset() removes the variable again, so contexts don't grow.
        run._ctx_token = self._active.set([*self._active.get(()), run])
        self._last = run
        return run

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack = self._active.get(())
        run: TimerRun | None
        if stack:
            run = stack[-1]
            try:
                self._active.reset(run._ctx_token)
            except ValueError:  # entered in another context (e.g. a parent task)
                self._active.set(stack[:-1])
        else:  # exited in another task/thread than the one that entered
            run = self._last
        if run is None or run._duration is not None:
            return
        run.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        """Decorate ``func`` so that every call is timed."""
        # Decide from func itself: a plain wrapper around a coroutine or generator function
        # (functools.wraps, contextlib.contextmanager) returns what it returns.
        target = func
        if inspect.isasyncgenfunction(target):
            return cast(F, functools.wraps(func)(self._wrap_async_gen(func)))
        # Plain functions and coroutines: begin/end inlined (this is per call, hot). The
        # scope object is created up front so that child tasks and threads started by the
        # call (which copy the context) add their dimensions to this same call.
        timer = self
        record = self.record
        scale = self.scale
        room = self.room if self.monitored else None
        var = monitored_dimensions
        clock = time.perf_counter

        if inspect.iscoroutinefunction(target):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                if room is not None:
                    scope_ = Scope()
                    scope_.room = room
                    token = var.set(scope_)
                else:
                    token = None
                start = clock()
                failed = True
                try:
                    result = await func(*args, **kwargs)
                    failed = False
                    return result
                finally:
                    elapsed = clock() - start
                    scope = None
                    if token is not None:
                        scope = var.get()
                        try:  # noqa: SIM105 - _reset() inlined: once per call, hot
                            var.reset(token)
                        except ValueError:  # left in another context than it was entered
                            pass
                    record(
                        timer, elapsed * scale, scope if scope.__class__ is Scope else None, failed
                    )

            return cast(F, async_wrapper)
        if inspect.isgeneratorfunction(target):
            return cast(F, functools.wraps(func)(self._wrap_gen(func)))

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if room is not None:
                scope_ = Scope()
                scope_.room = room
                token = var.set(scope_)
            else:
                token = None
            start = clock()
            failed = True
            try:
                result = func(*args, **kwargs)
                failed = False
                return result
            finally:
                elapsed = clock() - start
                scope = None
                if token is not None:
                    scope = var.get()
                    try:  # noqa: SIM105 - _reset() inlined: once per call, hot
                        var.reset(token)
                    except ValueError:  # left in another context than it was entered
                        pass
                record(timer, elapsed * scale, scope if scope.__class__ is Scope else None, failed)

        return cast(F, wrapper)

    def _wrap_gen(self, func: Callable[..., Generator[Any, Any, Any]]) -> Callable[..., Any]:
        # The monitored scope is installed only while the generator's own code runs (one
        # step at a time), in whatever context drives it: interleaved or handed-over
        # generators never see each other's dimensions, and nothing leaks to the caller.
        def gen_wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            run = TimerRun(self)
            run._start = time.perf_counter()
            failed = False
            token = run._enter_step()
            try:
                gen = func(*args, **kwargs)
            finally:
                run._leave_step(token)

            def step(action: Callable[..., Any], *arg: Any) -> Any:
                token = run._enter_step()
                try:
                    return action(*arg)
                finally:
                    run._leave_step(token)

            try:
                item = step(next, gen)
                while True:
                    try:
                        sent = yield item
                    except GeneratorExit:
                        step(gen.close)
                        raise
                    except BaseException as exc:  # noqa: BLE001 - forwarded into gen
                        item = step(gen.throw, exc)
                    else:
                        item = step(gen.send, sent)
            except StopIteration as stop:
                return stop.value
            except GeneratorExit:
                raise
            except BaseException:
                failed = True
                raise
            finally:
                run._finish(failed)

        return gen_wrapper

    def _wrap_async_gen(
        self, func: Callable[..., AsyncGenerator[Any, Any]]
    ) -> Callable[..., Any]:
        async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
            run = TimerRun(self)
            run._start = time.perf_counter()
            failed = False
            gen = func(*args, **kwargs)

            async def step(action: Callable[..., Any], *arg: Any) -> Any:
                token = run._enter_step()
                try:
                    return await action(*arg)
                finally:
                    run._leave_step(token)

            try:
                item = await step(gen.__anext__)
                while True:
                    try:
                        sent = yield item
                    except GeneratorExit:
                        await step(gen.aclose)
                        raise
                    except BaseException as exc:  # noqa: BLE001 - forwarded into gen
                        item = await step(gen.athrow, exc)
                    else:
                        item = await step(gen.asend, sent)
            except StopAsyncIteration:
                return
            except GeneratorExit:
                raise
            except BaseException:
                failed = True
                raise
            finally:
                run._finish(failed)

        return agen_wrapper

    def __repr__(self) -> str:
        return f"Timer({self.name!r}, unit={self.unit.value!r}, dimensions={self.dimensions!r})"


class InertTimer(Timer):
    """What ``Metrics.timer()`` returns for invalid arguments in ``errors="log"`` mode:
    it times blocks and calls like any timer but records nothing (the bad call was
    already logged and counted)."""

    inert = True

    def __init__(self, name: object) -> None:
        super().__init__(_record_nothing, "InvalidTimer", count_failures=False)
        self.name = repr(name)[:255]


def _record_nothing(
    timer: Timer, duration: float, extra: Mapping[str, str] | None, failed: bool
) -> None:
    """An inert timer's ``record``."""
