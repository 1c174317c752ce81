"""The asyncio API: a task-driven reporter and the seed's ``CloudWatchAsyncMetrics``.

Example (the seed's usage)::

    from cloudwatch_metrics_client.aiocloudwatch import (
        CloudWatchAsyncMetrics, CloudWatchAsyncMetricReporter)

    async def setup():
        reporter = CloudWatchAsyncMetricReporter(report_interval=60)
        CloudWatchAsyncMetrics.with_namespace("MyApp").with_reporter(reporter)
        await reporter.run()

    @CloudWatchAsyncMetrics.monitored_task
    async def process_request(request): ...
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
import warnings
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from types import TracebackType
from typing import Any, cast

from cwmetrics_core import CoreConfig, CoreStateError, send_flow
from cwmetrics_transports import AsyncTransport, sink_for

from ._facade import FacadeBase, UnitArg
from ._metrics import DimensionsArg, TimestampArg
from ._reporter import BaseReporter, log, transport_bug
from ._resolve import async_transport, default_async_transport, default_async_transport_async

__all__ = ["CloudWatchAsyncMetricReporter", "CloudWatchAsyncMetrics"]

_MAX_IDLE_WAIT = 60.0
#: Packing work per slice between two yields to the loop (MetricsCore.prepare's budget).
_PACK_SLICE = 50


class CloudWatchAsyncMetricReporter(BaseReporter):
    """Buffers metrics and reports them from an asyncio task.

    Takes the same arguments as
    :class:`~cloudwatch_metrics_client.cloudwatch.CloudWatchSyncMetricReporter`, with an
    async ``transport`` (default: httpx + SigV4 when installed, else boto3 in a worker
    thread) or ``client`` (an aiobotocore/aioboto3 client, or a boto3 client, which then
    runs in a worker thread, never on the event loop).

    ``await run()`` starts periodic reporting and returns; ``await flush()`` sends what
    was recorded; ``await stop()`` (also ``aclose()``, ``async with``) drains and stops.
    Every send happens in the reporter's task: ``flush()`` and ``stop()`` wait for it at
    most their ``timeout`` and never cancel a send (a send still running then stays in
    flight until the endpoint answers). Recording never awaits I/O. Failed sends are
    logged (rate-limited), counted and retried with backoff; they never raise into your
    code. ``await run()`` on the main thread's loop, while SIGTERM has its default
    action, also drains on SIGTERM (``handle_sigterm=False`` to opt out).
    """

    def __init__(
        self,
        report_interval: float | None = 60.0,
        *,
        transport: AsyncTransport | None = None,
        client: Any = None,
        config: CoreConfig | None = None,
        max_buffered_datums: int | None = None,
        quantization: float | None = None,
        errors: str = "raise",
        shutdown_timeout: float = 5.0,
        max_concurrency: int = 1,
        handle_sigterm: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            report_interval,
            config=config,
            max_buffered_datums=max_buffered_datums,
            quantization=quantization,
            errors=errors,
            shutdown_timeout=shutdown_timeout,
            handle_sigterm=handle_sigterm,
            clock=clock,
        )
        if type(max_concurrency) is not int or max_concurrency < 1:
            from cwmetrics_core import InvalidConfigError

            raise InvalidConfigError("max_concurrency", max_concurrency, "must be an int >= 1")
        self.max_concurrency = max_concurrency
        self._transport: AsyncTransport | None = None
        self._owns_transport = False
        if transport is not None and client is not None:
            raise TypeError("give transport= or client=, not both")
        if transport is not None or client is not None:
            self.use_client(transport if transport is not None else client)
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wakeup: asyncio.Event | None = None
        # Set (and replaced) by the task after each request, so flush() can wait.
        self._progress: asyncio.Event | None = None
        self._running = False
        self._stopping = False
        self._stopped = False
        self._stop_result = False
        self._stop_deadline = 0.0

    # ------------------------------------------------------------ transport
    def use_client(self, client: Any) -> None:
        """Send through ``client`` from now on (sync clients run in a worker thread).

        Raises:
            TypeError: an unknown object.
        """
        transport = async_transport(client)
        self._transport = transport
        self._owns_transport = False
        with self._lock:
            self._core.set_sink(sink_for(transport, self._config.limits))

    @property
    def transport(self) -> AsyncTransport:
        """The transport in use (the default one is built on first use).

        Raises:
            TransportError: the default transport cannot be built.
        """
        if self._transport is None:
            transport = default_async_transport()
            self._transport = transport
            self._owns_transport = True
            with self._lock:
                self._core.set_sink(sink_for(transport, self._config.limits))
        return self._transport

    async def _resolve_transport(self) -> AsyncTransport:
        """The transport; the default one is built here (aiobotocore needs ``await``)."""
        if self._transport is None:
            transport = await default_async_transport_async()
            self._transport = transport
            self._owns_transport = True
            with self._lock:
                self._core.set_sink(sink_for(transport, self._config.limits))
        return self._transport

    # ------------------------------------------------------------ lifecycle
    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._loop_thread = threading.get_ident()
            self._wakeup = asyncio.Event()
            self._progress = asyncio.Event()
        return loop

    async def run(self) -> None:
        """Start periodic reporting in a background task (idempotent); returns at once.

        On the main thread's loop, while SIGTERM has its default action, it also
        installs the SIGTERM handler (unless ``handle_sigterm=False``).

        Raises:
            TransportError: the default transport cannot be built.
            CoreStateError: the reporter was stopped.
        """
        if self._stopping or self._stopped:
            raise CoreStateError("this reporter was stopped; create a new one")
        await self._resolve_transport()  # configuration errors surface here
        loop = self._bind_loop()
        self._running = True
        self._ensure_task()
        self._wake()  # a task started by flush() now keeps the schedule too
        if self.handle_sigterm:
            _install_sigterm_handler(self, loop)

    def _ensure_task(self) -> bool:
        """Start the task on the bound loop if it is not running there; False when the
        caller is that task."""
        task, loop = self._task, self._loop
        assert loop is not None
        if task is not None and not task.done() and task.get_loop() is loop:
            return task is not asyncio.current_task()
        self._task = loop.create_task(self._run_loop(), name="cwmetrics-flush")
        return True

    def _wake(self) -> None:
        wakeup, loop = self._wakeup, self._loop
        if wakeup is None or loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            wakeup.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(wakeup.set)

    async def _run_loop(self) -> None:
        assert self._wakeup is not None
        wakeup = self._wakeup
        try:
            while not self._stopping:
                with self._lock:
                    deadline = self._core.next_deadline()
                    pending = self._core.pending_datums
                now = self._clock()
                if deadline is not None and deadline > now and not (self._running or pending):
                    deadline = None  # started by flush() only: no periodic reports
                timeout = _MAX_IDLE_WAIT if deadline is None else deadline - now
                woken = timeout <= 0 or await _wait(wakeup, min(timeout, _MAX_IDLE_WAIT))
                wakeup.clear()
                if self._stopping:
                    break
                if not woken and (deadline is None or deadline > self._clock()):
                    continue  # an idle wake-up: nothing is due
                try:
                    await self._send_cycle()
                    self._check_overflow()
                except Exception as exc:  # noqa: BLE001 - the task must never die
                    self._report_background_error(exc)
                    await asyncio.sleep(1.0)
                finally:
                    self._notify()
            try:
                with self._lock:
                    self._core.close(self._clock())
                await self._drain(self._stop_deadline)
                self._settle_after_stop()
            except Exception as exc:  # noqa: BLE001
                self._report_background_error(exc)
            finally:
                self._notify()
        except asyncio.CancelledError:
            if not self._stopping:
                stats = self.stats
                if stats.buffered or stats.in_flight:
                    message = (
                        f"metrics reporter task cancelled with {stats.buffered:g} sample(s) "
                        "unsent: await reporter.stop() before the event loop closes"
                    )
                    log.warning(message)
                    warnings.warn(message, ResourceWarning, stacklevel=1)
            raise

    def _notify(self) -> None:
        progress = self._progress
        if progress is not None:
            self._progress = asyncio.Event()
            progress.set()

    async def _send_cycle(self, deadline: float | None = None) -> None:
        """One pass of send_flow; up to ``max_concurrency`` flows run at once.

        No request is started after ``deadline`` (monotonic) or, once stopping, after
        stop()'s deadline: the flow is closed, which re-queues the batch it handed out,
        unsent.
        """
        transport = self.transport
        if self.max_concurrency == 1:
            await self._one_flow(transport, deadline)
        else:
            await asyncio.gather(
                *(self._one_flow(transport, deadline) for _ in range(self.max_concurrency))
            )

    async def _pack_ahead(self) -> None:
        """Pack the next request a slice at a time, letting other tasks run in between
        (packing 1000 datums in one piece blocks the loop for milliseconds)."""
        while True:
            with self._lock:
                more = self._core.prepare(self._clock(), _PACK_SLICE)
            if not more:
                return
            await asyncio.sleep(0)

    async def _one_flow(self, transport: AsyncTransport, deadline: float | None) -> None:
        await self._pack_ahead()
        with self._lock:
            flow = send_flow(self._core, self._clock())
            batch = next(flow, None)
        try:
            while batch is not None and not self._past(deadline):
                # While this batch is in hand and unsent, prepare the one after it (a
                # cancellation here re-queues this batch: it was never sent).
                await self._pack_ahead()
                try:
                    outcome = await transport.asend(batch.request)
                except Exception as exc:  # noqa: BLE001 - a transport bug is data too
                    self._report_background_error(exc)
                    outcome = transport_bug(exc)
                with self._lock:
                    try:
                        batch = flow.send((outcome, self._clock()))
                    except StopIteration:
                        batch = None
                    action = None if outcome.ok else self._core.last_failure
                if action is not None:
                    self._report_failure(action)
                self._notify()
                if batch is not None:
                    # Packing the next request is CPU work: let other tasks run between
                    # requests even when the transport answered without suspending.
                    await asyncio.sleep(0)
        finally:
            with self._lock:
                flow.close()  # a cancelled send is re-queued, not lost

    def _past(self, deadline: float | None) -> bool:
        now = time.monotonic()
        return (deadline is not None and now >= deadline) or (
            self._stopping and now >= self._stop_deadline
        )

    async def _drain(self, deadline: float) -> bool:
        """Send until nothing sealed is left or ``deadline`` (monotonic) passes."""
        while True:
            if time.monotonic() >= deadline:
                return self._idle()
            await self._send_cycle(deadline)
            if self._idle():
                return True
            with self._lock:
                next_due = self._core.next_deadline()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            wait = 0.01 if next_due is None else max(0.01, next_due - self._clock())
            await asyncio.sleep(min(wait, remaining))

    async def _wait_idle(self, deadline: float) -> bool:
        """Wait (at most until ``deadline``) for the task to send everything sealed."""
        while not self._idle():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            progress = self._progress  # read with no await since the check: no lost wake
            assert progress is not None
            await _wait(progress, min(remaining, 0.25))  # only this wait ends, never the send
        return True

    async def flush(self, timeout: float | None = 30.0) -> bool:
        """Send everything recorded so far; return when it is acknowledged, given up on,
        or ``timeout`` seconds (None = no limit) have passed, whichever comes first.

        The reporter's task sends (it is started if :meth:`run` was not called; it then
        sends only on demand). Backoff pauses are respected. A request still being sent
        when the timeout expires is not cancelled: it stays in flight and is
        acknowledged (or retried) when the endpoint answers, never lost or sent twice.

        Returns:
            True when everything recorded before the call was sent (or dropped as
            rejected); False on timeout (the rest stays buffered or in flight).
        """
        await self._resolve_transport()
        self._bind_loop()
        with self._lock:
            self._core.flush(self._clock())
        deadline = time.monotonic() + (1e9 if timeout is None else timeout)
        if self._stopped:
            return self._idle()
        if self._ensure_task():
            self._wake()
            delivered = await self._wait_idle(deadline)
        else:  # called from the task itself (a transport callback): send from here
            delivered = await self._drain(deadline)
        self._check_overflow()
        return delivered

    async def stop(self, timeout: float | None = None) -> bool:
        """Drain what is buffered, stop the task, close our transport. Idempotent.

        Returns within ``timeout`` (default ``shutdown_timeout``) even if the endpoint
        is down or slow; what could not be delivered is dropped, counted in
        ``stats.core.dropped_shutdown`` and logged. A request still being sent then is
        not cancelled: it stays in flight (``stats.in_flight``) until the endpoint
        answers, as long as the event loop runs.

        Returns:
            True when everything was delivered.
        """
        if self._stopped:
            return self._stop_result
        budget = self.shutdown_timeout if timeout is None else timeout
        deadline = self._stop_deadline = time.monotonic() + budget
        self._stopping = True
        with self._lock:
            self._core.close(self._clock())
        task: asyncio.Task[None] | None = None
        try:
            await self._resolve_transport()
        except Exception as exc:  # noqa: BLE001 - cannot send at all
            self._report_background_error(exc)
        else:
            self._bind_loop()
            if self._ensure_task():
                task = self._task
            self._wake()
        if task is not None and not task.done():
            # Shielded: the deadline ends the wait, not the send in hand (cancelling it
            # would re-queue a request the endpoint may already have applied).
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    asyncio.shield(task), max(0.0, deadline - time.monotonic())
                )
        self._stopped = True
        with self._lock:
            delivered = self._core.pending_datums == 0 and not self._core.in_flight_batches
            lost = self._core.discard_pending(self._clock())
            in_flight = self._core.in_flight_batches
        if lost or in_flight:
            log.warning(
                "metrics reporter stopped with %g sample(s) undelivered (%d batch(es) still "
                "in flight)",
                lost,
                in_flight,
            )
        self._check_overflow()
        if self._owns_transport and self._transport is not None and not in_flight:
            try:
                await self._transport.aclose()
            except Exception as exc:  # noqa: BLE001
                self._report_background_error(exc)
        self._stop_result = delivered and not lost
        return self._stop_result

    aclose = stop

    async def __aenter__(self) -> CloudWatchAsyncMetricReporter:
        await self.run()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """True between ``run()`` and ``stop()`` (periodic reporting is on)."""
        return self._running and not (self._stopping or self._stopped)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running" if self._running else "idle"
        interval = "on demand" if self.report_interval is None else f"{self.report_interval:g}s"
        return f"<CloudWatchAsyncMetricReporter {state} interval={interval}>"


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    """``event.wait()`` for at most ``timeout`` seconds; True when it was set.

    Not ``wait_for``: on Python < 3.12 it swallows a cancellation that arrives as the
    event is set, and a task cancelled by ``asyncio.run()`` at exit would then hang it.
    """
    if event.is_set():
        return True
    waiter = asyncio.ensure_future(event.wait())
    try:
        done, _ = await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()
    return bool(done)


# SIGTERM: one handler per event loop (asyncio's add_signal_handler, so the drain runs
# as a task on that loop, never as a blocking call inside a signal handler).
_sigterm_reporters: weakref.WeakSet[CloudWatchAsyncMetricReporter] = weakref.WeakSet()
_sigterm_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def _install_sigterm_handler(
    reporter: CloudWatchAsyncMetricReporter, loop: asyncio.AbstractEventLoop
) -> None:
    """Drain ``reporter`` on SIGTERM, if the application left SIGTERM's default action.

    Only for the main thread's loop (``add_signal_handler`` works nowhere else) and only
    over ``SIG_DFL``: an application or server (uvicorn, gunicorn) with its own handler
    keeps it, and its graceful shutdown (ASGI lifespan) stops the reporter instead.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    _sigterm_reporters.add(reporter)
    if loop in _sigterm_loops or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    try:
        loop.add_signal_handler(signal.SIGTERM, _on_sigterm, loop)
    except (NotImplementedError, RuntimeError, ValueError):  # e.g. Windows loops
        return
    _sigterm_loops.add(loop)


