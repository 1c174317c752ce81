"""Plain data recorded by :class:`~cwmetrics_transports.testing.LocalCloudWatch`.

Everything here is immutable and free of moto/werkzeug types, so tests can compare
records with ``==`` and keep them after the server is reset.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

__all__ = [
    "Protocol",
    "SeriesKey",
    "StatisticSet",
    "AcceptedDatum",
    "AcceptedPut",
    "RequestLogEntry",
    "ServerStats",
    "SeriesStats",
    "Recorder",
]

#: Wire protocol of a request: AWS JSON 1.0, the ``query`` form protocol, or anything else.
Protocol = Literal["json", "query", "other"]

#: ``(namespace, metric name, sorted ((dimension name, dimension value), ...))``.
SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True)
class StatisticSet:
    """A datum's ``StatisticValues``."""

    sample_count: float
    sum: float
    minimum: float
    maximum: float


@dataclass(frozen=True, slots=True)
class AcceptedDatum:
    """One ``MetricDatum`` the endpoint accepted, normalised.

    A single ``Value`` is folded into ``values=(value,)`` / ``counts=(1.0,)``; omitted
    ``Counts`` become 1s; an omitted timestamp is the server's receive time; an omitted
    ``StorageResolution`` is 60; an omitted ``Unit`` is ``None``.
    """

    metric_name: str
    dimensions: tuple[tuple[str, str], ...]
    timestamp: float
    unit: str | None
    storage_resolution: int
    values: tuple[float, ...]
    counts: tuple[float, ...]
    statistic_values: StatisticSet | None


@dataclass(frozen=True, slots=True)
class AcceptedPut:
    """One accepted PutMetricData request."""

    namespace: str
    datums: tuple[AcceptedDatum, ...]
    protocol: Protocol
    received_at: float


@dataclass(frozen=True, slots=True)
class RequestLogEntry:
    """One HTTP request the endpoint received.

    Attributes:
        index: 0-based arrival order.
        operation: ``"PutMetricData"``, another action name, or ``""`` if unknown.
        protocol: ``"json"``, ``"query"`` or ``"other"``.
        compressed: the body arrived with ``Content-Encoding: gzip``.
        wire_bytes: body size as received.
        raw_bytes: body size uncompressed (equals ``wire_bytes`` if not compressed).
        datum_count: datums in the request (0 if not a parsable PutMetricData).
        status: HTTP status sent, or ``None`` if the connection was dropped.
        error_code: the error code sent (``None`` on success; always ``None`` for
            operations other than PutMetricData, which pass through untouched).
        fault: the injected fault: ``None``, ``"error"``, ``"delay"``,
            ``"drop_before_apply"`` or ``"drop_after_apply"``.
        applied: the request reached moto and moto accepted it.
        received_at: wall-clock arrival time (epoch seconds).
    """

    index: int
    operation: str
    protocol: Protocol
    compressed: bool
    wire_bytes: int
    raw_bytes: int
    datum_count: int
    status: int | None
    error_code: str | None
    fault: str | None
    applied: bool
    received_at: float


@dataclass(frozen=True, slots=True)
class ServerStats:
    """A consistent snapshot of the endpoint's counters.

    Byte and datum counters cover PutMetricData requests only.

    Attributes:
        requests_total: every HTTP request received (any operation, faulted or not).
        put_requests: PutMetricData requests received.
        put_accepted: PutMetricData requests answered 200 (including ``drop_after_apply``).
        put_rejected: validation/moto rejections, error code -> count.
        put_faulted: injected error responses, error code -> count.
        dropped_before_apply: connections closed without applying the request.
        dropped_after_apply: connections closed after applying the request.
        delayed: responses delayed by :meth:`slow_down`.
        wire_bytes: PutMetricData body bytes as received (compressed or not).
        raw_bytes: PutMetricData body bytes uncompressed.
        compressed_requests: PutMetricData requests that arrived gzip-encoded.
        datums_accepted: datums in accepted requests.
        log: every request, oldest first.
    """

    requests_total: int
    put_requests: int
    put_accepted: int
    put_rejected: Mapping[str, int]
    put_faulted: Mapping[str, int]
    dropped_before_apply: int
    dropped_after_apply: int
    delayed: int
    wire_bytes: int
    raw_bytes: int
    compressed_requests: int
    datums_accepted: int
    log: tuple[RequestLogEntry, ...]

    @property
    def put_rejected_total(self) -> int:
        """All rejected PutMetricData requests (validation and moto)."""
        return sum(self.put_rejected.values())


