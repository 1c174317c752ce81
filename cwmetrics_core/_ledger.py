"""The delivery ledger: everything sealed and not yet delivered, and the accounting.

It holds sealed generations from the aggregation store, the per-group queues of compact
datums ready to pack, the next request while it is packed a slice at a time
(:meth:`DeliveryLedger.prepare`), the isolated groups a bisection produced, the batches in
flight (each held as its request: the encoded body, or only its measured size when
botocore serializes it, plus parallel lists of keys, timestamps and payloads, no
per-datum objects), the retry schedule (the pause after a failure), expiry
of queued data, and every delivery counter. The accounting invariant::

    recorded == sent + dropped + buffered + in_flight

is computed in one place, :meth:`DeliveryLedger.stats`. The ledger applies a
:class:`~cwmetrics_core.RetryPolicy` decision (``Retry`` / ``Split`` / ``Drop``) but never
makes one, and packs through a :class:`~cwmetrics_core.Sink` without knowing its encoding.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from ._aggregate import Generation, entries
from ._errors import CoreStateError
from ._model import Batch, Entry, MetricDatum, PutMetricDataRequest, datum_of, payload_samples
from ._retry import Decision, Disposition, Drop, Retry, SendOutcome, Split
from ._sink import UNLIMITED, DropReason, Packer, Sink

__all__ = ["CoreStats", "DeliveryLedger", "FailureAction"]

_INF = math.inf


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
    #: Cardinality guard: samples recorded under an overflow series instead of their own.
    folded_samples: float = 0.0
    #: Distinct series recorded in the latest cardinality window (an hour by default):
    #: an estimate of the custom metrics billed for it.
    custom_metrics: int = 0

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


def _denoise(value: float, scale: float) -> float:
    """Zero out float rounding residue (fractional counts summed in different orders):
    a few ulps of the totals, never a whole sample."""
    return 0.0 if abs(value) <= 64 * math.ulp(max(1.0, abs(scale))) else value


def _samples(group: list[Entry]) -> float:
    return math.fsum(payload_samples(e[2]) for e in group)


class DeliveryLedger:
    """Sealed data on its way out: queues, batches in flight, retries and the counters.

    Args:
        sink: packs requests (limits and codec).
        max_timestamp_age: queued datums older than this (seconds before ``now``) are
            dropped as expired when they come up for packing.
    """

    def __init__(self, sink: Sink, max_timestamp_age: float) -> None:
        self._sink = sink
        #: The next request, partly packed by :meth:`prepare` (its datums are held, not
        #: in flight), and whether it is complete.
        self._packer: Packer | None = None
        self._packer_done = False
        self.max_age = max_timestamp_age
        self._sealed: deque[Generation] = deque()
        self._converter: Iterator[Entry] | None = None
        self._ready: dict[str, deque[Entry]] = {}
        self._isolated: deque[list[Entry]] = deque()
        self._in_flight: dict[int, tuple[Batch, bool, list[int]]] = {}
        self._next_id = 1
        #: Datums held: queued, retrying or in flight (the store counts its live ones).
        self.held = 0
        self.in_flight_datums = 0
        self.in_flight_samples = 0.0
        #: No batch is handed out before this time (a backoff pause).
        self.paused_until = -_INF
        self.failures_in_a_row = 0
        self.rejects_in_a_row = 0
        self.sent = 0.0
        self.dropped_invalid = 0.0
        self.dropped_rejected = 0.0
        self.dropped_expired = 0.0
        self.dropped_shutdown = 0.0
        self.requests_sent = 0
        self.datums_sent = 0
        self.bytes_sent = 0
        self.send_failures = 0
        self.retries = 0
        self.splits = 0

    @property
    def sink(self) -> Sink:
        """Packs requests (limits and codec)."""
        return self._sink

    @sink.setter
    def sink(self, sink: Sink) -> None:
        """Pack future requests with ``sink``; a request partly packed with the old one
        goes back to its queue."""
        self._abandon_packer()
        self._sink = sink

    def _abandon_packer(self) -> None:
        packer, self._packer = self._packer, None
        if packer is not None:
            packer.give_back(self._queue(packer.group))

    def _queue(self, group: str) -> deque[Entry]:
        queue = self._ready.get(group)
        if queue is None:
            queue = self._ready[group] = deque()
        return queue

    # ------------------------------------------------------------------ intake
    def admit(self, generation: Generation, datums: int) -> None:
        """Take over a sealed generation holding ``datums`` datums (converted lazily)."""
        self._sealed.append(generation)
        self.held += datums

    @property
    def pending(self) -> int:
        """Datums queued for sending (not in flight)."""
        return self.held - self.in_flight_datums

    @property
    def in_flight_batches(self) -> int:
        return len(self._in_flight)

    @property
    def idle(self) -> bool:
        """Nothing held and nothing in flight."""
        return self.held == 0 and not self._in_flight

    def _convert_sealed(self) -> Iterator[Entry]:
        max_values = self.sink.limits.max_values_per_datum
        while self._sealed:
            yield from entries(self._sealed.popleft(), max_values)

    def _fill(self) -> None:
        """Convert sealed datums into per-group queues until one holds a full request."""
        ready = self._ready
        limit = self.sink.limits.max_datums_per_request
        if any(len(q) >= limit for q in ready.values()):
            return
        if self._converter is None:
            if not self._sealed:
                return
            self._converter = self._convert_sealed()
        group_of = self.sink.group_of
        for entry in self._converter:
            group = group_of(entry[0])
            queue = ready.get(group)
            if queue is None:
                queue = ready[group] = deque()
            queue.append(entry)
            if len(queue) >= limit:
                return
        self._converter = None

    # ------------------------------------------------------------------ hand-out
    def _drop(self, entry: Entry, reason: DropReason) -> None:
        samples = payload_samples(entry[2])
        if reason == "expired":
            self.dropped_expired += samples
        else:
            self.dropped_invalid += samples
        self.held -= 1

    def take(self, now: float) -> Batch | None:
        """Pack the next request (isolated groups first) and put it in flight, or None
        while paused or when nothing is queued. Expired datums are dropped and counted."""
        if now < self.paused_until or self.pending <= 0:
            return None
        oldest = now - self.max_age
        while self._isolated:
            queue = deque(self._isolated.popleft())
            batch = self._pack(self.sink.group_of(queue[0][0]), queue, oldest, True)
            if queue:  # what did not fit (the wire format changed since the split)
                self._isolated.appendleft(list(queue))
            if batch is not None:
                return batch
        while True:  # a group whose datums all expired yields no batch: try the next one
            packer = self._packer
            if packer is None:
                chosen = self._choose()
                if chosen is None:
                    return None
                packer = self.sink.packer(chosen)
            self._packer = None
            if not self._packer_done:
                self._feed(packer, UNLIMITED, oldest)
            self._packer_done = False
            batch = self._in_flight_as(packer.finish(), False)
            if batch is not None:
                return batch

    def _choose(self) -> str | None:
        """The group to pack next: one with a full request queued, else the first one."""
        self._fill()
        limit = self.sink.limits.max_datums_per_request
        chosen: str | None = None
        for group_name, queue in self._ready.items():
            if len(queue) >= limit:
                return group_name
            if chosen is None and queue:
                chosen = group_name
        return chosen

    def _feed(self, packer: Packer, budget: int, oldest: float) -> bool:
        group = packer.group
        queue = self._ready.get(group)
        if queue is None:
            return True
        done = packer.feed(queue, budget, oldest=oldest, drop=self._drop)
        if not queue:
            del self._ready[group]
        return done

    def prepare(self, now: float, budget: int) -> bool:
        """Pack a slice (``budget``, see :meth:`Packer.feed`) of the next request, without
        handing it out.

        A driver that must not block for long (an event loop) calls this until it returns
        False, yielding between calls; :meth:`take` then only finishes the request. Calling
        it is optional: :meth:`take` packs whatever is left.

        Returns:
            True while the next request needs more packing; False when it is complete,
            or when there is nothing to prepare (paused, nothing queued, or a bisected
            group is next: those are packed whole, they are small).
        """
        if now < self.paused_until or self.pending <= 0 or self._isolated:
            return False
        packer = self._packer
        if packer is None:
            chosen = self._choose()
            if chosen is None:
                return False
            packer = self._packer = self.sink.packer(chosen)
            self._packer_done = False
        elif self._packer_done:
            return False
        self._packer_done = self._feed(packer, budget, now - self.max_age)
        return not self._packer_done

    def _pack(self, group: str, queue: deque[Entry], oldest: float, isolated: bool) -> Batch | None:
        return self._in_flight_as(
            self.sink.pack(group, queue, oldest=oldest, drop=self._drop), isolated
        )

    def _in_flight_as(
        self, packed: tuple[PutMetricDataRequest, list[int]] | None, isolated: bool
    ) -> Batch | None:
        if packed is None:
            return None
        request, attempts = packed
        batch = Batch(self._next_id, request, max(attempts) + 1)
        self._next_id += 1
        self._in_flight[batch.id] = (batch, isolated, attempts)
        self.in_flight_datums += len(attempts)
        self.in_flight_samples += request.samples
        return batch

    # ------------------------------------------------------------------ outcomes
    def _resolve(self, batch: Batch) -> tuple[bool, list[int]]:
        entry = self._in_flight.get(batch.id) if isinstance(batch, Batch) else None
        if entry is None or entry[0] is not batch:
            raise CoreStateError(f"{batch!r} is not in flight (already resolved, or foreign)")
        del self._in_flight[batch.id]
        request = batch.request
        self.in_flight_datums -= len(request)
        self.in_flight_samples -= request.samples
        return entry[1], entry[2]

    def check_in_flight(self, batch: Batch) -> None:
        """Raise CoreStateError unless ``batch`` is in flight (changes nothing)."""
        entry = self._in_flight.get(batch.id) if isinstance(batch, Batch) else None
        if entry is None or entry[0] is not batch:
            raise CoreStateError(f"{batch!r} is not in flight (already resolved, or foreign)")

    def ack(self, batch: Batch, rejected_samples: float = 0.0) -> None:
        """The service accepted ``batch`` (all of it but ``rejected_samples``, which are
        counted as dropped: a partial success).

        Raises:
            CoreStateError: ``batch`` is not in flight.
        """
        self._resolve(batch)
        request = batch.request
        n = len(request)
        rejected = min(max(rejected_samples, 0.0), request.samples)
        self.dropped_rejected += rejected
        self.sent += request.samples - rejected
        self.held -= n
        self.requests_sent += 1
        self.datums_sent += n
        self.bytes_sent += request.size
        self.failures_in_a_row = 0
        self.rejects_in_a_row = 0

    def fail(self, batch: Batch, decision: Decision, outcome: SendOutcome) -> FailureAction:
        """Apply a policy ``decision`` to a failed ``batch`` (see :meth:`RetryPolicy.decide`).

        Raises:
            CoreStateError: ``batch`` is not in flight.
        """
        isolated, attempts = self._resolve(batch)
        self.send_failures += 1
        request = batch.request
        group: list[Entry] = [
            (k, t, p, a + 1)
            for k, t, p, a in zip(
                request.keys, request.timestamps, request.payloads, attempts, strict=True
            )
        ]
        if isinstance(decision, Retry):
            self._requeue(group, isolated)
            if not decision.counted:
                return FailureAction(Disposition.RETRY, decision.at, (), outcome)
            self.retries += 1
            self.failures_in_a_row += 1
            self.paused_until = max(self.paused_until, decision.at)
            return FailureAction(Disposition.RETRY, self.paused_until, (), outcome)
        retry_at: float | None = None
        if isinstance(decision, Split) or decision.reason == "invalid":
            self.rejects_in_a_row += 1
            if decision.at is not None:
                self.paused_until = retry_at = max(self.paused_until, decision.at)
        if isinstance(decision, Split):
            dropped = [group[i] for i in decision.drop]
            for entry in dropped:
                self.dropped_invalid += payload_samples(entry[2])
                self.held -= 1
            if len(decision.groups) > 1:
                self.splits += 1
            for indices in reversed(decision.groups):
                self._isolated.appendleft([group[i] for i in indices])
            return FailureAction(
                Disposition.SPLIT, retry_at, tuple(datum_of(*e[:3]) for e in dropped), outcome
            )
        assert isinstance(decision, Drop)
        samples = _samples(group)
        if decision.reason == "invalid":
            self.dropped_invalid += samples
            disposition = Disposition.SPLIT
        else:
            self.dropped_rejected += samples
            disposition = Disposition.DROP
        self.held -= len(group)
        return FailureAction(disposition, None, tuple(datum_of(*e[:3]) for e in group), outcome)

    def _requeue(self, group: list[Entry], isolated: bool) -> None:
        if isolated:
            self._isolated.appendleft(group)
            return
        name = self.sink.group_of(group[0][0])
        queue = self._ready.get(name)
        if queue is None:
            queue = self._ready[name] = deque()
        queue.extendleft(reversed(group))

    def discard(self) -> float:
        """Drop everything queued and not in flight; returns the samples dropped."""
        dropped = 0.0
        for entry in self._drain_queued():
            dropped += payload_samples(entry[2])
            self.held -= 1
        self.dropped_shutdown += dropped
        return dropped

    def _drain_queued(self) -> Iterator[Entry]:
        self._abandon_packer()
        while self._isolated:
            yield from self._isolated.popleft()
        for queue in self._ready.values():
            yield from queue
        self._ready.clear()
        if self._converter is not None:
            yield from self._converter
            self._converter = None
        yield from self._convert_sealed()

    def shift(self, step: float) -> None:
        """The clock stepped by ``step`` seconds: a pause in force moves with it."""
        if self.paused_until != -_INF:
            self.paused_until += step

    # ------------------------------------------------------------------ accounting
    def stats(self, recorded: float, dropped_overflow: float, live_datums: int) -> CoreStats:
        """The counters, with ``recorded`` and ``dropped_overflow`` from the store:
        buffered samples are what the invariant leaves over."""
        dropped = (
            dropped_overflow
            + self.dropped_invalid
            + self.dropped_rejected
            + self.dropped_expired
            + self.dropped_shutdown
        )
        return CoreStats(
            recorded_samples=recorded,
            sent_samples=self.sent,
            buffered_samples=_denoise(
                recorded - self.sent - dropped - self.in_flight_samples, recorded
            ),
            in_flight_samples=self.in_flight_samples,
            dropped_overflow=dropped_overflow,
            dropped_invalid=self.dropped_invalid,
            dropped_rejected=self.dropped_rejected,
            dropped_expired=self.dropped_expired,
            dropped_shutdown=self.dropped_shutdown,
            buffered_datums=self.held + live_datums,
            in_flight_batches=len(self._in_flight),
            requests_sent=self.requests_sent,
            datums_sent=self.datums_sent,
            bytes_sent=self.bytes_sent,
            send_failures=self.send_failures,
            retries=self.retries,
            splits=self.splits,
        )
