"""What the sync and async reporters share: the core, its lock, stats and logging."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cwmetrics_core import (
    CoreConfig,
    CoreStats,
    FailureAction,
    InvalidConfigError,
    MetricKey,
    MetricsCore,
    SendOutcome,
)
from cwmetrics_core import Disposition as _Disposition

__all__ = ["BaseReporter", "ReporterStats", "transport_bug", "ON_DEMAND_INTERVAL"]

log = logging.getLogger("cloudwatch_metrics_client")

#: The core's flush interval when ``report_interval=None`` (no periodic reports): ten
#: years, so the automatic flush never comes due (the core has no "never" setting).
ON_DEMAND_INTERVAL = 10 * 365 * 86400.0


@dataclass(frozen=True, slots=True)
class ReporterStats:
    """Counters of a reporter, in samples unless named otherwise.

    ``recorded == sent + dropped + buffered + in_flight`` always holds.
    """

    #: The core's counters (per-reason drops, requests, bytes, retries...).
    core: CoreStats
    #: Calls rejected and dropped in ``errors="log"`` mode.
    invalid_dropped: int
    #: Exceptions caught in the background loop (a bug or a transport misbehaving).
    background_errors: int

    @property
    def recorded(self) -> float:
        """Samples accepted."""
        return self.core.recorded_samples

    @property
    def sent(self) -> float:
        """Samples acknowledged by CloudWatch."""
        return self.core.sent_samples

    @property
    def buffered(self) -> float:
        """Samples held, not yet sent."""
        return self.core.buffered_samples

    @property
    def in_flight(self) -> float:
        """Samples being sent right now."""
        return self.core.in_flight_samples

    @property
    def dropped(self) -> float:
        """Samples dropped for any reason (see ``core`` for the reasons)."""
        return self.core.dropped_samples

    @property
    def retried(self) -> int:
        """Requests that failed and were re-queued."""
        return self.core.retries

    @property
    def requests(self) -> int:
        """PutMetricData requests acknowledged."""
        return self.core.requests_sent


def transport_bug(exc: BaseException) -> SendOutcome:
    """The outcome for a transport that raised instead of reporting (retried, backoff)."""
    return SendOutcome(ok=False, error_code="ClientException", message=type(exc).__name__)


class _RateLimitedLog:
    """Log a message at most once per ``interval`` seconds per topic, counting the rest."""

    def __init__(self, interval: float = 60.0) -> None:
        self._interval = interval
        self._last: dict[str, tuple[float, int]] = {}
        # Reentrant: a SIGTERM handler may log while the interrupted thread holds it.
        self._lock = threading.RLock()

    def __call__(self, topic: str, level: int, msg: str, *args: object) -> None:
        now = time.monotonic()
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


class BaseReporter:
    """Owns a :class:`~cwmetrics_core.MetricsCore` and its lock; drivers add the I/O.

    Recording takes a plain lock for the duration of ``core.record_value`` (a few dict
    operations); the lock is never held during I/O, logging or user callbacks.
    """

    def __init__(
        self,
        report_interval: float | None = 60.0,
        *,
        config: CoreConfig | None = None,
        max_buffered_datums: int | None = None,
        quantization: float | None = None,
        errors: str = "raise",
        shutdown_timeout: float = 5.0,
        handle_sigterm: bool = True,
        clock: Callable[[], float] = time.time,
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
        self._lock = threading.Lock()
        self._core = MetricsCore(config, now=clock())
        self._invalid_dropped = 0
        self._background_errors = 0
        self._invalid_seen: set[object] = set()
        self._rlog = _RateLimitedLog()
        self._overflow_seen = 0.0
        self._folded_seen = 0.0
        self._stopped = False

    # ------------------------------------------------------------ recording (hot path)
    def _record_value(self, key: MetricKey, value: float, ts: float, count: float) -> None:
        # `with`, not acquire()/try: a KeyboardInterrupt between acquire() and `try` would
        # leave the lock held for good. (Metrics._put_value inlines this method.)
        with self._lock:
            full = self._core.record_value(key, value, ts, count)
        if full:
            self._wake()

    def _record_statistic_value(self, key: MetricKey, value: float, ts: float) -> None:
        with self._lock:
            full = self._core.record_statistic_value(key, value, ts)
        if full:
            self._wake()

    def _record_statistics(
        self, key: MetricKey, n: float, total: float, low: float, high: float, ts: float
    ) -> None:
        with self._lock:
            full = self._core.record_statistics(key, n, total, low, high, ts)
        if full:
            self._wake()

    def _wake(self) -> None:
        """Wake the background loop early (a full request is ready)."""

    def _count_invalid(self, name: object, exc: Exception) -> None:
        """errors="log": count a rejected call; log it once per metric name."""
        seen_key = repr(name)[:300]
        with self._lock:
            self._invalid_dropped += 1
            first = seen_key not in self._invalid_seen and len(self._invalid_seen) < 10_000
            if first:
                self._invalid_seen.add(seen_key)
        if first:
            log.warning("dropped invalid metric call for %s: %s", seen_key, exc)

    # ------------------------------------------------------------ observation
    @property
    def core(self) -> MetricsCore:
        """The sans-IO core (read its state under no lock only for diagnostics)."""
        return self._core

    @property
    def stats(self) -> ReporterStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            core = self._core.stats
            return ReporterStats(core, self._invalid_dropped, self._background_errors)

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

    def _idle(self) -> bool:
        """Nothing sealed is waiting and nothing is in flight (a flush is complete)."""
        with self._lock:
            return self._core.pending_datums == 0 and not self._core.in_flight_batches

    def _settle_after_stop(self) -> None:
        """The background loop ended after ``stop()`` returned: a send that was still in
        flight then has ended, and whatever it left (a failed batch re-queued) is dropped
        and counted in ``stats.core.dropped_shutdown``, not left buffered forever."""
        with self._lock:
            if not self._stopped:
                return  # stop() has not settled yet: it discards what is left itself
            lost = self._core.discard_pending(self._clock())
        if lost:
            log.warning(
                "metrics reporter: %g sample(s) undelivered after stop() (a send still in "
                "flight at its deadline failed)",
                lost,
            )

    def _check_overflow(self) -> None:
        """Warn (rate-limited) when samples were dropped on overflow since the last check.

        Called from the background loop and flush/stop, never from the recording path.
        """
        self._check_cardinality()
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

    def _reset_after_fork(self) -> None:
        """In a forked child: a fresh lock and an empty core (the parent reports its data)."""
        self._lock = threading.Lock()
        self._core = MetricsCore(self._config, now=self._clock())
        self._invalid_dropped = 0
        self._background_errors = 0
        self._invalid_seen = set()
        self._rlog = _RateLimitedLog()
        self._overflow_seen = 0.0
        self._folded_seen = 0.0
