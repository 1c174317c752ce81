"""The reporter base: everything the sync and async reporters share that does no I/O.

This is httpx's ``BaseClient`` / ``Client`` / ``AsyncClient`` split. :class:`BaseReporter`
holds the core and its lock, the :class:`Clock`, the :class:`ReporterState`, transport
resolution (:meth:`BaseReporter._bind_transport` is the one place a resolved transport
meets the core), the recording methods, and every decision of the send loop, the drain
and stop, as small methods that return data. The drivers own only their loop, their send
and their waits: ``cloudwatch.py`` a thread, ``aiocloudwatch.py`` an asyncio task; they
differ in little more than ``await``.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cwmetrics_core import (
    Batch,
    CoreConfig,
    CoreStateError,
    FailureAction,
    InvalidConfigError,
    MetricKey,
    MetricsCore,
    SendOutcome,
    send_flow,
)
from cwmetrics_core import Disposition as _Disposition
from cwmetrics_transports import AsyncTransport, Transport, sink_for

from ._clock import Clock
from ._stats import ReporterStats

__all__ = ["BaseReporter", "ReporterState", "StopResult", "ON_DEMAND_INTERVAL"]

log = logging.getLogger("cloudwatch_metrics_client")

#: The core's flush interval when ``report_interval=None`` (no periodic reports): ten
#: years, so the automatic flush never comes due (the core has no "never" setting).
ON_DEMAND_INTERVAL = 10 * 365 * 86400.0
#: The longest the background loop sleeps without looking at the core again.
MAX_IDLE_WAIT = 60.0

TransportT = TypeVar("TransportT", Transport, AsyncTransport)
Flow = Generator[Batch, tuple[SendOutcome, float], None]


class ReporterState(enum.Enum):
    """Where a reporter is in its life (``reporter.state``)."""

    #: Created: recording works; ``flush()`` sends on demand; ``run()`` not called yet.
    NEW = "new"
    #: ``run()`` was called: reports are sent periodically.
    RUNNING = "running"
    #: ``stop()`` began: the core is closed (recording raises) and the rest is drained.
    STOPPING = "stopping"
    #: ``stop()`` finished: whatever was not delivered is dropped and counted.
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class StopResult:
    """What ``stop()`` settled: the decision the drivers act on (and log from)."""

    #: Everything recorded was delivered (what ``stop()`` returns).
    delivered: bool
    #: Samples dropped because the deadline passed (``stats.core.dropped_shutdown``).
    lost: float
    #: Requests still being sent (they settle when the endpoint answers).
    in_flight: int
    #: Close the transport now: this reporter built it and no send is using it.
    close_transport: bool


class _RateLimitedLog:
    """Log a message at most once per ``interval`` seconds per topic, counting the rest."""

    def __init__(self, clock: Clock, interval: float = 60.0) -> None:
        self._monotonic = clock.monotonic
        self._interval = interval
        self._last: dict[str, tuple[float, int]] = {}
        # Reentrant: a SIGTERM handler may log while the interrupted thread holds it.
        self._lock = threading.RLock()

    def __call__(self, topic: str, level: int, msg: str, *args: object) -> None:
        now = self._monotonic()
        with self._lock:
            last, suppressed = self._last.get(topic, (-1e18, 0))
            if now - last < self._interval:
                self._last[topic] = (last, suppressed + 1)
                return
            self._last[topic] = (now, 0)
        if suppressed:
            msg += " (%d similar messages suppressed)"
            args = (*args, suppressed)
        log.log(level, msg, *args)


class BaseReporter(Generic[TransportT]):
    """Owns a :class:`~cwmetrics_core.MetricsCore`, its lock and its clock; drivers add
    the I/O (a thread or a task, the transport's send, and the waits).

    Recording takes a plain lock for the duration of the core's record call (a few dict
    operations); the lock is never held during I/O, logging or user callbacks.
    """

    def __init__(
        self,
        report_interval: float | None = 60.0,
        *,
        transport: TransportT | None = None,
        client: Any = None,
        config: CoreConfig | None = None,
        max_buffered_datums: int | None = None,
        quantization: float | None = None,
        errors: str = "raise",
        shutdown_timeout: float = 5.0,
        handle_sigterm: bool = True,
        clock: Clock | None = None,
    ) -> None:
        if report_interval is not None and (
            not isinstance(report_interval, (int, float)) or not 0 < report_interval < 1e9
        ):
            raise InvalidConfigError(
                "report_interval", report_interval, "must be > 0 seconds (or None: on demand)"
            )
        if errors not in ("raise", "log"):
            raise InvalidConfigError("errors", errors, "must be 'raise' or 'log'")
        if not isinstance(shutdown_timeout, (int, float)) or shutdown_timeout < 0:
            raise InvalidConfigError("shutdown_timeout", shutdown_timeout, "must be >= 0")
        if not isinstance(handle_sigterm, bool):
            raise InvalidConfigError("handle_sigterm", handle_sigterm, "must be True or False")
        if clock is None:
            clock = Clock()
        elif not isinstance(clock, Clock):
            raise InvalidConfigError(
                "clock", clock, "must be a cloudwatch_metrics_client.Clock (or a subclass)"
            )
        if config is None:
            extra: dict[str, Any] = {}
            if max_buffered_datums is not None:
                extra["max_buffered_datums"] = max_buffered_datums
            interval = ON_DEMAND_INTERVAL if report_interval is None else float(report_interval)
            config = CoreConfig(flush_interval=interval, quantization=quantization, **extra)
        #: Seconds between periodic reports; None: only ``flush()``, full requests and
        #: ``stop()``/exit send.
        self.report_interval = None if report_interval is None else float(report_interval)
        self.errors = errors
        self.shutdown_timeout = float(shutdown_timeout)
        self.handle_sigterm = handle_sigterm
        self._config = config
        self._clock = clock
        self._state = ReporterState.NEW
        self._stop_result = False
        self._stop_deadline = 0.0
        self._transport: TransportT | None = None
        self._owns_transport = False
        self._fresh_state()
        if transport is not None and client is not None:
            raise TypeError("give transport= or client=, not both")
        if transport is not None or client is not None:
            self.use_client(transport if transport is not None else client)

    def _fresh_state(self) -> None:
        """The lock, the core and the counters: new ones (construction, after fork)."""
        self._lock = threading.Lock()
        self._core = MetricsCore(self._config, now=self._clock.time())
        #: The current core's lock-free recorder (``MetricsCore.value_recorder``):
        #: ``recorder(key, value, timestamp, count)`` validates and queues; when it returns
        #: True, call :meth:`fold`. What :meth:`record` does, one call shorter: ``Metrics``
        #: reads it at each call (never caches it: a fork replaces the core).
        self.recorder = self._core.value_recorder
        #: The same for one statistic-set observation (``record_statistic``).
        self.statistic_recorder = self._core.statistic_recorder
        self._invalid_dropped = 0
        self._background_errors = 0
        self._invalid_seen: set[object] = set()
        self._rlog = _RateLimitedLog(self._clock)
        self._overflow_seen = 0.0
        self._folded_seen = 0.0
        self._expired_seen = 0.0
        self._unsendable_seen = 0.0

    # ------------------------------------------------------------ configuration
    @property
    def clock(self) -> Clock:
        """The clock this reporter and the ``Metrics`` recording into it read."""
        return self._clock

    @property
    def config(self) -> CoreConfig:
        """The core's configuration (limits, buffer bound, timestamp age...)."""
        return self._config

    @property
    def state(self) -> ReporterState:
        """NEW, RUNNING, STOPPING or STOPPED."""
        return self._state

    @property
    def running(self) -> bool:
        """True between ``run()`` and ``stop()`` (periodic reporting is on)."""
        return self._state is ReporterState.RUNNING

    @property
    def core(self) -> MetricsCore:
        """The sans-IO core (read its state under no lock only for diagnostics)."""
        return self._core

    # ------------------------------------------------------------ transport
    def _adapt_client(self, client: Any) -> TransportT:
        """``client`` as this driver's kind of transport (TypeError if it cannot be)."""
        raise NotImplementedError

    def _default_transport(self) -> TransportT:
        """The transport to build when none was given."""
        raise NotImplementedError

    def use_client(self, client: Any) -> None:
        """Send through ``client`` (a client object or a transport) from now on.

        Raises:
            TypeError: an object this reporter cannot send through.
        """
        self._bind_transport(self._adapt_client(client), owned=False)

    @property
    def transport(self) -> TransportT:
        """The transport in use (the default one is built on first use).

        Raises:
            TransportError: the default transport cannot be built (no region, missing
                package).
        """
        transport = self._transport
        if transport is None:
            transport = self._bind_transport(self._default_transport(), owned=True)
        return transport

    def _bind_transport(self, transport: TransportT, *, owned: bool) -> TransportT:
        """The one place a resolved transport is bound to the core: the core packs with the
        sink the transport declares (PutMetricData in its wire format, EMF documents, OTLP)
        from now on. ``owned``: this reporter built it (and closes it on stop)."""
        sink = sink_for(transport, self._config.limits)
        self._transport = transport
        self._owns_transport = owned
        with self._lock:
            self._core.set_sink(sink)
        return transport

    # ------------------------------------------------------------ recording (hot path)
    def record(self, key: MetricKey, value: float, timestamp: float, count: float = 1.0) -> None:
        """Record ``count`` observations of ``value`` at ``timestamp`` (epoch seconds).

        The one recording method for values: ``Metrics`` binds it once. It takes no lock:
        the core's lock-free recorder validates and queues the observation, and every
        256 observations the queue is folded into the buffer under the lock (waking the
        loop when a full request is ready).

        Raises:
            CoreStateError: the reporter was stopped.
            InvalidMetricError / MetricTypeError: a bad value, count or timestamp.
        """
        if self.recorder(key, value, timestamp, count):
            self.fold()

    def fold(self) -> None:
        """Fold what the lock-free recorders queued into the buffer (under the lock), and
        wake the loop when a full request is ready. Call it when ``recorder`` or
        ``statistic_recorder`` returns True."""
        # `with`, not acquire()/try: a KeyboardInterrupt between acquire() and `try` would
        # leave the lock held for good.
        with self._lock:
            full = self._core.fold()
        if full:
            self._wake()

    def record_statistics(
        self,
        key: MetricKey,
        sample_count: float,
        sum: float,
        minimum: float,
        maximum: float,
        timestamp: float,
    ) -> None:
        """Merge a statistic set into ``key``'s SampleCount/Sum/Minimum/Maximum.

        Raises:
            CoreStateError: the reporter was stopped.
            InvalidMetricError / MetricTypeError: a bad statistic set or timestamp.
        """
        with self._lock:
            full = self._core.record_statistics(key, sample_count, sum, minimum, maximum, timestamp)
        if full:
            self._wake()

    def record_statistic(self, key: MetricKey, value: float, timestamp: float) -> None:
        """Merge one observation into ``key``'s statistic set (the fast path of
        ``record_statistics(key, 1, value, value, value, timestamp)``).

        Raises:
            CoreStateError: the reporter was stopped.
            InvalidMetricError / MetricTypeError: a bad value or timestamp.
        """
        if self.statistic_recorder(key, value, timestamp):
            self.fold()

    def count_invalid(self, name: object, exc: Exception) -> None:
        """``errors="log"``: count a rejected call (``stats.invalid_dropped``); log it
        once per metric name."""
        seen_key = repr(name)[:300]
        with self._lock:
            self._invalid_dropped += 1
            first = seen_key not in self._invalid_seen and len(self._invalid_seen) < 10_000
            if first:
                self._invalid_seen.add(seen_key)
        if first:
            log.warning("dropped invalid metric call for %s: %s", seen_key, exc)

    @property
    def stats(self) -> ReporterStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            core = self._core.stats
            return ReporterStats(core, self._invalid_dropped, self._background_errors)

    # ------------------------------------------------------------ driver hooks
    def _wake(self) -> None:
        """Wake the background loop early (a full request is ready, or stop())."""

    def _notify(self) -> None:
        """Tell ``flush()`` waiters that a request ended."""

    # ------------------------------------------------------------ lifecycle decisions
    def _check_runnable(self) -> None:
        if not self._looping:
            raise CoreStateError("this reporter was stopped; create a new one")

    def _plan_wait(self) -> tuple[float, float | None]:
        """The loop's next wait: (seconds to sleep, the core's deadline or None)."""
        with self._lock:
            deadline = self._core.next_deadline()
            pending = self._core.pending_datums
        now = self._clock.time()
        if (
            deadline is not None
            and deadline > now
            and not pending
            and self._state is ReporterState.NEW
        ):
            deadline = None  # started by flush() only: no periodic reports
        timeout = MAX_IDLE_WAIT if deadline is None else deadline - now
        return min(timeout, MAX_IDLE_WAIT), deadline

    def _due(self, woken: bool, deadline: float | None) -> bool:
        """After a wait: send now (woken, or the deadline passed)?"""
        return woken or (deadline is not None and deadline <= self._clock.time())

    @property
    def _looping(self) -> bool:
        """The loop keeps its schedule (not stopping)."""
        return self._state is ReporterState.NEW or self._state is ReporterState.RUNNING

    def _begin_flush(self, timeout: float | None) -> float:
        """Seal everything recorded; returns flush()'s monotonic deadline."""
        with self._lock:
            self._core.flush(self._clock.time())
        return self._clock.monotonic() + (1e9 if timeout is None else timeout)

    def _begin_stop(self, timeout: float | None) -> float:
        """STOPPING: close the core (recording raises from now on); returns stop()'s
        monotonic deadline."""
        budget = self.shutdown_timeout if timeout is None else timeout
        deadline = self._stop_deadline = self._clock.monotonic() + budget
        self._state = ReporterState.STOPPING
        # Every lock on the stop path is taken with a deadline: stop() may run in a
        # signal handler that interrupted this very thread while it was recording.
        if self._acquire(deadline):
            try:
                self._core.close(self._clock.time())
            finally:
                self._lock.release()
        return deadline

    def _close_core(self) -> None:
        """The loop's end: close the core (stop() may not have been able to)."""
        with self._lock:
            self._core.close(self._clock.time())

    def _settle_stop(self) -> StopResult | None:
        """STOPPED: drop what is left (counted, logged). None when the lock cannot be
        had (stop() in a signal handler during recording): a later stop() settles."""
        if not self._acquire(self._clock.monotonic() + 0.2):
            log.warning(
                "metrics reporter stop(): the reporter lock is held (stop() called from a "
                "signal handler during recording?); not waiting for it"
            )
            return None
        self._state = ReporterState.STOPPED
        try:
            delivered = self._core.pending_datums == 0 and not self._core.in_flight_batches
            lost = self._core.discard_pending(self._clock.time())
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
        result = StopResult(
            delivered=delivered and not lost,
            lost=lost,
            in_flight=in_flight,
            close_transport=self._owns_transport and self._transport is not None and not in_flight,
        )
        self._stop_result = result.delivered
        return result

    def _settle_after_stop(self) -> None:
        """The background loop ended after ``stop()`` returned: whatever is left is
        dropped and counted (see :meth:`_discard_if_stopped`)."""
        with self._lock:
            lost = self._discard_if_stopped()
        self._log_late_loss(lost)

    def _discard_if_stopped(self) -> float:
        """Under the lock. A send still in flight when ``stop()`` returned has ended:
        whatever it left (a failed batch re-queued) is dropped at once, in the same
        locked step, and counted in ``stats.core.dropped_shutdown``, never left buffered
        (and never seen buffered) after stop()."""
        if self._state is not ReporterState.STOPPED:
            return 0.0  # stop() has not settled yet: it discards what is left itself
        return self._core.discard_pending(self._clock.time())

    @staticmethod
    def _log_late_loss(lost: float) -> None:
        if lost:
            log.warning(
                "metrics reporter: %g sample(s) undelivered after stop() (a send still in "
                "flight at its deadline failed)",
                lost,
            )

    def _acquire(self, deadline: float) -> bool:
        return self._lock.acquire(timeout=max(0.0, deadline - self._clock.monotonic()))

    # ------------------------------------------------------------ send decisions
    def _open_flow(self) -> tuple[Flow, Batch | None]:
        """Start one pass of ``send_flow``: the flow and its first batch (or None)."""
        with self._lock:
            flow = send_flow(self._core, self._clock.time())
            return flow, next(flow, None)

    def _sent(self, flow: Flow, outcome: SendOutcome) -> Batch | None:
        """Report a send's outcome to the flow; the next batch of the pass (or None)."""
        with self._lock:
            try:
                batch = flow.send((outcome, self._clock.time()))
            except StopIteration:
                batch = None
            action = None if outcome.ok else self._core.last_failure
            lost = self._discard_if_stopped()
        if action is not None:
            self._report_failure(action)
        self._log_late_loss(lost)
        self._notify()
        return batch

    def _close_flow(self, flow: Flow) -> None:
        """End a pass: a batch handed out but not sent is re-queued, unsent (dropped
        and counted if stop() has settled meanwhile)."""
        with self._lock:
            flow.close()
            lost = self._discard_if_stopped()
        self._log_late_loss(lost)

    def _transport_raised(self, exc: Exception) -> SendOutcome:
        """A transport raised instead of reporting: count it; retried with backoff."""
        self._report_background_error(exc)
        return SendOutcome(ok=False, error_code="ClientException", message=type(exc).__name__)

    def _past(self, deadline: float | None) -> bool:
        """Start no request now: ``deadline`` (monotonic) or stop()'s deadline passed."""
        now = self._clock.monotonic()
        return (deadline is not None and now >= deadline) or (
            not self._looping and now >= self._stop_deadline
        )

    def _idle(self) -> bool:
        """Nothing sealed is waiting and nothing is in flight (a flush is complete)."""
        with self._lock:
            return self._core.pending_datums == 0 and not self._core.in_flight_batches

    def _drain_pause(self, deadline: float) -> float:
        """During a drain, after a pass: seconds to wait before the next one (backoff);
        0 when done (idle) or out of time."""
        if self._idle():
            return 0.0
        with self._lock:
            next_due = self._core.next_deadline()
        remaining = deadline - self._clock.monotonic()
        wait = 0.01 if next_due is None else max(0.01, next_due - self._clock.time())
        return max(0.0, min(wait, remaining))

    # ------------------------------------------------------------ reporting
    def _report_failure(self, action: FailureAction) -> None:
        outcome = action.outcome
        if action.disposition is _Disposition.RETRY:
            if outcome.error_code == "Abandoned":
                return
            self._rlog(
                "retry",
                logging.WARNING,
                "PutMetricData failed (%s, HTTP %s: %s); retrying after backoff",
                outcome.error_code,
                outcome.http_status,
                outcome.message,
            )
        elif action.dropped:
            self._rlog(
                f"drop:{outcome.error_code}",
                logging.ERROR,
                "PutMetricData rejected (%s, HTTP %s: %s); dropped %d datum(s), e.g. %r",
                outcome.error_code,
                outcome.http_status,
                outcome.message,
                len(action.dropped),
                action.dropped[0],
            )

    def _check_overflow(self) -> None:
        """Warn (rate-limited) when samples were dropped on overflow since the last check.

        Called from the background loop and flush/stop, never from the recording path.
        """
        self._check_cardinality()
        self._check_pack_drops()
        with self._lock:
            dropped = self._core.stats.dropped_overflow
            new = dropped - self._overflow_seen
            self._overflow_seen = dropped
        if new <= 0:
            return
        self._rlog(
            "overflow",
            logging.WARNING,
            "metrics buffer full (max_buffered_datums=%d): dropped %g new sample(s), %g "
            "in all (stats.core.dropped_overflow); is the endpoint reachable?",
            self._config.max_buffered_datums,
            new,
            dropped,
        )

    def _check_pack_drops(self) -> None:
        """Warn (rate-limited) about samples the core dropped while packing since the last
        check: data that aged past ``max_timestamp_age`` while it waited (an outage), and
        datums the sink can never carry (``dropped_invalid`` beyond what the endpoint
        rejected, which is logged with its answer)."""
        with self._lock:
            stats = self._core.stats
            expired = stats.dropped_expired
            new_expired = expired - self._expired_seen
            self._expired_seen = expired
            unsendable = stats.dropped_invalid
            new_unsendable = unsendable - self._unsendable_seen
            self._unsendable_seen = unsendable
        if new_expired > 0:
            self._rlog(
                "expired",
                logging.WARNING,
                "dropped %g sample(s) older than max_timestamp_age=%gs before they could be "
                "sent (%g in all, stats.core.dropped_expired); is the endpoint reachable?",
                new_expired,
                self._config.max_timestamp_age,
                expired,
            )
        if new_unsendable > 0:
            self._rlog(
                "unsendable",
                logging.WARNING,
                "dropped %g sample(s) as invalid for the endpoint (%g in all, "
                "stats.core.dropped_invalid): rejected by it, or impossible to encode for "
                "it (for EMF: a metric named like one of its dimensions or '_aws')",
                new_unsendable,
                unsendable,
            )

    def _check_cardinality(self) -> None:
        """Warn (rate-limited) when the cardinality guard folded samples since the last
        check (called with ``_check_overflow``, never from the recording path)."""
        with self._lock:
            guard = self._core.cardinality
            folded, example = guard.folded_samples, guard.last_folded
            new = folded - self._folded_seen
            self._folded_seen = folded
        if new > 0:
            self._rlog(
                "cardinality",
                logging.WARNING,
                "cardinality guard: %g new sample(s) of series past max_series_per_metric=%s "
                "were recorded under the metric's overflow series (%g in all, "
                "stats.core.folded_samples), e.g. %s %s",
                new,
                self._config.max_series_per_metric,
                folded,
                getattr(example, "name", None),
                dict(getattr(example, "dimensions", ())),
            )

    def _report_background_error(self, exc: BaseException) -> None:
        with self._lock:
            self._background_errors += 1
        self._rlog(
            "background", logging.ERROR, "metrics reporter error (it keeps running): %r", exc
        )

    def _unsent_warning(self) -> str | None:
        """The loop was cancelled (not stopped): what to warn about, if anything."""
        if not self._looping:
            return None
        stats = self.stats
        if not (stats.buffered or stats.in_flight):
            return None
        return (
            f"metrics reporter task cancelled with {stats.buffered:g} sample(s) unsent: "
            "await reporter.stop() before the event loop closes"
        )

    def __repr__(self) -> str:
        state = self._state.value
        interval = "on demand" if self.report_interval is None else f"{self.report_interval:g}s"
        return f"<{type(self).__name__} {state} interval={interval}>"
