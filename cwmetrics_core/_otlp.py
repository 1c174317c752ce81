"""The OTLP sink: aggregated series as OpenTelemetry metric data points, packed pure.

CloudWatch ingests OTLP/HTTP at ``https://monitoring.<region>.amazonaws.com/v1/metrics``
("Send metrics using OpenTelemetry", CloudWatch User Guide), and so does any OpenTelemetry
Collector or the CloudWatch agent (port 4318). :class:`OtlpSink` decides the data model
and packs requests under OTLP's limits; the transport (``cwmetrics_transports.OtlpTransport``)
turns the packed points into protobuf with ``opentelemetry-proto``. The core imports no
third-party package: what it computes here is plain numbers.

The data model:

* ``put_metric`` values of one series and period become one **exponential histogram**
  data point (CloudWatch stores every histogram as an exponential histogram, "How
  CloudWatch stores histogram metrics") with the exact ``count``, ``sum``, ``min`` and
  ``max``, and buckets at the finest scale (at most 20) that keeps each sign within
  ``max_buckets`` buckets. A series split in several datums by the store (150 values
  each) is merged back into one point. A percentile read from the buckets is within a
  relative error of ``sqrt(base) - 1`` of the exact one when estimated at the geometric
  middle of its bucket, ``base = 2 ** 2 ** -scale`` (:meth:`ExpHistogram.relative_error`);
* ``put_statistic`` sets become an explicit-bucket **histogram** point with no buckets:
  ``count``, ``sum``, ``min`` and ``max`` only (valid OTLP: "bucket_counts may be empty");
* temporality is **delta**: each point covers exactly one period, from its start
  (``start_time_unix_nano``) to its end (``time_unix_nano``: start + the storage
  resolution, 1 s or 60 s), and what the next period brings is not added to it;
* the namespace is the instrumentation **scope name** (one scope per request: requests
  never mix namespaces); the metric name is ``Metric.name``; the unit is ``Metric.unit``
  in UCUM as CloudWatch's own OpenTelemetry translation spells it (``Milliseconds`` ->
  ``ms``, ``None`` -> ``1``); dimensions are the point's string **attributes**.

OTLP counts are unsigned integers: a datum with a fractional count (CloudWatch accepts
``Counts`` of 0.5) cannot be sent and is reported through ``drop`` as ``"invalid"``, as is a
datum with more than ``max_attributes`` dimensions. Like the other sinks it performs no
I/O and counts nothing itself.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable

from ._errors import InvalidConfigError
from ._limits import (
    OTLP_MAX_ATTRIBUTES,
    OTLP_MAX_BUCKETS,
    OTLP_MAX_DATA_POINTS,
    OTLP_MAX_REQUEST_BYTES,
    Limits,
)
from ._model import Entry, MetricKey, Payload, PutMetricDataRequest, Unit, payload_samples
from ._sink import DropReason, Sink
from ._version import __version__
from ._wire import WireFormat

__all__ = [
    "ExpHistogram", "OtlpPoint", "OtlpRequest", "OtlpSink", "exponential_histogram",
    "ucum_unit", "otlp_limits", "SCOPE_VERSION",
]

#: The instrumentation scope version sent with every request.
SCOPE_VERSION = __version__
_MAX_SCALE = 20
_MIN_SCALE = -10
_MAX_UINT64 = 2**64 - 1

_UCUM = {
    "Seconds": "s", "Microseconds": "us", "Milliseconds": "ms", "Bytes": "By",
    "Kilobytes": "kBy", "Megabytes": "MBy", "Gigabytes": "GBy", "Terabytes": "TBy",
    "Bits": "bit", "Kilobits": "kbit", "Megabits": "MBit", "Gigabits": "GBit",
    "Terabits": "Tbit", "Percent": "%", "Count": "{Count}", "None": "1",
}


def ucum_unit(unit: Unit) -> str:
    """The UCUM unit CloudWatch's OpenTelemetry translation uses for ``unit``
    (``Bytes/Second`` -> ``By/s``)."""
    head, sep, tail = unit.value.partition("/")
    text = _UCUM[head]
    return text + "/s" if sep and tail == "Second" else text


def otlp_limits(limits: Limits | None = None) -> Limits:
    """``limits`` with OTLP's request limits: at most 1000 data points and 1 MB per request
    (the values-per-datum split is the core's and is kept)."""
    base = limits if limits is not None else Limits()
    return Limits(
        max_datums_per_request=min(base.max_datums_per_request, OTLP_MAX_DATA_POINTS),
        max_values_per_datum=base.max_values_per_datum,
        max_request_bytes=min(base.max_request_bytes, OTLP_MAX_REQUEST_BYTES),
    )


# ---------------------------------------------------------------------- histograms
_SCALE20 = float(2**_MAX_SCALE)


def _index20(value: float) -> int:
    """The bucket of ``value`` (> 0) at scale 20: ``base**i < value <= base**(i+1)``.
    ``log2`` is exact for powers of two, which are the inclusive upper bound of theirs."""
    return math.ceil(math.log2(value) * _SCALE20) - 1


class ExpHistogram:
    """One exponential histogram: exact statistics plus buckets (OTLP's data model).

    Attributes:
        count / sum / min / max: exact, over every value.
        scale: bucket ``i`` holds values in ``(base**i, base**(i+1)]``, ``base = 2**2**-scale``.
        zero_count: values equal to 0.
        positive_offset / positive: the first positive bucket's index and the counts.
        negative_offset / negative: likewise for ``-value`` of negative values.
    """

    __slots__ = (
        "count", "max", "min", "negative", "negative_offset", "positive", "positive_offset",
        "scale", "sum", "zero_count",
    )

    def __init__(
        self,
        count: int,
        total: float,
        low: float,
        high: float,
        scale: int,
        zero_count: int,
        positive: tuple[int, tuple[int, ...]],
        negative: tuple[int, tuple[int, ...]],
    ) -> None:
        self.count = count
        self.sum = total
        self.min = low
        self.max = high
        self.scale = scale
        self.zero_count = zero_count
        self.positive_offset, self.positive = positive
        self.negative_offset, self.negative = negative

    def relative_error(self) -> float:
        """Bound on the relative error of a percentile estimated at the geometric middle
        of the bucket holding it: ``sqrt(base) - 1``."""
        return float(2.0 ** (2.0**-self.scale / 2)) - 1.0

    def bucket_bounds(self, index: int) -> tuple[float, float]:
        """``(lower, upper]`` of bucket ``index`` (positive side)."""
        base = 2.0 ** (2.0**-self.scale)
        return base**index, base ** (index + 1)

    def __repr__(self) -> str:
        return (
            f"ExpHistogram(count={self.count}, sum={self.sum!r}, min={self.min!r}, "
            f"max={self.max!r}, scale={self.scale}, zero_count={self.zero_count}, "
            f"positive={self.positive_offset}:{len(self.positive)}, "
            f"negative={self.negative_offset}:{len(self.negative)})"
        )


class _Values:
    """The exact statistics and scale-20 bucket indexes of a point's values so far (a
    series split in several datums is merged by adding each datum once)."""

    __slots__ = ("high", "low", "neg_counts", "neg_idx", "pos_counts", "pos_idx", "sums",
                 "total", "zero")

    def __init__(self) -> None:
        self.pos_idx: list[int] = []
        self.pos_counts: list[int] = []
        self.neg_idx: list[int] = []
        self.neg_counts: list[int] = []
        self.zero = 0
        self.total = 0
        self.sums: list[float] = []
        self.low = math.inf
        self.high = -math.inf

    def add(self, values: list[float], counts: list[float]) -> bool:
        """Fold ``values`` with their ``counts`` in; False (nothing changed) when a count
        is not a whole number."""
        ints = [int(c) for c in counts]
        if ints != counts:
            return False
        log2 = math.log2
        ceil = math.ceil
        scale = _SCALE20
        low = min(values)
        high = max(values)
        if low > 0:  # the usual case: one comprehension, no branch per value
            self.pos_idx += [ceil(log2(v) * scale) - 1 for v in values]
            self.pos_counts += ints
        else:
            for value, n in zip(values, ints, strict=True):
                if value > 0:
                    self.pos_idx.append(ceil(log2(value) * scale) - 1)
                    self.pos_counts.append(n)
                elif value < 0:
                    self.neg_idx.append(ceil(log2(-value) * scale) - 1)
                    self.neg_counts.append(n)
                else:
                    self.zero += n
        self.total += sum(ints)
        self.sums.append(math.fsum([v * c for v, c in zip(values, counts, strict=True)]))
        self.low = min(self.low, low)
        self.high = max(self.high, high)
        return True

    def mark(self) -> tuple[int, int, int, int, int, float, float]:
        """A mark to :meth:`undo` an :meth:`add` back to."""
        return (len(self.pos_idx), len(self.neg_idx), self.zero, self.total, len(self.sums),
                self.low, self.high)

    def undo(self, mark: tuple[int, int, int, int, int, float, float]) -> None:
        pos, neg, self.zero, self.total, sums, self.low, self.high = mark
        del self.pos_idx[pos:], self.pos_counts[pos:], self.neg_idx[neg:]
        del self.neg_counts[neg:], self.sums[sums:]

    def _shift(self, max_buckets: int) -> tuple[int, int, int]:
        """Scale 20 minus the scale, and the buckets each sign then needs."""
        shift = 0
        ranges = []
        for side in (self.pos_idx, self.neg_idx):
            lo = hi = 0
            if side:
                lo = min(side)
                hi = max(side)
                while (hi >> shift) - (lo >> shift) + 1 > max_buckets:
                    shift += 1
            ranges.append((lo, hi, bool(side)))
        shift = min(shift, _MAX_SCALE - _MIN_SCALE)
        pos, neg = (
            ((hi >> shift) - (lo >> shift) + 1) if used else 0 for lo, hi, used in ranges
        )
        return shift, pos, neg

    def size_bound(self, attrs: int, max_buckets: int) -> int | None:
        """An upper bound of the point's encoded size (every bucket count taken as wide
        as the total count), or None when the total count does not fit in 64 bits."""
        if self.total == 0 or self.total > _MAX_UINT64:
            return None
        _shift, pos, neg = self._shift(max_buckets)
        width = _vlen(self.total)
        inner = attrs + _EXP_FIXED
        for n in (pos, neg):
            if n:
                inner += _field(6 + _field(n * width))
        return _field(inner)

    def histogram(self, max_buckets: int) -> ExpHistogram:
        shift = self._shift(max_buckets)[0]
        return ExpHistogram(
            self.total, math.fsum(self.sums), self.low, self.high, _MAX_SCALE - shift,
            self.zero, _counts(self.pos_idx, self.pos_counts, shift),
            _counts(self.neg_idx, self.neg_counts, shift),
        )


def _counts(indexes: list[int], counts: list[int], shift: int) -> tuple[int, tuple[int, ...]]:
    if not indexes:
        return 0, ()
    first = min(indexes) >> shift
    out = [0] * ((max(indexes) >> shift) - first + 1)
    for index, count in zip(indexes, counts, strict=True):
        out[(index >> shift) - first] += count
    return first, tuple(out)


def exponential_histogram(
    items: Iterable[tuple[float, float]], max_buckets: int = OTLP_MAX_BUCKETS
) -> ExpHistogram | None:
    """The exponential histogram of ``(value, count)`` pairs at the finest scale (<= 20)
    where each sign needs at most ``max_buckets`` buckets.

    Returns:
        None when a count is not a whole number (OTLP counts are integers) or the total
        count does not fit in 64 bits; else the histogram.
    """
    pairs = list(items)
    acc = _Values()
    if not pairs or not acc.add([v for v, _c in pairs], [c for _v, c in pairs]):
        return None
    if acc.total == 0 or acc.total > _MAX_UINT64:
        return None
    return acc.histogram(max_buckets)


# ---------------------------------------------------------------------- sizes
def _vlen(n: int) -> int:
    """Bytes of ``n`` (>= 0) as a protobuf varint."""
    return max(1, (n.bit_length() + 6) // 7)


def _field(inner: int) -> int:
    """Bytes of a length-delimited field (1-byte tag) whose content is ``inner`` bytes."""
    return 1 + _vlen(inner) + inner


def _attributes_size(dimensions: tuple[tuple[str, str], ...]) -> int:
    size = 0
    for name, value in dimensions:
        key = len(name.encode("utf-8"))
        val = len(value.encode("utf-8"))
        size += _field(_field(key) + _field(_field(val)))
    return size


#: Fixed-size fields of a point, upper bound: start, time, count, sum, min, max (tag +
#: 8 bytes each), zero_count (9), scale (tag + <= 5).
_EXP_FIXED = 9 * 7 + 6
_STATS_FIXED = 9 * 6


def _stats_point_size(attrs: int) -> int:
    return _field(attrs + _STATS_FIXED)


#: A metric's framing, upper bound: the Metric field (tag + <= 5), its histogram field
#: (tag + <= 5), the temporality (2); name and unit are added as fields.
_METRIC_FRAME = 6 + 6 + 2
#: The request's framing: ResourceMetrics, Resource, ScopeMetrics, Scope (tag + <= 5 each).
_REQUEST_FRAME = 4 * 6


# ---------------------------------------------------------------------- points
class OtlpPoint:
    """One data point of a packed request (what the transport encodes).

    Attributes:
        key: the series (name, unit and dimensions).
        start: the period's start, epoch seconds (``start_time_unix_nano``).
        end: the period's end (``time_unix_nano``): start + storage resolution.
        histogram: the exponential histogram of ``put_metric`` values, or None.
        statistics: ``(count, sum, min, max)`` of ``put_statistic`` sets, or None.
        entries: how many queued datums this point carries (a split series merged back).
    """

    __slots__ = ("_values", "end", "entries", "histogram", "key", "size", "start", "statistics")

    def __init__(
        self,
        key: MetricKey,
        start: float,
        histogram: ExpHistogram | None,
        statistics: tuple[int, float, float, float] | None,
        size: int,
        values: _Values | None,
    ) -> None:
        self.key = key
        self.start = start
        self.end = start + key.storage_resolution
        self.histogram = histogram
        self.statistics = statistics
        self.size = size
        self.entries = 1
        self._values = values

    @property
    def is_histogram(self) -> bool:
        """True for an exponential histogram (values), False for a statistic set."""
        return self.statistics is None

    def __repr__(self) -> str:
        data = self.histogram if self.histogram is not None else self.statistics
        return f"OtlpPoint({self.key.name!r}, start={self.start:g}, {data!r})"


class OtlpRequest(PutMetricDataRequest):
    """A packed OTLP request: the datums (for the ledger) plus the points to encode.

    ``body`` is empty: the transport encodes :attr:`points` (protobuf, with
    ``opentelemetry-proto``); :attr:`size_bound` is an upper bound on that encoding's
    size, the figure packed under the 1 MB limit.
    """

    __slots__ = ("points", "size_bound")

    points: list[OtlpPoint]
    size_bound: int


def _stats_of(payload: tuple[float, float, float, float]) -> tuple[int, float, float, float] | None:
    n = payload[0]
    if not n.is_integer() or n > _MAX_UINT64:
        return None
    return int(n), payload[1], payload[2], payload[3]


class OtlpSink(Sink):
    """Packs datums into OTLP metric data points (see the module docstring).

    Args:
        limits: the core's limits (``max_values_per_datum`` must be the store's); the
            request limits are capped at OTLP's (1000 points, 1 MB).
        max_buckets: buckets per sign of each exponential histogram (1..16384; the
            OpenTelemetry SDK's 160 by default). More buckets, finer percentiles.
        max_attributes: attributes per data point (OTLP's 150).

    Raises:
        InvalidConfigError: a setting out of range (the message names it and the bound).
    """

    __slots__ = ("limits", "max_attributes", "max_buckets")

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        max_buckets: int = OTLP_MAX_BUCKETS,
        max_attributes: int = OTLP_MAX_ATTRIBUTES,
    ) -> None:
        for name, value, high in (
            ("max_buckets", max_buckets, 16384),
            ("max_attributes", max_attributes, OTLP_MAX_ATTRIBUTES),
        ):
            if type(value) is not int or not 1 <= value <= high:
                raise InvalidConfigError(f"OtlpSink.{name}", value, f"must be an int in 1..{high}")
        self.limits = otlp_limits(limits)
        self.max_buckets = max_buckets
        self.max_attributes = max_attributes

    @property
    def wire_format(self) -> WireFormat:
        return WireFormat.OTLP

    def group_of(self, key: MetricKey) -> str:
        return key.namespace

    def __repr__(self) -> str:
        return f"OtlpSink(max_buckets={self.max_buckets}, limits={self.limits!r})"

    def _point(
        self, key: MetricKey, timestamp: float, payload: Payload, attrs: int,
        merged: _Values | None = None,
    ) -> OtlpPoint | None:
        """The point of one datum (or ``merged`` plus this datum); None if unsendable.
        ``merged`` is extended in place only when the result is not None."""
        if payload.__class__ is tuple:
            stats = _stats_of(payload)
            if stats is None:
                return None
            return OtlpPoint(key, timestamp, None, stats, _stats_point_size(attrs), None)
        values = merged if merged is not None else _Values()
        if not values.add(list(payload), list(payload.values())):  # type: ignore[union-attr]
            return None
        size = values.size_bound(attrs, self.max_buckets)
        if size is None:
            return None
        return OtlpPoint(key, timestamp, None, None, size, values)

    def pack(
        self,
        group: str,
        queue: deque[Entry],
        *,
        oldest: float,
        drop: Callable[[Entry, DropReason], None],
    ) -> tuple[PutMetricDataRequest, list[int]] | None:
        max_points = self.limits.max_datums_per_request
        limit = self.limits.max_request_bytes
        size = _REQUEST_FRAME + _field(len(group.encode("utf-8"))) + _field(len(SCOPE_VERSION))
        metrics: set[tuple[str, Unit, bool]] = set()
        points: list[OtlpPoint] = []
        chosen: list[Entry] = []
        while queue:
            entry = queue[0]
            key, timestamp, payload = entry[0], entry[1], entry[2]
            if timestamp < oldest:
                queue.popleft()
                drop(entry, "expired")
                continue
            if len(key.dimensions) > self.max_attributes:
                queue.popleft()
                drop(entry, "invalid")
                continue
            last = points[-1] if points else None
            continues = (
                last is not None
                and last.is_histogram
                and last.start == timestamp
                and payload.__class__ is dict
                and last.key == key
            )
            attrs = _attributes_size(key.dimensions)
            if continues:
                assert last is not None and last._values is not None
                mark = last._values.mark()
                point = self._point(key, timestamp, payload, attrs, last._values)
                if point is None:
                    last._values.undo(mark)
                    queue.popleft()
                    drop(entry, "invalid")
                    continue
                grow = point.size - last.size
                if size + grow > limit:
                    last._values.undo(mark)
                    if len(points) > 1:  # keep the series' period whole: move it on
                        self._give_back(points, chosen, queue)
                    break
                point.entries = last.entries + 1
                points[-1] = point
            else:
                if len(points) >= max_points:
                    break
                point = self._point(key, timestamp, payload, attrs)
                if point is None:
                    queue.popleft()
                    drop(entry, "invalid")
                    continue
                ident = (key.name, key.unit, point.is_histogram)
                grow = point.size
                if ident not in metrics:
                    grow += _METRIC_FRAME + _field(len(key.name.encode("utf-8"))) + _field(
                        len(ucum_unit(key.unit))
                    )
                if size + grow > limit:
                    if not points:
                        queue.popleft()
                        drop(entry, "too_large")
                        continue
                    break
                metrics.add(ident)
                points.append(point)
            size += grow
            queue.popleft()
            chosen.append(entry)
        if not chosen:
            return None
        payloads = [e[2] for e in chosen]
        samples = math.fsum([payload_samples(p) for p in payloads])
        request = OtlpRequest.packed(
            group,
            [e[0] for e in chosen],
            [e[1] for e in chosen],
            payloads,
            samples,
            b"",
            WireFormat.OTLP,
            {"Content-Type": "application/x-protobuf"},
        )
        assert isinstance(request, OtlpRequest)
        max_buckets = self.max_buckets
        for point in points:
            if point._values is not None:
                point.histogram = point._values.histogram(max_buckets)
                point._values = None  # the scale-20 indexes are not kept in flight
        request.points = points
        request.size_bound = size
        return request, [e[3] for e in chosen]

    @staticmethod
    def _give_back(points: list[OtlpPoint], chosen: list[Entry], queue: deque[Entry]) -> None:
        """Return the last point's datums to the front of ``queue``."""
        last = points.pop()
        back = chosen[-last.entries :]
        del chosen[-last.entries :]
        queue.extendleft(reversed(back))
