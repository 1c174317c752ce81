"""MetricsCore: the sans-IO state machine.

It performs no I/O, starts no threads and never reads a clock: every method that needs the
time takes ``now`` (epoch seconds, the same clock as the event timestamps). After calling any
mutating method, call :meth:`MetricsCore.next_deadline` and re-arm your timer.
"""

from __future__ import annotations

import enum
import math
import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ._config import CoreConfig
from ._errors import CoreStateError, InvalidConfigError, MetricTypeError
from ._events import (
    MetricEvent,
    PutStatisticSet,
    PutValue,
    as_number,
    bad_value,
    check_count,
    check_key,
    check_statistics,
    check_timestamp,
    check_value,
)
from ._limits import MAX_EPOCH_SECONDS, MAX_VALUE, MIN_NONZERO_VALUE
from ._model import Batch, MetricDatum, MetricKey, PutMetricDataRequest
from ._retry import Disposition, SendOutcome
from ._wire import WireFormat, encoder_for

__all__ = ["CoreState", "CoreStats", "FailureAction", "MetricsCore"]

_INF = math.inf
#: key -> period timestamp -> (value -> count)
_ValueStore = dict[MetricKey, dict[float, dict[float, float]]]
#: key -> period timestamp -> [sample_count, sum, minimum, maximum]
_StatStore = dict[MetricKey, dict[float, list[float]]]


class CoreState(enum.Enum):
    """Lifecycle of a :class:`MetricsCore`."""

    #: Accepting events.
    OPEN = "open"
    #: ``close()`` was called: everything buffered is due now; ``record()`` raises.
    CLOSING = "closing"
    #: Nothing buffered and nothing in flight after ``close()``.
    CLOSED = "closed"


_OPEN = CoreState.OPEN


@dataclass(frozen=True, slots=True)
class CoreStats:
    """A snapshot of the core's counters, in samples unless named otherwise.

    ``recorded_samples == sent_samples + dropped_samples + buffered_samples +
    in_flight_samples`` always holds.
    """

    #: Samples accepted by ``record()`` (sum of counts / sample counts), overflow included.
    recorded_samples: float
    #: Samples in acknowledged requests.
    sent_samples: float
    #: Samples held and not in flight (live, queued or waiting for a retry).
    buffered_samples: float
    #: Samples in batches handed out and not yet acked or failed.
    in_flight_samples: float
    #: Dropped because ``max_buffered_datums`` was reached.
    dropped_overflow: float
    #: Dropped because the service rejected the datum itself (after bisection).
    dropped_invalid: float
    #: Dropped because the service refused the request for good (e.g. access denied).
    dropped_rejected: float
    #: Dropped because their timestamp left CloudWatch's two-week window while queued.
    dropped_expired: float
    #: Dropped by ``discard_pending()`` (a shutdown that ran out of time).
    dropped_shutdown: float
    #: Datums held (live, queued, retrying and in flight).
    buffered_datums: int
    #: Batches handed out and not yet resolved.
    in_flight_batches: int
    #: Requests acknowledged.
    requests_sent: int
    #: Datums in acknowledged requests.
    datums_sent: int
    #: Body bytes of acknowledged requests.
    bytes_sent: int
    #: Calls to ``failed()``.
    send_failures: int
    #: Failed batches re-queued for a retry.
    retries: int
    #: Failed batches bisected after a content rejection.
    splits: int

    @property
    def dropped_samples(self) -> float:
        """All dropped samples, whatever the reason."""
        return (
            self.dropped_overflow
            + self.dropped_invalid
            + self.dropped_rejected
            + self.dropped_expired
            + self.dropped_shutdown
        )


@dataclass(frozen=True, slots=True)
class FailureAction:
    """What :meth:`MetricsCore.failed` did with a batch (for the driver's log).

    Attributes:
        disposition: retried, split or dropped.
        retry_at: when sending resumes (``RETRY``), else None.
        dropped: datums dropped by this call (``DROP``, or a lone datum after ``SPLIT``).
        outcome: the outcome that was reported.
    """

    disposition: Disposition
    retry_at: float | None
    dropped: tuple[MetricDatum, ...]
    outcome: SendOutcome