def _on_sigterm(loop: asyncio.AbstractEventLoop) -> None:
    """A loop callback (not a signal handler): back to SIG_DFL, so a second SIGTERM
    kills at once, and drain in a task."""
    loop.remove_signal_handler(signal.SIGTERM)
    _sigterm_loops.discard(loop)
    loop.create_task(_stop_then_die(loop), name="cwmetrics-sigterm")


async def _stop_then_die(loop: asyncio.AbstractEventLoop) -> None:
    """Stop the loop's reporters (bounded by ``shutdown_timeout``), then die of SIGTERM
    as the default action would have (the parent sees the signal, not an exit code)."""
    reporters = [r for r in list(_sigterm_reporters) if r._loop is loop and not r._stopped]
    budget = max((r.shutdown_timeout for r in reporters), default=0.0)
    try:
        await asyncio.wait_for(
            asyncio.gather(*(r.stop() for r in reporters), return_exceptions=True),
            budget + 1.0,
        )
    except Exception as exc:  # noqa: BLE001 - still die of the signal
        log.error("metrics reporter failed on SIGTERM: %r", exc)
    finally:
        os.kill(os.getpid(), signal.SIGTERM)


class _Done(Coroutine[Any, Any, None]):
    """An already-completed coroutine: ``await`` returns None at once and never suspends;
    ``asyncio.create_task``/``run_coroutine_threadsafe`` accept it like any coroutine.
    Stateless, so one shared instance serves every call."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        # An exhausted iterator: ``await`` finishes at once with None, allocating nothing.
        return _EXHAUSTED

    def send(self, value: Any) -> Any:
        raise StopIteration(None)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        if val is None:
            val = typ() if isinstance(typ, type) else typ
        raise val

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "<completed>"


_EXHAUSTED = cast(Generator[Any, None, None], iter(()))
DONE = _Done()


class CloudWatchAsyncMetrics(FacadeBase):
    """The seed's class-level asyncio API, a thin facade over one
    [Metrics][cloudwatch_metrics_client.Metrics].

    ``put_metric``/``put_statistic`` are awaitable (as in the seed) but never wait for
    I/O: awaiting them costs about as much as a plain call.
    """

    @classmethod
    def _new_reporter(cls) -> BaseReporter:
        return CloudWatchAsyncMetricReporter()

    @classmethod
    def _use_client(cls, reporter: BaseReporter, client: Any) -> None:
        if not isinstance(reporter, CloudWatchAsyncMetricReporter):
            raise TypeError("CloudWatchAsyncMetrics needs a CloudWatchAsyncMetricReporter")
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
    ) -> Awaitable[None]:
        """Record a value; every distinct value is kept with its count (percentiles).

        Recorded when called; the returned awaitable is already complete (``await`` it as
        the seed does, or not: nothing is lost without it, and nothing waits for I/O).

        Raises:
            InvalidMetricError: bad input (unless the reporter has ``errors="log"``).
        """
        (cls._live or cls._ready())._put_value(
            MetricName, Value, Unit, Dimensions, Timestamp, Count, StorageResolution
        )
        return DONE

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
    ) -> Awaitable[None]:
        """Aggregate into Sum/SampleCount/Minimum/Maximum (no percentiles).

        Recorded when called; the returned awaitable is already complete.

        Raises:
            InvalidMetricError: bad input (unless the reporter has ``errors="log"``).
        """
        cls._ready().put_statistic(
            MetricName,
            Value,
            unit=Unit,
            dimensions=Dimensions,
            timestamp=Timestamp,
            statistic_values=StatisticValues,
            storage_resolution=StorageResolution,
        )
        return DONE

    put_statistics = put_statistic
