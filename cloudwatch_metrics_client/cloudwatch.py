"""The sync API: a background-thread reporter and the seed's ``CloudWatchSyncMetrics``.

Example (the seed's usage)::

    from cloudwatch_metrics_client.cloudwatch import (
        CloudWatchSyncMetrics, CloudWatchSyncMetricReporter)

    reporter = CloudWatchSyncMetricReporter(report_interval=60)
    CloudWatchSyncMetrics.with_namespace("MyApp").with_reporter(reporter)
    reporter.run()

    @CloudWatchSyncMetrics.monitored_task
    def process_request(request): ...
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from types import FrameType, TracebackType
from typing import Any

from cwmetrics_core import CoreConfig, CoreStateError, send_flow
from cwmetrics_transports import Transport, sink_for

from ._facade import FacadeBase, UnitArg
from ._metrics import DimensionsArg, TimestampArg
from ._reporter import BaseReporter, log, transport_bug
from ._resolve import default_sync_transport, sync_transport

__all__ = ["CloudWatchSyncMetricReporter", "CloudWatchSyncMetrics"]

_MAX_IDLE_WAIT = 60.0


class CloudWatchSyncMetricReporter(BaseReporter):
    """Buffers metrics and reports them from a daemon thread (``cwmetrics-flush``).

    ====================  ==============================================================
    Argument              Meaning
    ====================  ==============================================================
    ``report_interval``   seconds between reports (default 60); ``None``: no periodic
                          reports, only ``flush()``, full requests and ``stop()``/exit
    ``transport``         a sync transport; default: boto3 from the AWS environment
    ``client``            a boto3 CloudWatch client instead of ``transport``
    ``max_buffered_datums`` memory bound; overflow is dropped, counted and logged
    ``quantization``      optional relative error (e.g. 0.01) to cap distinct values
    ``errors``            ``"raise"`` (default) or ``"log"``: log+count+drop bad calls
    ``shutdown_timeout``  seconds ``close()``, process exit and SIGTERM may spend draining
    ``flush_on_exit``     flush at interpreter exit (``atexit``), bounded by the timeout
    ``handle_sigterm``    on ``run()`` in the main thread, if SIGTERM has no handler
                          (``SIG_DFL``): install one that drains, then dies of SIGTERM
    ``config``            a full :class:`~cwmetrics_core.CoreConfig` (overrides the above)
    ====================  ==============================================================

    Recording is thread-safe from any number of threads; the lock is never held during
    I/O. Every send happens in the reporter's thread: ``flush()`` and ``stop()`` wait for
    it at most their ``timeout``, and a send still running then stays in flight until the
    endpoint answers (it is acknowledged or failed then, never lost or counted twice).
    A failed send never raises into your code and never stops the thread: it is
    logged (rate-limited), counted in :attr:`stats`, and retried with backoff.
    After ``os.fork()`` the child starts with an empty buffer and its own thread.
    """

    def __init__(
        self,
        report_interval: float | None = 60.0,
        *,
        transport: Transport | None = None,
        client: Any = None,
        config: CoreConfig | None = None,
        max_buffered_datums: int | None = None,
        quantization: float | None = None,
        errors: str = "raise",
        shutdown_timeout: float = 5.0,
        flush_on_exit: bool = True,
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
        self._transport: Transport | None = None
        self._owns_transport = False
        if transport is not None and client is not None:
            raise TypeError("give transport= or client=, not both")
        if transport is not None or client is not None:
            self.use_client(transport if transport is not None else client)
        elif flush_on_exit:
            # The exit flush may have to build the default transport, and imports fail
            # once the interpreter is shutting down: import its package now.
            _preload_default_transport()
        self._wakeup = threading.Event()
        # Notified by the thread after each request, so flush() can wait with a timeout.
        self._progress = threading.Condition()
        self._thread: threading.Thread | None = None
        self._running = False
        self._stopping = False
        self._stopped = False
        self._stop_result = False
        self._stop_deadline = 0.0
        _install_process_hooks()
        _fork_reporters.add(self)
        if flush_on_exit:
            _exit_reporters.add(self)

    # ------------------------------------------------------------ transport
    def use_client(self, client: Any) -> None:
        """Send through ``client`` (a boto3 client or a sync transport) from now on.

        Raises:
            TypeError: an async-only client or an unknown object.
        """
        transport = sync_transport(client)
        self._transport = transport
        self._owns_transport = False
        with self._lock:
            self._core.set_sink(sink_for(transport, self._config.limits))

    @property
    def transport(self) -> Transport:
        """The transport in use (the default one is built on first use).

        Raises:
            TransportError: the default transport cannot be built (no region, missing
                package).
        """
        if self._transport is None:
            transport = default_sync_transport()
            self._transport = transport
            self._owns_transport = True
            with self._lock:
                self._core.set_sink(sink_for(transport, self._config.limits))
        return self._transport

    # ------------------------------------------------------------ lifecycle
    def run(self) -> None:
        """Start the reporting thread (idempotent); returns immediately.

        Called from the main thread while SIGTERM has its default action, it also
        installs the SIGTERM handler (unless ``handle_sigterm=False``).

        Raises:
            TransportError: the default transport cannot be built.
            CoreStateError: the reporter was closed.
        """
        if self._stopped or self._stopping:
            raise CoreStateError("this reporter was closed; create a new one")
        self.transport  # noqa: B018 - resolve now so configuration errors surface here
        self._running = True
        self._ensure_thread()
        self._wakeup.set()  # a thread started by flush() now keeps the schedule too
        if self.handle_sigterm:
            _install_sigterm_handler(self)

    def _ensure_thread(self) -> bool:
        """Start the thread if it is not alive; False when it cannot be started (the
        interpreter is shutting down) or this is that thread."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            return thread is not threading.current_thread()
        thread = threading.Thread(target=self._loop, name="cwmetrics-flush", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # "can't create new thread at interpreter shutdown"
            return False
        self._thread = thread
        return True

    def _wake(self) -> None:
        self._wakeup.set()

    def _loop(self) -> None:
        while not self._stopping:
            with self._lock:
                deadline = self._core.next_deadline()
                pending = self._core.pending_datums
            now = self._clock()
            if deadline is not None and deadline > now and not (self._running or pending):
                deadline = None  # started by flush() only: no periodic reports
            timeout = _MAX_IDLE_WAIT if deadline is None else deadline - now
            woken = timeout <= 0 or self._wakeup.wait(min(timeout, _MAX_IDLE_WAIT))
            self._wakeup.clear()
            if self._stopping:
                break
            if not woken and (deadline is None or deadline > self._clock()):
                continue  # an idle wake-up: nothing is due
            try:
                self._send_cycle()
                self._check_overflow()
            except Exception as exc:  # noqa: BLE001 - the thread must never die
                self._report_background_error(exc)
                self._wakeup.wait(1.0)
            finally:
                self._notify()
        try:
            with self._lock:  # stop() may not have been able to (see stop())
                self._core.close(self._clock())
            self._drain(self._stop_deadline)
            self._settle_after_stop()
        except Exception as exc:  # noqa: BLE001
            self._report_background_error(exc)
        finally:
            self._notify()

    def _notify(self) -> None:
        # Bounded: a SIGTERM handler may hold up the flush() waiter that holds it; the
        # waiters re-check on their own every quarter second anyway.
        if self._progress.acquire(timeout=0.1):
            try:
                self._progress.notify_all()
            finally:
                self._progress.release()

    def _send_cycle(self, deadline: float | None = None) -> None:
        """One pass of send_flow: core calls under the lock, transport I/O outside it.

        No request is started after ``deadline`` (monotonic) or, once stopping, after
        stop()'s deadline: the flow is closed, which re-queues the batch it handed out,
        unsent.
        """
        transport = self.transport
        with self._lock:
            flow = send_flow(self._core, self._clock())
            batch = next(flow, None)
        try:
            while batch is not None and not self._past(deadline):
                try:
                    outcome = transport.send(batch.request)
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
        finally:
            with self._lock:
                flow.close()

    def _past(self, deadline: float | None) -> bool:
        now = time.monotonic()
        return (deadline is not None and now >= deadline) or (
            self._stopping and now >= self._stop_deadline
        )

    def _drain(self, deadline: float) -> bool:
        """Send until nothing sealed is left or ``deadline`` (monotonic) passes."""
        while True:
            if time.monotonic() >= deadline:
                return self._idle()
            self._send_cycle(deadline)
            if self._idle():
                return True
            with self._lock:
                next_due = self._core.next_deadline()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            wait = 0.01 if next_due is None else max(0.01, next_due - self._clock())
            time.sleep(min(wait, remaining))

    def _wait_idle(self, deadline: float) -> bool:
        """Wait (at most until ``deadline``) for the thread to send everything sealed."""
        with self._progress:
            while not self._idle():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                # Bounded waits: a thread that died at interpreter exit notifies nobody.
                self._progress.wait(min(remaining, 0.25))
        return True

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Send everything recorded so far; return when it is acknowledged, given up on,
        or ``timeout`` seconds (None = no limit) have passed, whichever comes first.

        The reporter's thread sends (it is started if :meth:`run` was not called; it
        then sends only on demand). Backoff pauses are respected. A request still being
        sent when the timeout expires stays in flight and is acknowledged (or retried)
        when the endpoint answers: it is neither lost nor sent twice.

        Returns:
            True when everything recorded before the call was sent (or dropped as
            rejected); False when the timeout expired first (the rest stays buffered
            or in flight).

        Raises:
            TransportError: the default transport cannot be built.
        """
        self.transport  # noqa: B018 - surface configuration errors to the caller
        with self._lock:
            self._core.flush(self._clock())
        deadline = time.monotonic() + (1e9 if timeout is None else timeout)
        if self._stopped:
            return self._idle()
        if self._ensure_thread():
            self._wakeup.set()
            delivered = self._wait_idle(deadline)
        else:  # no thread possible (interpreter shutdown): send from here
            delivered = self._drain(deadline)
        self._check_overflow()
        return delivered

    def stop(self, timeout: float | None = None) -> bool:
        """Flush and stop: the thread drains what is buffered, then exits. Idempotent.

        Returns within ``timeout`` (default ``shutdown_timeout``) even if the endpoint
        is down or slow; whatever could not be delivered in time is dropped, counted in
        ``stats.core.dropped_shutdown`` and logged. A request still being sent then
        stays in flight (``stats.in_flight``) until the endpoint answers.

        Returns:
            True when everything was delivered.
        """
        if self._stopped:
            return self._stop_result
        budget = self.shutdown_timeout if timeout is None else timeout
        deadline = self._stop_deadline = time.monotonic() + budget
        self._stopping = True
        self._wakeup.set()
        # Every lock on this path is taken with a deadline: stop() may run in a signal
        # handler that interrupted this very thread while it was recording (lock held).
        if self._acquire(deadline):
            try:
                self._core.close(self._clock())
            finally:
                self._lock.release()
        try:
            self.transport  # noqa: B018
        except Exception as exc:  # noqa: BLE001 - cannot send at all
            self._report_background_error(exc)
        else:
            if not self._ensure_thread() and self._thread is not threading.current_thread():
                try:  # no thread possible (interpreter shutdown): drain from here
                    self._drain(deadline)
                except Exception as exc:  # noqa: BLE001
                    self._report_background_error(exc)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(max(0.0, deadline - time.monotonic()))
        if not self._acquire(time.monotonic() + 0.2):
            # Not marked stopped: a later stop() (e.g. the exit hook) finishes the job.
            log.warning("metrics reporter stop(): the reporter lock is held (stop() called "
                        "from a signal handler during recording?); not waiting for it")
            return False
        self._stopped = True
        try:
            delivered = self._core.pending_datums == 0 and not self._core.in_flight_batches
            lost = self._core.discard_pending(self._clock())
            in_flight = self._core.in_flight_batches
        finally:
            self._lock.release()
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
                self._transport.close()
            except Exception as exc:  # noqa: BLE001
                self._report_background_error(exc)
        self._stop_result = delivered and not lost
        _exit_reporters.discard(self)
        _fork_reporters.discard(self)
        return self._stop_result

    def _acquire(self, deadline: float) -> bool:
        return self._lock.acquire(timeout=max(0.0, deadline - time.monotonic()))

    close = stop

    def __enter__(self) -> CloudWatchSyncMetricReporter:
        """Start reporting (``run()``); the ``with`` block's end drains and stops."""
        self.run()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _after_fork_in_child(self) -> None:
        self._reset_after_fork()
        self._wakeup = threading.Event()
        self._progress = threading.Condition()
        self._thread = None
        if self._owns_transport:
            self._transport = None  # connections are not fork-safe: build a new one
        elif self._transport is not None:
            self._core.set_sink(sink_for(self._transport, self._config.limits))
        if self._running and not self._stopping:
            self._ensure_thread()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running" if self._running else "idle"
        interval = "on demand" if self.report_interval is None else f"{self.report_interval:g}s"
        return f"<CloudWatchSyncMetricReporter {state} interval={interval}>"