@dataclass(frozen=True)
class SeriesStats:
    """Exact aggregate of everything accepted for one series.

    ``values`` is the multiset built from ``Values``/``Counts`` and single ``Value``s
    (value -> total count, zero counts omitted); statistic sets contribute to the
    SampleCount/Sum/Minimum/Maximum but not to ``values``.

    Attributes:
        sample_count: total count (sum of counts plus statistic-set sample counts).
        sum: the exactly rounded sum of ``value * count`` plus statistic-set sums.
        minimum: smallest value (``nan`` if no samples).
        maximum: largest value (``nan`` if no samples).
        values: value -> count.
        datum_count: datums that contributed.
        statistic_set_count: datums that were statistic sets.
    """

    sample_count: float
    sum: float
    minimum: float
    maximum: float
    values: Mapping[float, float] = field(default_factory=dict)
    datum_count: int = 0
    statistic_set_count: int = 0

    @property
    def average(self) -> float:
        """``sum / sample_count`` (``nan`` if there are no samples)."""
        return self.sum / self.sample_count if self.sample_count else math.nan

    def percentile(self, p: float) -> float:
        """The exact nearest-rank percentile of ``values``.

        The smallest value ``v`` whose cumulative count reaches ``p/100`` of the total
        count in ``values`` (statistic sets are not included).

        Args:
            p: percentile in ``[0, 100]``; 0 gives the minimum.

        Returns:
            The percentile value.

        Raises:
            ValueError: ``p`` out of range or no values recorded.
        """
        if not 0.0 <= p <= 100.0:
            raise ValueError(f"percentile must be within [0, 100], got {p!r}")
        items = sorted((v, c) for v, c in self.values.items() if c > 0)
        if not items:
            raise ValueError("no values recorded for this series")
        total = math.fsum(c for _, c in items)
        threshold = total * p / 100.0
        running = 0.0
        for value, count in items:
            running += count
            if running >= threshold:
                return value
        return items[-1][0]


def aggregate(datums: Iterable[AcceptedDatum]) -> SeriesStats:
    """Aggregate datums of one series exactly.

    Args:
        datums: the series' accepted datums.

    Returns:
        The aggregate (``sample_count == 0`` and ``nan`` extremes if empty).
    """
    sample_count = Fraction(0)
    total = Fraction(0)
    minimum = math.inf
    maximum = -math.inf
    multiset: dict[float, float] = {}
    datum_count = 0
    stat_sets = 0
    for datum in datums:
        datum_count += 1
        stats = datum.statistic_values
        if stats is not None:
            stat_sets += 1
            sample_count += Fraction(stats.sample_count)
            total += Fraction(stats.sum)
            minimum = min(minimum, stats.minimum)
            maximum = max(maximum, stats.maximum)
            continue
        for value, count in zip(datum.values, datum.counts, strict=True):
            if count == 0:
                continue
            sample_count += Fraction(count)
            total += Fraction(value) * Fraction(count)
            minimum = min(minimum, value)
            maximum = max(maximum, value)
            key = value + 0.0  # fold -0.0 into 0.0
            multiset[key] = multiset.get(key, 0.0) + count
    if datum_count == 0 or minimum == math.inf:
        minimum = maximum = math.nan
    return SeriesStats(
        sample_count=float(sample_count),
        sum=float(total),
        minimum=minimum,
        maximum=maximum,
        values=multiset,
        datum_count=datum_count,
        statistic_set_count=stat_sets,
    )


