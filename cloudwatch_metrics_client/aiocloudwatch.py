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
import warnings
import weakref
from collections.abc import Awaitable, Coroutine, Generator
from types import TracebackType
from typing import Any, cast

from cwmetrics_core import CoreConfig, InvalidConfigError
from cwmetrics_transports import AsyncTransport

from ._clock import Clock
from ._facade import FacadeBase
from ._reporter import BaseReporter, ReporterState, log
from ._resolve import async_transport, default_async_transport, default_async_transport_async

__all__ = ["CloudWatchAsyncMetricReporter", "CloudWatchAsyncMetrics"]

#: Packing work per slice between two yields to the loop (MetricsCore.prepare's budget),
#: at most: about 0.3 ms of CPython time for one-value datums.
_PACK_SLICE = 50
#: A slice that takes longer than this (on the reporter's monotonic clock: a slow or busy
#: machine, heavy datums) halves the next slice's budget; one well under it doubles the
#: budget back, up to _PACK_SLICE.
_SLICE_SECONDS = 0.002


class CloudWatchAsyncMetricReporter(BaseReporter[AsyncTransport]):
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
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            report_interval,
            transport=transport,
            client=client,
            config=config,
            max_buffered_datums=max_buffered_datums,
            quantization=quantization,
            errors=errors,
            shutdown_timeout=shutdown_timeout,
            handle_sigterm=handle_sigterm,
            clock=clock,
        )
        if type(max_concurrency) is not int or max_concurrency < 1:
            raise InvalidConfigError("max_concurrency", max_concurrency, "must be an int >= 1")
        self.max_concurrency = max_concurrency
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wakeup: asyncio.Event | None = None
        # Set (and replaced) by the task after each request, so flush() can wait.
        self._progress: asyncio.Event | None = None
        #: The next pack slice's budget (MetricsCore.prepare), adapted to its duration.
        self._pack_budget = _PACK_SLICE

    def _adapt_client(self, client: Any) -> AsyncTransport:
        return async_transport(client)

    def _default_transport(self) -> AsyncTransport:
        return default_async_transport()

    async def _resolve_transport(self) -> AsyncTransport:
        """The transport; the default one is built here (aiobotocore needs ``await``)."""
        transport = self._transport
        if transport is None:
            transport = self._bind_transport(await default_async_transport_async(), owned=True)
        return transport

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
        self._check_runnable()
        await self._resolve_transport()  # configuration errors surface here
        self._state = ReporterState.RUNNING
        loop = self._bind_loop()
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
            while self._looping:
                timeout, deadline = self._plan_wait()
                woken = timeout <= 0 or await _wait(wakeup, timeout)
                wakeup.clear()
                if not self._looping:
                    break
                if not self._due(woken, deadline):
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
                self._close_core()
                await self._drain(self._stop_deadline)
                self._settle_after_stop()
            except Exception as exc:  # noqa: BLE001
                self._report_background_error(exc)
            finally:
                self._notify()
        except asyncio.CancelledError:
            message = self._unsent_warning()
            if message is not None:
                log.warning(message)
                warnings.warn(message, ResourceWarning, stacklevel=1)
            raise

    def _notify(self) -> None:
        progress = self._progress
        if progress is not None:
            self._progress = asyncio.Event()
            progress.set()

    async def _send_cycle(self, deadline: float | None = None) -> None:
        """One pass of send_flow per ``max_concurrency``, core calls under the lock,
        transport I/O outside it.

        No request is started after ``deadline`` (monotonic) or, once stopping, after
        stop()'s deadline: the flow is closed, which re-queues the batch it handed out,
        unsent.
        """
        transport = self.transport
        if self.max_concurrency > 1:
            flows = (self._send_flow(transport, deadline) for _ in range(self.max_concurrency))
            await asyncio.gather(*flows)
        else:
            await self._send_flow(transport, deadline)

    async def _pack_ahead(self) -> None:
        """Pack the next request a slice at a time, letting other tasks run in between
        (packing 1000 datums in one piece blocks the loop for milliseconds). Each slice
        is timed: one over ``_SLICE_SECONDS`` makes the next one smaller."""
        clock = self._clock
        while True:
            budget = self._pack_budget
            start = clock.monotonic()
            with self._lock:
                more = self._core.prepare(clock.time(), budget)
            spent = clock.monotonic() - start
            if spent > _SLICE_SECONDS:
                self._pack_budget = max(1, budget // 2)
            elif spent < _SLICE_SECONDS / 4 and budget < _PACK_SLICE:
                self._pack_budget = min(_PACK_SLICE, budget * 2)
            if not more:
                return
            await asyncio.sleep(0)

    async def _send_flow(self, transport: AsyncTransport, deadline: float | None) -> None:
        await self._pack_ahead()
        flow, batch = self._open_flow()
        try:
            while batch is not None and not self._past(deadline):
                # While this batch is in hand and unsent, prepare the one after it (a
                # cancellation here re-queues this batch: it was never sent).
                await self._pack_ahead()
                try:
                    outcome = await transport.asend(batch.request)
                except Exception as exc:  # noqa: BLE001 - a transport bug is data too
                    outcome = self._transport_raised(exc)
                batch = self._sent(flow, outcome)
                if batch is not None:
                    # Packing the next request is CPU work: let other tasks run between
                    # requests even when the transport answered without suspending.
                    await asyncio.sleep(0)
        finally:
            self._close_flow(flow)  # a cancelled send is re-queued, not lost

    async def _drain(self, deadline: float) -> bool:
        """Send until nothing sealed is left or ``deadline`` (monotonic) passes."""
        while not self._past(deadline):
            await self._send_cycle(deadline)
            pause = self._drain_pause(deadline)
            if pause <= 0:
                break
            await asyncio.sleep(pause)
        return self._idle()

    async def _wait_idle(self, deadline: float) -> bool:
        """Wait (at most until ``deadline``) for the task to send everything sealed."""
        while not self._idle():
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                return False
            progress = self._progress  # read with no await since the check: no lost wake
            assert progress is not None
            await _wait(progress, min(remaining, 0.25))  # only this wait ends, never the send
        return True

    async def flush(self, timeout: float | None = 30.0) -> bool:
        """Have the reporter's task send everything recorded so far, and wait for the
        answers at most ``timeout`` seconds (None: no limit).

        Without :meth:`run`, the task is started and sends only on demand. Backoff
        pauses are respected. The timeout ends the wait, never the send: a request under
        way then is not cancelled; it stays in flight and is acknowledged (or retried)
        when the endpoint answers, never lost or sent twice.

        Returns:
            False on timeout (the rest stays buffered or in flight); True once all of it
            was sent (or dropped as rejected).
        """
        await self._resolve_transport()
        self._bind_loop()
        deadline = self._begin_flush(timeout)
        if self._state is ReporterState.STOPPED:
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

        Bounded by ``timeout`` (default ``shutdown_timeout``) however slow or down the
        endpoint is; what could not be delivered in time is dropped, counted in
        ``stats.core.dropped_shutdown`` and logged. The send under way then is not
        cancelled: it stays in flight (``stats.in_flight``) while the event loop runs.

        Returns:
            Whether everything was delivered.
        """
        if self._state is ReporterState.STOPPED:
            return self._stop_result
        deadline = self._begin_stop(timeout)
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
                remaining = max(0.0, deadline - self._clock.monotonic())
                await asyncio.wait_for(asyncio.shield(task), remaining)
        result = self._settle_stop()
        if result is None:
            return False  # not settled: a later stop() finishes
        if result.close_transport and self._transport is not None:
            try:
                await self._transport.aclose()
            except Exception as exc:  # noqa: BLE001
                self._report_background_error(exc)
        return result.delivered

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
    reporters = [
        r
        for r in list(_sigterm_reporters)
        if r._loop is loop and r.state is not ReporterState.STOPPED
    ]
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


class CloudWatchAsyncMetrics(FacadeBase[Awaitable[None]]):
    """The seed's class-level asyncio API, a thin facade over one
    [Metrics][cloudwatch_metrics_client.Metrics].

    ``put_metric``/``put_statistic`` are awaitable (as in the seed) but never wait for
    I/O: awaiting them costs about as much as a plain call.
    """

    _reporter_type = CloudWatchAsyncMetricReporter
    _done = DONE