# One atexit hook and one fork hook for the whole process, walking weak sets of the
# reporters alive (a hook per reporter would pile up with short-lived reporters).
_exit_reporters: weakref.WeakSet[CloudWatchSyncMetricReporter] = weakref.WeakSet()
_fork_reporters: weakref.WeakSet[CloudWatchSyncMetricReporter] = weakref.WeakSet()
_sigterm_reporters: weakref.WeakSet[CloudWatchSyncMetricReporter] = weakref.WeakSet()
_hooks_lock = threading.Lock()
_hooks_installed: list[bool] = []
_preloaded: list[bool] = []


def _install_process_hooks() -> None:
    with _hooks_lock:
        if _hooks_installed:
            return
        atexit.register(_close_all_at_exit)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_all)
        _hooks_installed.append(True)


def _preload_default_transport() -> None:
    """Import the default transport's package (boto3, else httpx) once per process.

    Building it later, in the exit hook, then works: during interpreter shutdown an
    import that registers a threading exit hook (boto3 -> concurrent.futures.thread)
    raises ``RuntimeError("can't register atexit after shutdown")``. Only the import:
    no client, no credentials, no network.
    """
    if _preloaded:
        return
    _preloaded.append(True)
    for package in ("boto3", "httpx"):  # the order of default_sync_transport()
        if importlib.util.find_spec(package) is not None:
            try:
                importlib.import_module(package)
            except Exception as exc:  # noqa: BLE001 - reported when the transport is built
                log.debug("could not import %s: %r", package, exc)
            return


