"""MetricsCore: the sans-IO state machine, coordinating the pieces that do the work.

It performs no I/O, starts no threads and never reads a clock: every method that needs the
time takes ``now`` (epoch seconds, the same clock as the event timestamps). After calling any
mutating method, call :meth:`MetricsCore.next_deadline` and re-arm your timer.

Which concern lives where (as h11's ``Connection`` delegates to its state tables):

* ``_aggregate.py``: the aggregation store; the recording path touches only it.
* ``_sink.py`` (with the codecs in ``_wire.py``): limits and encoding; packs requests.
* ``_ledger.py``: queues, batches in flight, retry pauses, bisection, expiry and the
  accounting invariant.
* ``_retry.py``: the policy that turns a failure into a decision value.
* this module: the lifecycle (``CoreState``) and the flush schedule, and the calls that
  move data from the store to the ledger and from the ledger to the driver
  (:meth:`MetricsCore.prepare` lets an event-loop driver pack a request in slices).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable

from ._aggregate import AggregationStore, quantizer
from ._cardinality import CardinalityGuard
from ._config import CoreConfig
from ._emf import EmfSink
from ._errors import CoreStateError, InvalidConfigError, MetricTypeError
from ._events import (
    MetricEvent,
    PutStatisticSet,
    PutValue,
    as_number,
    check_key,
    check_statistics,
    check_timestamp,
)
from ._ledger import CoreStats, DeliveryLedger, FailureAction
from ._model import Batch, MetricKey, WireFormat
from ._otlp import OtlpSink
from ._retry import SendOutcome
from ._sink import PutMetricDataSink, Sink

__all__ = ["CoreState", "CoreStats", "FailureAction", "MetricsCore"]

_INF = math.inf


class CoreState(enum.Enum):
    """Lifecycle of a :class:`MetricsCore`."""

    #: Accepting events.
    OPEN = "open"
    #: ``close()`` was called: everything buffered is due now; ``record()`` raises.
    CLOSING = "closing"
    #: Nothing buffered and nothing in flight after ``close()``.
    CLOSED = "closed"


_OPEN = CoreState.OPEN


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
        self._max_buffered = config.max_buffered_datums
        self._policy = config.retry
        # No flush_interval: no periodic flush (an infinite interval, never due).
        interval = config.flush_interval
        self._interval = _INF if interval is None else float(interval)
        self._next_flush = self._now + self._interval
        self._state = _OPEN
        self._last_failure: FailureAction | None = None
        self._store = AggregationStore(
            limits.max_values_per_datum,
            limits.max_datums_per_request,
            self._max_buffered,
            quantizer(config.quantization) if config.quantization else None,
        )
        self._ledger = DeliveryLedger(
            PutMetricDataSink(config.wire_format, limits), config.max_timestamp_age
        )
        self._guard = CardinalityGuard(config.max_series_per_metric, config.series_window)
        self._store.admit = self._guard.admit

    def _sync_room(self) -> None:
        """The store may create as many datums as the memory bound leaves over."""
        self._store.room = self._max_buffered - self._ledger.held

    # ------------------------------------------------------------------ properties
    @property
    def config(self) -> CoreConfig:
        """The configuration this core was built with."""
        return self._config

    @property
    def sink(self) -> Sink:
        """The sink requests are packed for (limits and codec)."""
        return self._ledger.sink

    @property
    def wire_format(self) -> WireFormat:
        """The encoding requests are packed and measured in."""
        return self._ledger.sink.wire_format

    def set_wire_format(self, wire_format: WireFormat | str) -> None:
        """Pack future requests in ``wire_format`` (e.g. once the transport is known).

        Safe at any time: buffered data is format-independent until packed, and batches
        already in flight keep their body. ``"emf"`` binds an :class:`EmfSink` with its
        default limits; any other format a :class:`PutMetricDataSink`.
        """
        if WireFormat(wire_format) is WireFormat.EMF:
            self.set_sink(EmfSink(self._config.limits))
        elif WireFormat(wire_format) is WireFormat.OTLP:
            self.set_sink(OtlpSink(self._config.limits))
        else:
            self.set_sink(PutMetricDataSink(wire_format, self._config.limits))

    def set_sink(self, sink: Sink) -> None:
        """Pack future requests with ``sink`` (its limits and encoding).

        Safe at any time, like :meth:`set_wire_format`: buffered data is sink-independent
        until packed, and batches already in flight keep their body.

        Raises:
            InvalidConfigError: ``sink.limits`` splits datums at another number of values
                than this core's store does (``config.limits.max_values_per_datum``).
        """
        if not isinstance(sink, Sink):
            raise InvalidConfigError("sink", sink, "must be a cwmetrics_core.Sink")
        mine = self._config.limits.max_values_per_datum
        if sink.limits.max_values_per_datum != mine:
            raise InvalidConfigError(
                "sink.limits.max_values_per_datum",
                sink.limits.max_values_per_datum,
                f"must equal the core's config.limits.max_values_per_datum ({mine})",
            )
        self._ledger.sink = sink

    @property
    def in_flight_batches(self) -> int:
        """Batches handed out and not yet passed to ``ack()``/``failed()``."""
        return self._ledger.in_flight_batches

    @property
    def last_failure(self) -> FailureAction | None:
        """What the most recent :meth:`failed` call did (for drivers' logs), or None."""
        return self._last_failure

    @property
    def pending_datums(self) -> int:
        """Datums sealed for sending and not in flight (0 when a flush is complete)."""
        return self._ledger.pending

    @property
    def dropped_overflow(self) -> float:
        """Samples dropped so far because ``max_buffered_datums`` was reached.

        The same figure as ``stats.dropped_overflow``, read without building a snapshot:
        it only ever grows, so a driver can compare it with the value it saw last (after
        each send cycle, say) and log a rate-limited warning when it has grown.
        """
        self._store.fold()
        return self._store.dropped_overflow

    @property
    def state(self) -> CoreState:
        """The lifecycle state."""
        return self._state

    @property
    def stats(self) -> CoreStats:
        """A consistent snapshot of the counters."""
        store, guard = self._store, self._guard
        store.fold()
        stats = self._ledger.stats(store.recorded, store.dropped_overflow, store.live)
        return dataclasses.replace(
            stats, folded_samples=guard.folded_samples, custom_metrics=guard.custom_metrics
        )

    @property
    def value_recorder(self) -> Callable[[MetricKey, float, float, float], bool]:
        """A lock-free :meth:`record_value` for threaded drivers to bind once: it validates
        (same arguments and errors, raised at the call) and queues the observation.

        It may be called from any number of threads at once, without the lock that guards
        every other call. It returns True when enough observations wait that the driver
        should call :meth:`fold` (under its lock) soon; it never folds itself. Queued
        observations are folded by every method that reads or seals the buffer
        (``stats``, ``flush``, ``next_batch``, ``next_deadline``, ``close``...), so none is
        ever missing from a flush or from the counters. It refuses (``CoreStateError``)
        once the core is closing.
        """
        return self._store.enqueue_value

    @property
    def statistic_recorder(self) -> Callable[[MetricKey, float, float], bool]:
        """The lock-free :meth:`record_statistic_value`, as :attr:`value_recorder`."""
        return self._store.enqueue_statistic

    def fold(self) -> bool:
        """Fold what the lock-free recorders queued into the buffer.

        Returns:
            True when a full request's worth of datums is now buffered: wake the driver.
        """
        return self._store.fold()

    @property
    def cardinality(self) -> CardinalityGuard:
        """The cardinality guard (``folded_samples``, ``last_folded``, ``custom_metrics``)."""
        return self._guard

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
            if self._state is not _OPEN:
                raise self._closed_error()
            return self._store.add_statistics(
                event.key, event.sample_count, event.sum, event.minimum, event.maximum,
                event.timestamp,
            )
        raise MetricTypeError("event", event, "record() takes a PutValue or a PutStatisticSet")

    def record_value(
        self, key: MetricKey, value: float, timestamp: float, count: float = 1.0
    ) -> bool:
        """Record ``count`` observations of ``value`` at ``timestamp`` (the fast path).

        Same as ``record(PutValue(key, value, timestamp, count))`` without building the event.
        Validates the value, count and timestamp (the key was validated when built).
        Nothing is recorded when it raises. A driver that records often binds
        :attr:`value_recorder` instead: the same call, one frame shorter.

        Returns:
            True when a full request's worth of datums is buffered.

        Raises:
            CoreStateError: the core is not OPEN.
            MetricTypeError: a wrong type (``key`` not a MetricKey, ``value`` not a number).
            InvalidMetricError: NaN/inf/out-of-range value, count <= 0, bad timestamp.
        """
        return self._store.add_value(key, value, timestamp, count)

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
        key = check_key(key)
        timestamp = check_timestamp(timestamp)
        if self._state is not _OPEN:
            raise self._closed_error()
        return self._store.add_statistics(key, *stats, timestamp)

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
        return self._store.add_statistic(key, value, timestamp)

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
            self._ledger.shift(step)
            self._now = now
            return now
        return self._now

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
        self._store.fold()
        ledger = self._ledger
        if ledger.pending > 0:
            return max(ledger.paused_until, self._now)
        if self._state is not _OPEN:
            return None
        if self._store.live >= self._store.max_datums:
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
        sealed = self._store.seal()
        if sealed is not None:
            self._ledger.admit(*sealed)
            self._sync_room()

    def close(self, now: float) -> None:
        """Stop accepting events; everything buffered becomes due. OPEN -> CLOSING.

        Idempotent. The core reaches CLOSED once nothing is buffered or in flight.
        """
        self._advance(now)
        if self._state is _OPEN:
            self._state = CoreState.CLOSING
            self._store.closed = "cannot record: the core is closing (close() was called)"
            self._seal()
        self._maybe_closed()

    def _maybe_closed(self) -> None:
        if self._state is CoreState.CLOSING and self._ledger.idle:
            self._state = CoreState.CLOSED

    def discard_pending(self, now: float) -> float:
        """Drop everything buffered and not in flight (a shutdown out of time).

        Returns:
            The number of samples dropped, also counted in ``stats.dropped_shutdown``.
        """
        self._advance(now)
        self._seal()
        dropped = self._ledger.discard()
        self._sync_room()
        self._maybe_closed()
        return dropped

    # ------------------------------------------------------------------ sending
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
        self._seal_if_due(now)
        ledger = self._ledger
        held = ledger.held
        batch = ledger.take(now)
        if ledger.held != held:  # expired or unsendable datums were dropped
            self._sync_room()
        if batch is None:
            self._maybe_closed()
        return batch

    def _seal_if_due(self, now: float) -> None:
        if self._state is _OPEN:
            self._store.fold()
            if now >= self._next_flush:
                self._seal()
                self._next_flush += self._interval
                if self._next_flush <= now:  # woken late: restart the schedule from now
                    self._next_flush = now + self._interval
            elif self._store.live >= self._store.max_datums:
                # An early send of a full request: the periodic schedule is kept, so what
                # is recorded next waits at most until the flush already planned.
                self._seal()

    def prepare(self, now: float, budget: int = 200) -> bool:
        """Pack a slice of the next request without handing it out.

        Packing a 1000-datum request takes milliseconds in one piece. A driver on an event
        loop calls this until it returns False, letting other tasks run between calls, so
        the :meth:`next_batch` that follows only finishes the request. Optional: without
        it, :meth:`next_batch` packs the whole request. ``budget`` sizes the slice: a datum
        costs 1, plus 1 per 16 of its values (200 is about 2 ms of CPython time for
        one-value datums). Datums being packed stay buffered
        (not in flight) until :meth:`next_batch` hands the request out; expired ones are
        dropped and counted here, as :meth:`next_batch` would.

        Returns:
            True while the next request needs more packing (call again); False when it is
            ready, or when there is nothing to prepare (nothing due, a backoff pause).

        Raises:
            InvalidConfigError: ``budget`` is not a positive int.
        """
        if budget.__class__ is not int or budget < 1:
            raise InvalidConfigError("budget", budget, "must be a positive int")
        now = self._advance(now)
        if self._state is CoreState.CLOSED:
            return False
        self._seal_if_due(now)
        ledger = self._ledger
        held = ledger.held
        more = ledger.prepare(now, budget)
        if ledger.held != held:  # expired or unsendable datums were dropped
            self._sync_room()
        return more

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
    def ack(self, batch: Batch, now: float, *, rejected_samples: float = 0.0) -> None:
        """The service accepted ``batch``: count it as sent.

        Args:
            rejected_samples: samples of ``batch`` the service rejected while accepting
                the rest (an OTLP partial success, :attr:`SendOutcome.rejected_samples`):
                counted in ``stats.dropped_rejected`` instead of sent; never retried.

        Raises:
            CoreStateError: ``batch`` is not in flight (unknown, or already resolved).
        """
        self._ledger.ack(batch, rejected_samples)
        self._advance(now)
        self._sync_room()
        self._maybe_closed()

    def failed(self, batch: Batch, now: float, outcome: SendOutcome) -> FailureAction:
        """Sending ``batch`` failed with ``outcome``: re-queue, split or drop it.

        Retryable failures (throttling, 5xx, network, timeouts) re-queue the datums at the
        front and pause all sending for a backoff delay: :meth:`next_batch` returns None and
        :meth:`next_deadline` reports the end of the pause. ``"Abandoned"`` (a send that was
        cancelled before an answer) re-queues without a pause. Content rejections bisect
        the batch; a lone rejected datum is dropped (``stats.dropped_invalid``). Other
        refusals drop the batch (``stats.dropped_rejected``). The decision is the retry
        policy's (:meth:`RetryPolicy.decide`); the ledger applies it.

        Raises:
            CoreStateError: ``batch`` is not in flight, or ``outcome.ok`` is True.
        """
        if outcome.ok:
            raise CoreStateError("failed() needs an outcome with ok=False; use ack()")
        ledger = self._ledger
        ledger.check_in_flight(batch)
        now = self._advance(now)
        decision = self._policy.decide(
            outcome,
            size=len(batch.request),
            now=now,
            failures_in_a_row=ledger.failures_in_a_row,
            rejects_in_a_row=ledger.rejects_in_a_row,
        )
        action = ledger.fail(batch, decision, outcome)
        self._sync_room()
        self._maybe_closed()
        self._last_failure = action
        return action