#: Content rejections in a row (no ack in between) before bisection is paced by backoff.
_FREE_REJECTS = 12
_MEMBER = re.compile(r"(?<![A-Za-z.])MetricData\.member\.(\d+)\b")


def _named_member(message: str, size: int) -> int | None:
    """The 0-based datum a rejection message names (``MetricData.member.N``), if any."""
    found = _MEMBER.search(message)
    if found is None:
        return None
    index = int(found.group(1)) - 1
    return index if 0 <= index < size else None


def _denoise(value: float, scale: float) -> float:
    """Zero out float rounding residue (fractional counts summed in different orders):
    a few ulps of the totals, never a whole sample."""
    return 0.0 if abs(value) <= 64 * math.ulp(max(1.0, abs(scale))) else value


def _quantizer(rel_error: float) -> Callable[[float], float]:
    """Map values to a logarithmic grid with relative error <= ``rel_error``."""
    gamma = (1.0 + rel_error) / (1.0 - rel_error)
    log_gamma = math.log(gamma)
    scale = 2.0 / (1.0 + gamma)

    def quantize(value: float) -> float:
        if value == 0.0:
            return 0.0
        index = math.ceil(math.log(abs(value)) / log_gamma)
        # Stay within what CloudWatch accepts: the grid point may lie just outside.
        rep = min(max(scale * gamma**index, MIN_NONZERO_VALUE), MAX_VALUE)
        return rep if value > 0 else -rep

    return quantize