def _close_all_at_exit() -> None:
    for reporter in list(_exit_reporters):
        if reporter._stopped:
            continue
        try:
            reporter.stop()
        except Exception as exc:  # noqa: BLE001 - never fail interpreter exit
            log.error("metrics reporter failed at exit: %r", exc)


def _after_fork_all() -> None:
    for reporter in list(_fork_reporters):
        if not reporter._stopped:
            reporter._after_fork_in_child()


def _install_sigterm_handler(reporter: CloudWatchSyncMetricReporter) -> None:
    """Drain ``reporter`` on SIGTERM, if the application left SIGTERM's default action.

    Only from the main thread (``signal.signal`` works nowhere else), and only over
    ``SIG_DFL``: an application or server (gunicorn, uvicorn) with its own handler keeps
    it, and its graceful shutdown runs the exit hook instead.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    with _hooks_lock:
        _sigterm_reporters.add(reporter)
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Drain every running reporter (bounded by ``shutdown_timeout``), then die of
    SIGTERM as the default action would have (the parent sees the signal, not an exit
    code; atexit hooks do not run, as before)."""
    reporters = [r for r in list(_sigterm_reporters) if not r._stopped]
    deadline = time.monotonic() + max((r.shutdown_timeout for r in reporters), default=0.0)
    for reporter in reporters:
        try:
            reporter.stop(max(0.0, min(reporter.shutdown_timeout, deadline - time.monotonic())))
        except Exception as exc:  # noqa: BLE001 - still die of the signal
            log.error("metrics reporter failed on SIGTERM: %r", exc)
    # The handler we replaced was SIG_DFL: restore it and re-raise the signal.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


