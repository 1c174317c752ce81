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
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from types import TracebackType
from typing import Any, cast

from cwmetrics_core import CoreConfig, CoreStateError, send_flow
from cwmetrics_transports import AsyncTransport

from ._facade import FacadeBase, UnitArg
from ._metrics import DimensionsArg, TimestampArg
from ._reporter import BaseReporter, log, transport_bug
from ._resolve import async_transport, default_async_transport, default_async_transport_async

__all__ = ["CloudWatchAsyncMetricReporter", "CloudWatchAsyncMetrics"]

_MAX_IDLE_WAIT = 60.0


class CloudWatchAsyncMetricReporter(BaseReporter):
    """Buffers metrics and reports them from an asyncio task.

    Takes the same arguments as
    :class:`~cloudwatch_metrics_client.cloudwatch.CloudWatchSyncMetricReporter`, with an
    async ``transport`` (default: httpx + SigV4 when installed, else boto3 in a worker
    thread) or ``client`` (an aiobotocore/aioboto3 client, or a boto3 client, which then
    runs in a worker thread, never on the event loop).

    ``await run()`` starts periodic reporting and returns; ``await flush()`` sends what
    was recorded; ``await stop()`` (also ``aclose()``, ``async with``) drains and stops.
    Recording never awaits I/O. Failed sends are logged (rate-limited), counted and
    retried with backoff; they never raise into your code.
    """

    def __init__(
        self,
        report_interval: float = 60.0,
        *,
        transport: AsyncTransport | None = None,
        client: Any = None,
        config: CoreConfig | None = None,
        max_buffered_datums: int | None = None,
        quantization: float | None = None,
        errors: str = "raise",
        shutdown_timeout: float = 5.0,
        max_concurrency: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            report_interval,
            config=config,
            max_buffered_datums=max_buffered_datums,
            quantization=quantization,
            errors=errors,
            shutdown_timeout=shutdown_timeout,
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
        self._send_lock: asyncio.Lock | None = None
        self._stopping = False
        self._stopped = False

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
            self._core.set_wire_format(transport.wire_format)

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
                self._core.set_wire_format(transport.wire_format)
        return self._transport

    async def _resolve_transport(self) -> AsyncTransport:
        """The transport; the default one is built here (aiobotocore needs ``await``)."""
        if self._transport is None:
            transport = await default_async_transport_async()
            self._transport = transport
            self._owns_transport = True
            with self._lock:
                self._core.set_wire_format(transport.wire_format)
        return self._transport

    # ------------------------------------------------------------ lifecycle
    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._loop_thread = threading.get_ident()
            self._wakeup = asyncio.Event()
            self._send_lock = asyncio.Lock()

    async def run(self) -> None:
        """Start periodic reporting in a background task (idempotent); returns at once.

        Raises:
            TransportError: the default transport cannot be built.
            CoreStateError: the reporter was stopped.
        """
        if self._stopping or self._stopped:
            raise CoreStateError("this reporter was stopped; create a new one")
        await self._resolve_transport()  # configuration errors surface here
        self._bind_loop()
        if self._task is None or self._task.done():
            assert self._loop is not None
            self._task = self._loop.create_task(self._run_loop(), name="cwmetrics-flush")

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
                timeout = _MAX_IDLE_WAIT if deadline is None else deadline - self._clock()
                if timeout > 0:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(wakeup.wait(), min(timeout, _MAX_IDLE_WAIT))
                wakeup.clear()
                if self._stopping:
                    break
                try:
                    await self._send_cycle()
                except Exception as exc:  # noqa: BLE001 - the task must never die
                    self._report_background_error(exc)
                    await asyncio.sleep(1.0)
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

    async def _send_cycle(self) -> None:
        """One pass of send_flow; up to ``max_concurrency`` flows run at once."""
        transport = self.transport
        assert self._send_lock is not None
        async with self._send_lock:
            if self.max_concurrency == 1:
                await self._one_flow(transport)
            else:
                await asyncio.gather(
                    *(self._one_flow(transport) for _ in range(self.max_concurrency))
                )

    async def _one_flow(self, transport: AsyncTransport) -> None:
        with self._lock:
            flow = send_flow(self._core, self._clock())
            batch = next(flow, None)
        try:
            while batch is not None:
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
                if batch is not None:
                    # Packing the next request is CPU work: let other tasks run between
                    # requests even when the transport answered without suspending.
                    await asyncio.sleep(0)
        finally:
            with self._lock:
                flow.close()  # a cancelled send is re-queued, not lost

    def _idle(self) -> bool:
        with self._lock:
            return self._core.pending_datums == 0 and not self._core.in_flight_batches

    async def _drain(self, deadline: float) -> bool:
        while True:
            await self._send_cycle()
            if self._idle():
                return True
            with self._lock:
                next_due = self._core.next_deadline()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            wait = 0.01 if next_due is None else max(0.01, next_due - self._clock())
            await asyncio.sleep(min(wait, remaining))

    async def flush(self, timeout: float | None = 30.0) -> bool:
        """Send everything recorded so far; return when acknowledged or given up on.

        Works without :meth:`run`. Backoff pauses are respected within ``timeout``.

        Returns:
            True when everything recorded before the call was sent (or dropped as
            rejected); False on timeout (the rest stays buffered).
        """
        await self._resolve_transport()
        self._bind_loop()
        with self._lock:
            self._core.flush(self._clock())
        deadline = time.monotonic() + (1e9 if timeout is None else timeout)
        try:
            return await asyncio.wait_for(
                self._drain(deadline), None if timeout is None else timeout + 1.0
            )
        except asyncio.TimeoutError:
            return False

    async def stop(self, timeout: float | None = None) -> bool:
        """Drain what is buffered, stop the task, close our transport. Idempotent.

        Bounded by ``timeout`` (default ``shutdown_timeout``); what could not be
        delivered is dropped, counted in ``stats.core.dropped_shutdown`` and logged.

        Returns:
            True when everything was delivered.
        """
        if self._stopped:
            return self.stats.buffered == 0
        budget = self.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        self._stopping = True
        with self._lock:
            self._core.close(self._clock())
        # Let the loop finish the send in hand: cancelling it mid-request would re-queue a
        # batch the endpoint may already have applied (and send it twice).
        if self._wakeup is not None:
            self._wake()
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(
                    asyncio.shield(task), max(0.0, deadline - time.monotonic())
                )
            except asyncio.TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        delivered = False
        try:
            await self._resolve_transport()
            self._bind_loop()
            delivered = await asyncio.wait_for(
                self._drain(deadline), max(0.0, deadline - time.monotonic()) + 0.05
            )
        except asyncio.TimeoutError:
            delivered = False
        except Exception as exc:  # noqa: BLE001 - cannot send at all
            self._report_background_error(exc)
        self._stopped = True
        with self._lock:
            lost = self._core.discard_pending(self._clock())
            in_flight = self._core.in_flight_batches
        if lost or in_flight:
            log.warning(
                "metrics reporter stopped with %g sample(s) undelivered (%d batch(es) in flight)",
                lost,
                in_flight,
            )
        if self._owns_transport and self._transport is not None:
            try:
                await self._transport.aclose()
            except Exception as exc:  # noqa: BLE001
                self._report_background_error(exc)
        return delivered and not lost

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

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running" if self._task else "idle"
        return f"<CloudWatchAsyncMetricReporter {state} interval={self.report_interval:g}s>"


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
