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
from types import FrameType, TracebackType
from typing import Any

from cwmetrics_core import CoreConfig
from cwmetrics_transports import Transport

from ._clock import Clock
from ._facade import FacadeBase
from ._reporter import BaseReporter, ReporterState, log
from ._resolve import default_sync_transport, sync_transport

__all__ = ["CloudWatchSyncMetricReporter", "CloudWatchSyncMetrics"]


class CloudWatchSyncMetricReporter(BaseReporter[Transport]):
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
    ``clock``             a :class:`~cloudwatch_metrics_client.Clock` (wall time for
                          timestamps, monotonic for deadlines); inject a fake in tests
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
        if self._transport is None and flush_on_exit:
            # The exit flush may have to build the default transport, and imports fail
            # once the interpreter is shutting down: import its package now.
            _preload_default_transport()
        self._wakeup = threading.Event()
        # Notified by the thread after each request, so flush() can wait with a timeout.
        self._progress = threading.Condition()
        self._thread: threading.Thread | None = None
        _install_process_hooks()
        _fork_reporters.add(self)
        if flush_on_exit:
            _exit_reporters.add(self)

    def _adapt_client(self, client: Any) -> Transport:
        return sync_transport(client)

    def _default_transport(self) -> Transport:
        return default_sync_transport()

    # ------------------------------------------------------------ lifecycle
    def run(self) -> None:
        """Start the reporting thread (idempotent); returns immediately.

        Called from the main thread while SIGTERM has its default action, it also
        installs the SIGTERM handler (unless ``handle_sigterm=False``).

        Raises:
            TransportError: the default transport cannot be built.
            CoreStateError: the reporter was closed.
        """
        self._check_runnable()
        self.transport  # noqa: B018 - resolve now so configuration errors surface here
        self._state = ReporterState.RUNNING
        self._ensure_thread()
        self._wake()  # a thread started by flush() now keeps the schedule too
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
        while self._looping:
            timeout, deadline = self._plan_wait()
            woken = timeout <= 0 or self._wakeup.wait(timeout)
            self._wakeup.clear()
            if not self._looping:
                break
            if not self._due(woken, deadline):
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
            self._close_core()
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
        flow, batch = self._open_flow()
        try:
            while batch is not None and not self._past(deadline):
                try:
                    outcome = transport.send(batch.request)
                except Exception as exc:  # noqa: BLE001 - a transport bug is data too
                    outcome = self._transport_raised(exc)
                batch = self._sent(flow, outcome)
        finally:
            self._close_flow(flow)

    def _drain(self, deadline: float) -> bool:
        """Send until nothing sealed is left or ``deadline`` (monotonic) passes."""
        while not self._past(deadline):
            self._send_cycle(deadline)
            pause = self._drain_pause(deadline)
            if pause <= 0:
                break
            time.sleep(pause)
        return self._idle()

    def _wait_idle(self, deadline: float) -> bool:
        """Wait (at most until ``deadline``) for the thread to send everything sealed."""
        with self._progress:
            while not self._idle():
                remaining = deadline - self._clock.monotonic()
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
        deadline = self._begin_flush(timeout)
        if self._state is ReporterState.STOPPED:
            return self._idle()
        if self._ensure_thread():
            self._wake()
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
        if self._state is ReporterState.STOPPED:
            return self._stop_result
        deadline = self._begin_stop(timeout)
        self._wake()
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
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - self._clock.monotonic()))
        result = self._settle_stop()
        if result is None:
            return False  # not settled: a later stop() (e.g. the exit hook) finishes
        if result.close_transport and self._transport is not None:
            try:
                self._transport.close()
            except Exception as exc:  # noqa: BLE001
                self._report_background_error(exc)
        _exit_reporters.discard(self)
        _fork_reporters.discard(self)
        return result.delivered

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
        self._fresh_state()
        self._wakeup = threading.Event()
        self._progress = threading.Condition()
        self._thread = None
        if self._owns_transport:
            self._transport = None  # connections are not fork-safe: build a new one
        elif self._transport is not None:
            self._bind_transport(self._transport, owned=False)
        if self._state is ReporterState.RUNNING:
            self._ensure_thread()


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
        if reporter.state is ReporterState.STOPPED:
            continue
        try:
            reporter.stop()
        except Exception as exc:  # noqa: BLE001 - never fail interpreter exit
            log.error("metrics reporter failed at exit: %r", exc)


def _after_fork_all() -> None:
    for reporter in list(_fork_reporters):
        if reporter.state is not ReporterState.STOPPED:
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
    reporters = [r for r in list(_sigterm_reporters) if r.state is not ReporterState.STOPPED]
    deadline = time.monotonic() + max((r.shutdown_timeout for r in reporters), default=0.0)
    for reporter in reporters:
        try:
            reporter.stop(max(0.0, min(reporter.shutdown_timeout, deadline - time.monotonic())))
        except Exception as exc:  # noqa: BLE001 - still die of the signal
            log.error("metrics reporter failed on SIGTERM: %r", exc)
    # The handler we replaced was SIG_DFL: restore it and re-raise the signal.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


class CloudWatchSyncMetrics(FacadeBase[None]):
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

    _reporter_type = CloudWatchSyncMetricReporter
    _done = None