class Recorder:
    """Thread-safe store of accepted requests, counters and the request log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Forget everything recorded so far."""
        with self._lock:
            self._puts: list[AcceptedPut] = []
            self._log: list[RequestLogEntry] = []
            self._put_requests = 0
            self._put_accepted = 0
            self._rejected: dict[str, int] = {}
            self._faulted: dict[str, int] = {}
            self._dropped_before = 0
            self._dropped_after = 0
            self._delayed = 0
            self._wire = 0
            self._raw = 0
            self._compressed = 0
            self._datums = 0

    def log_request(
        self,
        *,
        operation: str,
        protocol: Protocol,
        compressed: bool,
        wire_bytes: int,
        raw_bytes: int,
        datum_count: int,
        status: int | None,
        error_code: str | None,
        fault: str | None,
        applied: bool,
        received_at: float,
        accepted: AcceptedPut | None = None,
        delayed: bool = False,
    ) -> RequestLogEntry:
        """Record one finished request and update the counters.

        Args:
            operation: the action name (``""`` if unknown).
            protocol: the wire protocol.
            compressed: whether the body was gzip-encoded.
            wire_bytes: body bytes as received.
            raw_bytes: body bytes uncompressed.
            datum_count: datums in the request.
            status: HTTP status sent, ``None`` if dropped.
            error_code: error code sent, if any.
            fault: injected fault kind, if any.
            applied: moto applied the request.
            received_at: arrival time.
            accepted: the normalised request, if it was accepted.
            delayed: the response was delayed by fault injection.

        Returns:
            The new log entry.
        """
        with self._lock:
            entry = RequestLogEntry(
                index=len(self._log),
                operation=operation,
                protocol=protocol,
                compressed=compressed,
                wire_bytes=wire_bytes,
                raw_bytes=raw_bytes,
                datum_count=datum_count,
                status=status,
                error_code=error_code,
                fault=fault,
                applied=applied,
                received_at=received_at,
            )
            self._log.append(entry)
            if operation != "PutMetricData":
                return entry
            self._put_requests += 1
            self._wire += wire_bytes
            self._raw += raw_bytes
            self._compressed += int(compressed)
            self._delayed += int(delayed)
            if fault == "drop_before_apply":
                self._dropped_before += 1
            elif fault == "drop_after_apply":
                self._dropped_after += 1
            if error_code is not None:
                bucket = self._faulted if fault == "error" else self._rejected
                bucket[error_code] = bucket.get(error_code, 0) + 1
            if accepted is not None:
                self._put_accepted += 1
                self._datums += len(accepted.datums)
                self._puts.append(accepted)
            return entry

    def stats(self) -> ServerStats:
        """Return a consistent snapshot of the counters and the log."""
        with self._lock:
            return ServerStats(
                requests_total=len(self._log),
                put_requests=self._put_requests,
                put_accepted=self._put_accepted,
                put_rejected=dict(self._rejected),
                put_faulted=dict(self._faulted),
                dropped_before_apply=self._dropped_before,
                dropped_after_apply=self._dropped_after,
                delayed=self._delayed,
                wire_bytes=self._wire,
                raw_bytes=self._raw,
                compressed_requests=self._compressed,
                datums_accepted=self._datums,
                log=tuple(self._log),
            )

    def puts(self) -> list[AcceptedPut]:
        """Return every accepted PutMetricData, oldest first."""
        with self._lock:
            return list(self._puts)

    def datums(
        self, namespace: str | None = None, metric_name: str | None = None
    ) -> Iterator[tuple[str, AcceptedDatum]]:
        """Yield ``(namespace, datum)`` for accepted datums, optionally filtered.

        Args:
            namespace: only this namespace.
            metric_name: only this metric name.

        Yields:
            ``(namespace, datum)`` pairs in arrival order.
        """
        for put in self.puts():
            if namespace is not None and put.namespace != namespace:
                continue
            for datum in put.datums:
                if metric_name is None or datum.metric_name == metric_name:
                    yield put.namespace, datum

    def series(self) -> dict[SeriesKey, SeriesStats]:
        """Aggregate every accepted datum per series."""
        grouped: dict[SeriesKey, list[AcceptedDatum]] = {}
        for namespace, datum in self.datums():
            grouped.setdefault((namespace, datum.metric_name, datum.dimensions), []).append(datum)
        return {key: aggregate(items) for key, items in grouped.items()}