class CloudWatchSyncMetrics(FacadeBase):
    """The seed's class-level sync API, a thin facade over one
    [Metrics][cloudwatch_metrics_client.Metrics].

    Example::

        reporter = CloudWatchSyncMetricReporter(report_interval=60)
        CloudWatchSyncMetrics.with_namespace("MyApp").with_reporter(reporter)
        reporter.run()

        @CloudWatchSyncMetrics.monitored_task
        def process_request(request):
            CloudWatchSyncMetrics.with_monitored_dimension("TypeOfRequest", request.kind)
            CloudWatchSyncMetrics.put_metric(MetricName="Items", Unit="Count",
                                             Dimensions={"Kind": "a"}, Value=3)
    """

    @classmethod
    def _new_reporter(cls) -> BaseReporter:
        return CloudWatchSyncMetricReporter()

    @classmethod
    def _use_client(cls, reporter: BaseReporter, client: Any) -> None:
        if not isinstance(reporter, CloudWatchSyncMetricReporter):
            raise TypeError("CloudWatchSyncMetrics needs a CloudWatchSyncMetricReporter")
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
    ) -> None:
        """Record a value; every distinct value is kept with its count (percentiles).

        Raises:
            InvalidMetricError: bad input (unless the reporter has ``errors="log"``).
        """
        (cls._live or cls._ready())._put_value(
            MetricName, Value, Unit, Dimensions, Timestamp, Count, StorageResolution
        )

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
    ) -> None:
        """Aggregate into Sum/SampleCount/Minimum/Maximum (no percentiles).

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

    put_statistics = put_statistic