class MetricsCore:
    """Takes metric events, emits ready-to-send PutMetricData batches. No I/O.

    Args:
        config: settings (``CoreConfig()`` is sensible).
        now: the current time, epoch seconds; the first automatic flush is due at
            ``now + config.flush_interval`` (never, when it is None). An early send of a
            full request does not move this schedule.

    The send cycle::

        core.record(PutValue(key, 12.5, timestamp=t))      # cheap; or core.record_value(...)
        deadline = core.next_deadline()                     # sleep until then (or a wake-up)
        for batch in core.batches_to_send(now):             # each batch is now in flight
            outcome = transport.send(batch.request)
            core.ack(batch, now) if outcome.ok else core.failed(batch, now, outcome)

    Every batch handed out must be passed to ``ack()`` or ``failed()`` exactly once; a send
    abandoned half-way is ``failed(batch, now, SendOutcome(ok=False, error_code="Abandoned"))``,
    which re-queues it. ``cwmetrics_core.send_flow`` does this bookkeeping for you.
    """

    def __init__(self, config: CoreConfig | None = None, *, now: float) -> None:
        self._config = config = config if config is not None else CoreConfig()
        self._now = as_number("now", now)
        if not math.isfinite(self._now):
            raise InvalidConfigError("now", now, "must be a finite number of seconds")
        limits = config.limits
        self._max_values = limits.max_values_per_datum
        self._max_datums = limits.max_datums_per_request
        self._max_bytes = limits.max_request_bytes
        self._max_buffered = config.max_buffered_datums
        self._max_age = config.max_timestamp_age
        self._encoder = encoder_for(config.wire_format)
        self._policy = config.retry
        self._quantize = _quantizer(config.quantization) if config.quantization else None
        # No flush_interval: no periodic flush (an infinite interval, never due).
        interval = config.flush_interval
        self._interval = _INF if interval is None else float(interval)
        self._next_flush = self._now + self._interval
        self._state = _OPEN
        # Live accumulators: key -> period timestamp -> (value -> count) / [n, sum, min, max].
        self._values: _ValueStore = {}
        self._stats: _StatStore = {}
        # Datums closed early because merging more would leave CloudWatch's value range
        # (an accumulated Sum, SampleCount or Count beyond 2**360): sent beside the live ones.
        self._closed: list[MetricDatum] = []
        self._live_datums = 0
        # Sealed generations, converted to datums lazily by _fill().
        self._sealed: deque[tuple[_ValueStore, _StatStore, list[MetricDatum]]] = deque()
        self._converter: Iterator[MetricDatum] | None = None
        self._ready: dict[str, deque[MetricDatum]] = {}
        self._isolated: deque[list[MetricDatum]] = deque()
        self._in_flight: dict[int, tuple[Batch, bool]] = {}
        self._in_flight_datums = 0
        self._datums = 0  # every datum held: live + queued + in flight
        self._paused_until = -_INF
        self._failures_in_a_row = 0
        self._rejects_in_a_row = 0
        self._next_id = 1
        self._last_failure: FailureAction | None = None
        # Counters (samples are floats: counts may be fractional).
        self._recorded = 0.0
        self._sent = 0.0
        self._in_flight_samples = 0.0
        self._dropped_overflow = 0.0
        self._dropped_invalid = 0.0
        self._dropped_rejected = 0.0
        self._dropped_expired = 0.0
        self._dropped_shutdown = 0.0
        self._requests_sent = 0
        self._datums_sent = 0
        self._bytes_sent = 0
        self._send_failures = 0
        self._retries = 0
        self._splits = 0

    # ------------------------------------------------------------------ properties
    @property
    def config(self) -> CoreConfig:
        """The configuration this core was built with."""
        return self._config

    @property
    def wire_format(self) -> WireFormat:
        """The encoding requests are packed and measured in."""
        return self._encoder.wire_format

    def set_wire_format(self, wire_format: WireFormat | str) -> None:
        """Pack future requests in ``wire_format`` (e.g. once the transport is known).

        Safe at any time: buffered data is format-independent until packed, and batches
        already in flight keep their body.
        """
        self._encoder = encoder_for(wire_format)

    @property
    def in_flight_batches(self) -> int:
        """Batches handed out and not yet passed to ``ack()``/``failed()``."""
        return len(self._in_flight)

    @property
    def last_failure(self) -> FailureAction | None:
        """What the most recent :meth:`failed` call did (for drivers' logs), or None."""
        return self._last_failure

    @property
    def pending_datums(self) -> int:
        """Datums sealed for sending and not in flight (0 when a flush is complete)."""
        return self._pending()

    @property
    def dropped_overflow(self) -> float:
        """Samples dropped so far because ``max_buffered_datums`` was reached.

        The same figure as ``stats.dropped_overflow``, read without building a snapshot:
        it only ever grows, so a driver can compare it with the value it saw last (after
        each send cycle, say) and log a rate-limited warning when it has grown.
        """
        return self._dropped_overflow

    @property
    def state(self) -> CoreState:
        """The lifecycle state."""
        return self._state

    @property
    def stats(self) -> CoreStats:
        """A consistent snapshot of the counters."""
        dropped = (
            self._dropped_overflow
            + self._dropped_invalid
            + self._dropped_rejected
            + self._dropped_expired
            + self._dropped_shutdown
        )
        return CoreStats(
            recorded_samples=self._recorded,
            sent_samples=self._sent,
            buffered_samples=_denoise(
                self._recorded - self._sent - dropped - self._in_flight_samples, self._recorded
            ),
            in_flight_samples=self._in_flight_samples,
            dropped_overflow=self._dropped_overflow,
            dropped_invalid=self._dropped_invalid,
            dropped_rejected=self._dropped_rejected,
            dropped_expired=self._dropped_expired,
            dropped_shutdown=self._dropped_shutdown,
            buffered_datums=self._datums,
            in_flight_batches=len(self._in_flight),
            requests_sent=self._requests_sent,
            datums_sent=self._datums_sent,
            bytes_sent=self._bytes_sent,
            send_failures=self._send_failures,
            retries=self._retries,
            splits=self._splits,
        )

    # ------------------------------------------------------------------ recording
    def _closed_error(self) -> CoreStateError:
        return CoreStateError(
            f"cannot record: the core is {self._state.value} (close() was called)"
        )

    def record(self, event: MetricEvent) -> bool:
        """Record a :class:`PutValue` or :class:`PutStatisticSet` event.

        Returns:
            True when a full request's worth of datums is buffered: wake the driver early.

        Raises:
            CoreStateError: the core is not OPEN. Nothing changes.
            MetricTypeError: not an event this core knows.
        """
        if isinstance(event, PutValue):
            return self.record_value(event.key, event.value, event.timestamp, event.count)
        if isinstance(event, PutStatisticSet):
            return self._add_statistics(
                event.key,
                (event.sample_count, event.sum, event.minimum, event.maximum),
                event.timestamp,
            )
        raise MetricTypeError("event", event, "record() takes a PutValue or a PutStatisticSet")

    def record_value(
        self, key: MetricKey, value: float, timestamp: float, count: float = 1.0
    ) -> bool:
        """Record ``count`` observations of ``value`` at ``timestamp`` (the fast path).

        Same as ``record(PutValue(key, value, timestamp, count))`` without building the event.
        Validates the value, count and timestamp (the key was validated when built).
        Nothing is recorded when it raises.

        Returns:
            True when a full request's worth of datums is buffered.

        Raises:
            CoreStateError: the core is not OPEN.
            MetricTypeError: a wrong type (``key`` not a MetricKey, ``value`` not a number).
            InvalidMetricError: NaN/inf/out-of-range value, count <= 0, bad timestamp.
        """
        if self._state is not _OPEN:
            raise self._closed_error()
        # Literal bounds are folded to constants by the compiler (the hot path); they are
        # MAX_VALUE, MIN_NONZERO_VALUE and MAX_EPOCH_SECONDS from _limits, which
        # test_limits_table_matches_the_hot_path checks. Other number types take the exact
        # check (same verdicts: 10**400 is too large, not inf).
        if value.__class__ is not float:
            value = check_value(value)
        elif not -(2.0**360) <= value <= 2.0**360 or (
            -(2.0**-360) < value < 2.0**-360 and value
        ):
            bad_value("Value", value)
        if count.__class__ is not float or count != 1.0:
            count = check_count(count)
        if timestamp.__class__ is not float:
            timestamp = as_number("Timestamp", timestamp)
        if not 0.0 < timestamp < 1e11:
            check_timestamp(timestamp)
        if key.__class__ is not MetricKey:
            check_key(key)
        if self._quantize is not None:
            value = self._quantize(value)
        period = timestamp - timestamp % key.storage_resolution
        series = self._values.get(key)
        if series is not None:
            vals = series.get(period)
            if vals is not None:
                seen = vals.get(value)
                if seen is not None:
                    total = seen + count
                    if total <= 2.0**360:  # MAX_VALUE, folded (see above)
                        vals[value] = total
                        self._recorded += count
                        return False
                    return self._close_value(key, period, vals, value, count)
                if len(vals) % self._max_values:
                    vals[value] = count
                    self._recorded += count
                    return False
        # A new datum is needed: respect the memory bound before changing anything.
        self._recorded += count
        if self._datums >= self._max_buffered:
            self._dropped_overflow += count
            return False
        if series is None:
            series = self._values[key] = {}
        vals = series.get(period)
        if vals is None:
            vals = series[period] = {}
        vals[value] = count
        self._datums += 1
        self._live_datums += 1
        return self._live_datums >= self._max_datums

    def _close_value(
        self, key: MetricKey, period: float, vals: dict[float, float], value: float, count: float
    ) -> bool:
        """``value``'s accumulated count would pass 2**360: send what it holds as a datum
        of its own and start counting again (every datum stays within CloudWatch's range)."""
        self._recorded += count
        if self._datums >= self._max_buffered:
            self._dropped_overflow += count
            return False
        self._closed.append(MetricDatum(key, period, (value,), (vals[value],)))
        vals[value] = count
        self._datums += 1
        self._live_datums += 1
        return self._live_datums >= self._max_datums

    def record_statistics(
        self,
        key: MetricKey,
        sample_count: float,
        sum: float,
        minimum: float,
        maximum: float,
        timestamp: float,
    ) -> bool:
        """Merge a statistic set into the key's ``StatisticValues`` for the period.

        Returns:
            True when a full request's worth of datums is buffered.

        Raises:
            CoreStateError: the core is not OPEN.
            InvalidMetricError: a bad statistic set or timestamp. Nothing is recorded.
        """
        stats = check_statistics(sample_count, sum, minimum, maximum)
        return self._add_statistics(check_key(key), stats, check_timestamp(timestamp))

    def record_statistic_value(self, key: MetricKey, value: float, timestamp: float) -> bool:
        """Merge one observation into the key's ``StatisticValues`` (the fast path of
        ``record_statistics(key, 1, value, value, value, timestamp)``).

        Returns:
            True when a full request's worth of datums is buffered.

        Raises:
            CoreStateError: the core is not OPEN.
            MetricTypeError / InvalidMetricError: as :meth:`record_value`. Nothing is
                recorded when it raises.
        """
        if value.__class__ is not float:
            value = check_value(value)
        elif not -MAX_VALUE <= value <= MAX_VALUE or (
            -MIN_NONZERO_VALUE < value < MIN_NONZERO_VALUE and value
        ):
            bad_value("Value", value)
        if timestamp.__class__ is not float:
            timestamp = as_number("Timestamp", timestamp)
        if not 0.0 < timestamp < MAX_EPOCH_SECONDS:
            check_timestamp(timestamp)
        if key.__class__ is not MetricKey:
            check_key(key)
        return self._add_statistics(key, (1.0, value, value, value), timestamp)

    def _add_statistics(
        self, key: MetricKey, stats: tuple[float, float, float, float], timestamp: float
    ) -> bool:
        if self._state is not _OPEN:
            raise self._closed_error()
        n, total, low, high = stats
        if self._quantize is not None:
            low, high = self._quantize(low), self._quantize(high)
        period = timestamp - timestamp % key.storage_resolution
        series = self._stats.get(key)
        acc = series.get(period) if series is not None else None
        if acc is not None:
            new_sum = acc[1] + total
            new_n = acc[0] + n
            if -MAX_VALUE <= new_sum <= MAX_VALUE and new_n <= MAX_VALUE:
                acc[0] = new_n
                acc[1] = new_sum
                if low < acc[2]:
                    acc[2] = low
                if high > acc[3]:
                    acc[3] = high
                self._recorded += n
                return False
        self._recorded += n
        if self._datums >= self._max_buffered:
            self._dropped_overflow += n
            return False
        if acc is not None:
            # Merging would take Sum or SampleCount past 2**360, CloudWatch's limit: this
            # statistic set is complete; a second one for the same period starts here.
            full = MetricDatum(key, period, statistics=(acc[0], acc[1], acc[2], acc[3]))
            self._closed.append(full)
            acc[0], acc[1], acc[2], acc[3] = n, total, low, high
            self._datums += 1
            self._live_datums += 1
            return self._live_datums >= self._max_datums
        if series is None:
            series = self._stats[key] = {}
        series[period] = [n, total, low, high]
        self._datums += 1
        self._live_datums += 1
        return self._live_datums >= self._max_datums

    # ------------------------------------------------------------------ timing
    def _advance(self, now: float) -> float:
        """Move the core's clock to ``now``; returns the time to use.

        Small backward jitter is ignored (time never runs back inside the core). A backward
        step of more than a second is a wall-clock change (NTP, a VM resume): the flush
        schedule and any backoff pause move with it, so reporting does not stall for the
        length of the step.
        """
        if now >= self._now:
            self._now = now
            return now
        if now < self._now - 1.0:
            step = now - self._now
            self._next_flush += step
            if self._paused_until != -_INF:
                self._paused_until += step
            self._now = now
            return now
        return self._now

    def _pending(self) -> int:
        """Datums queued for sending (not live, not in flight)."""
        return self._datums - self._live_datums - self._in_flight_datums

    def next_deadline(self) -> float | None:
        """When the driver should call :meth:`next_batch` next (epoch seconds).

        Returns:
            A time at or before the last ``now`` seen when something can be sent right away
            (including a full request's worth of datums recorded); the end of a backoff
            pause while one is in force; the next automatic flush otherwise; None when
            nothing is due until the core is told so (CLOSED, CLOSING with only batches in
            flight, or ``flush_interval=None`` with nothing pending: then only
            :meth:`flush`, :meth:`close` or a full request make data due).
        """
        if self._state is CoreState.CLOSED:
            return None
        if self._pending() > 0:
            return max(self._paused_until, self._now)
        if self._state is not _OPEN:
            return None
        if self._live_datums >= self._max_datums:
            return self._now
        if self._next_flush == _INF:  # flush_interval=None: only flush()/close() make data due
            return None
        return self._next_flush

    def due(self, now: float) -> bool:
        """True when ``next_deadline()`` is at or before ``now``."""
        deadline = self.next_deadline()
        return deadline is not None and deadline <= now

    def flush(self, now: float) -> None:
        """Make everything recorded so far due immediately (backoff pauses still apply).

        The automatic flush schedule restarts from ``now``.
        """
        self._advance(now)
        self._seal()
        if self._state is _OPEN:
            self._next_flush = now + self._interval

    def _seal(self) -> None:
        if self._values or self._stats or self._closed:
            self._sealed.append((self._values, self._stats, self._closed))
            self._values = {}
            self._stats = {}
            self._closed = []
            self._live_datums = 0

    def close(self, now: float) -> None:
        """Stop accepting events; everything buffered becomes due. OPEN -> CLOSING.

        Idempotent. The core reaches CLOSED once nothing is buffered or in flight.
        """
        self._advance(now)
        if self._state is _OPEN:
            self._state = CoreState.CLOSING
            self._seal()
        self._maybe_closed()

    def _maybe_closed(self) -> None:
        if self._state is CoreState.CLOSING and self._datums == 0 and not self._in_flight:
            self._state = CoreState.CLOSED

    def discard_pending(self, now: float) -> float:
        """Drop everything buffered and not in flight (a shutdown out of time).

        Returns:
            The number of samples dropped, also counted in ``stats.dropped_shutdown``.
        """
        self._advance(now)
        self._seal()
        dropped = 0.0
        for datum in self._drain_queued():
            dropped += datum.samples
            self._datums -= 1
        self._dropped_shutdown += dropped
        self._maybe_closed()
        return dropped

    def _drain_queued(self) -> Iterator[MetricDatum]:
        while self._isolated:
            yield from self._isolated.popleft()
        for queue in self._ready.values():
            yield from queue
        self._ready.clear()
        if self._converter is not None:
            yield from self._converter
            self._converter = None
        yield from self._convert_sealed()

    # ------------------------------------------------------------------ packing
    def _convert_sealed(self) -> Iterator[MetricDatum]:
        """Turn sealed generations into datums, lazily (bounded work per call)."""
        while self._sealed:
            yield from self._generation(*self._sealed.popleft())

    def _generation(
        self, values: _ValueStore, stats: _StatStore, closed: list[MetricDatum]
    ) -> Iterator[MetricDatum]:
        yield from closed
        step = self._max_values
        for key, periods in values.items():
            for ts, vals in periods.items():
                if len(vals) <= step:
                    counts = tuple(vals.values())
                    yield MetricDatum(
                        key, ts, tuple(vals), None if counts.count(1.0) == len(counts) else counts
                    )
                    continue
                all_values = list(vals)
                all_counts = list(vals.values())
                for i in range(0, len(all_values), step):
                    counts = tuple(all_counts[i : i + step])
                    yield MetricDatum(
                        key,
                        ts,
                        tuple(all_values[i : i + step]),
                        None if counts.count(1.0) == len(counts) else counts,
                    )
        for key, stat_periods in stats.items():
            for ts, acc in stat_periods.items():
                yield MetricDatum(key, ts, statistics=(acc[0], acc[1], acc[2], acc[3]))

    def _fill(self) -> None:
        """Convert sealed datums into per-namespace queues until one holds a full request."""
        ready = self._ready
        limit = self._max_datums
        if any(len(q) >= limit for q in ready.values()):
            return
        if self._converter is None:
            if not self._sealed:
                return
            self._converter = self._convert_sealed()
        for datum in self._converter:
            ns = datum.key.namespace
            queue = ready.get(ns)
            if queue is None:
                queue = ready[ns] = deque()
            queue.append(datum)
            if len(queue) >= limit:
                return
        self._converter = None

    def _expired(self, datum: MetricDatum, now: float) -> bool:
        if datum.timestamp >= now - self._max_age:
            return False
        self._dropped_expired += datum.samples
        self._datums -= 1
        return True

    def next_batch(self, now: float) -> Batch | None:
        """Pack and hand out the next request that is due, or None.

        The request has at most ``max_datums_per_request`` datums of one namespace, each
        datum at most ``max_values_per_datum`` values, and its encoded body is at most
        ``max_request_bytes`` (measured exactly). The batch is in flight until passed to
        :meth:`ack` or :meth:`failed`. Queued data older than ``max_timestamp_age`` is
        dropped here and counted.

        Returns:
            None when nothing is due, or while a backoff pause is in force.
        """
        now = self._advance(now)
        if self._state is CoreState.CLOSED:
            return None
        if self._state is _OPEN:
            if now >= self._next_flush:
                self._seal()
                self._next_flush += self._interval
                if self._next_flush <= now:  # woken late: restart the schedule from now
                    self._next_flush = now + self._interval
            elif self._live_datums >= self._max_datums:
                # An early send of a full request: the periodic schedule is kept, so what
                # is recorded next waits at most until the flush already planned.
                self._seal()
        if now < self._paused_until or self._pending() <= 0:
            return None
        while self._isolated:
            group = [d for d in self._isolated.popleft() if not self._expired(d, now)]
            if group:
                return self._pack(group[0].key.namespace, deque(group), now, isolated=True)
        self._fill()
        queue_ns: str | None = None
        for ns, queue in self._ready.items():
            if len(queue) >= self._max_datums:
                queue_ns = ns
                break
            if queue_ns is None and queue:
                queue_ns = ns
        if queue_ns is None:
            self._maybe_closed()
            return None
        queue = self._ready[queue_ns]
        batch = self._pack(queue_ns, queue, now, isolated=False)
        if not queue:
            del self._ready[queue_ns]
        if batch is None:
            self._maybe_closed()
        return batch

    def _pack(
        self, namespace: str, queue: deque[MetricDatum], now: float, *, isolated: bool
    ) -> Batch | None:
        encoder = self._encoder
        prefix = encoder.prefix(namespace)
        sep = encoder.item_sep
        size = len(prefix) + len(encoder.suffix)
        limit_bytes = self._max_bytes
        chosen: list[MetricDatum] = []
        frags: list[str] = []
        while queue and len(chosen) < self._max_datums:
            datum = queue[0]
            if self._expired(datum, now):
                queue.popleft()
                continue
            frag = encoder.fragment(datum, len(chosen) + 1)
            grow = len(frag) + (len(sep) if chosen else 0)
            if size + grow > limit_bytes:
                if chosen:
                    break
                # A single datum larger than the request limit can never be sent.
                queue.popleft()
                self._dropped_invalid += datum.samples
                self._datums -= 1
                continue
            size += grow
            chosen.append(datum)
            frags.append(frag)
            queue.popleft()
        if not chosen:
            return None
        body = (prefix + sep.join(frags) + encoder.suffix).encode("ascii")
        request = PutMetricDataRequest(
            namespace, tuple(chosen), body, encoder.wire_format, encoder.headers
        )
        batch = Batch(self._next_id, request, max(d.attempts for d in chosen) + 1)
        self._next_id += 1
        self._in_flight[batch.id] = (batch, isolated)
        self._in_flight_datums += len(chosen)
        self._in_flight_samples += request.samples
        return batch

    def batches_to_send(self, now: float, limit: int | None = None) -> list[Batch]:
        """Every batch due at ``now`` (at most ``limit``); each is in flight afterwards."""
        batches: list[Batch] = []
        while limit is None or len(batches) < limit:
            batch = self.next_batch(now)
            if batch is None:
                break
            batches.append(batch)
        return batches

    # ------------------------------------------------------------------ outcomes
    def _resolve(self, batch: Batch) -> bool:
        entry = self._in_flight.get(batch.id) if isinstance(batch, Batch) else None
        if entry is None or entry[0] is not batch:
            raise CoreStateError(f"{batch!r} is not in flight (already resolved, or foreign)")
        del self._in_flight[batch.id]
        request = batch.request
        self._in_flight_datums -= len(request.datums)
        self._in_flight_samples -= request.samples
        return entry[1]

    def ack(self, batch: Batch, now: float) -> None:
        """The service accepted ``batch``: count it as sent.

        Raises:
            CoreStateError: ``batch`` is not in flight (unknown, or already resolved).
        """
        self._resolve(batch)
        self._advance(now)
        request = batch.request
        self._sent += request.samples
        self._datums -= len(request.datums)
        self._requests_sent += 1
        self._datums_sent += len(request.datums)
        self._bytes_sent += len(request.body)
        self._failures_in_a_row = 0
        self._rejects_in_a_row = 0
        self._maybe_closed()

    def failed(self, batch: Batch, now: float, outcome: SendOutcome) -> FailureAction:
        """Sending ``batch`` failed with ``outcome``: re-queue, split or drop it.

        Retryable failures (throttling, 5xx, network, timeouts) re-queue the datums at the
        front and pause all sending for a backoff delay: :meth:`next_batch` returns None and
        :meth:`next_deadline` reports the end of the pause. ``"Abandoned"`` (a send that was
        cancelled before an answer) re-queues without a pause. Content rejections bisect
        the batch; a lone rejected datum is dropped (``stats.dropped_invalid``). Other
        refusals drop the batch (``stats.dropped_rejected``).

        Raises:
            CoreStateError: ``batch`` is not in flight, or ``outcome.ok`` is True.
        """
        if outcome.ok:
            raise CoreStateError("failed() needs an outcome with ok=False; use ack()")
        action = self._failed(batch, now, outcome)
        self._last_failure = action
        return action

    def _failed(self, batch: Batch, now: float, outcome: SendOutcome) -> FailureAction:
        isolated = self._resolve(batch)
        now = self._advance(now)
        self._send_failures += 1
        datums = list(batch.request.datums)
        for datum in datums:
            datum.attempts += 1
        if outcome.error_code == "Abandoned":
            self._requeue(datums, isolated)
            return FailureAction(Disposition.RETRY, now, (), outcome)
        disposition = self._policy.classify(outcome)
        if disposition is Disposition.RETRY:
            self._requeue(datums, isolated)
            self._retries += 1
            self._failures_in_a_row += 1
            delay = self._policy.delay(
                self._failures_in_a_row, throttled=self._policy.is_throttle(outcome)
            )
            self._paused_until = max(self._paused_until, now + delay)
            return FailureAction(disposition, self._paused_until, (), outcome)
        if disposition is Disposition.SPLIT:
            # Content rejections cost no backoff while bisection makes progress (a good
            # half is acked, which resets the count); a run of them without any ack means
            # the rejection is systemic (a skewed clock, a too-large encoding): pace it.
            self._rejects_in_a_row += 1
            retry_at: float | None = None
            if self._rejects_in_a_row > _FREE_REJECTS:
                delay = self._policy.delay(self._rejects_in_a_row - _FREE_REJECTS)
                self._paused_until = retry_at = max(self._paused_until, now + delay)
            bad = _named_member(outcome.message, len(datums))
            if bad is not None and len(datums) > 1:
                # The service named the offending datum: drop exactly it, resend the rest.
                culprit = datums.pop(bad)
                self._dropped_invalid += culprit.samples
                self._datums -= 1
                self._isolated.appendleft(datums)
                return FailureAction(disposition, retry_at, (culprit,), outcome)
            if len(datums) > 1:
                self._splits += 1
                half = len(datums) // 2
                self._isolated.appendleft(datums[half:])
                self._isolated.appendleft(datums[:half])
                return FailureAction(disposition, retry_at, (), outcome)
        samples = math.fsum(d.samples for d in datums)
        if disposition is Disposition.SPLIT:
            self._dropped_invalid += samples
        else:
            self._dropped_rejected += samples
        self._datums -= len(datums)
        self._maybe_closed()
        return FailureAction(disposition, None, tuple(datums), outcome)

    def _requeue(self, datums: list[MetricDatum], isolated: bool) -> None:
        if isolated:
            self._isolated.appendleft(datums)
            return
        ns = datums[0].key.namespace
        queue = self._ready.get(ns)
        if queue is None:
            queue = self._ready[ns] = deque()
        queue.extendleft(reversed(datums))
