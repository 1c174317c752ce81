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
_LN2 = math.log(2.0)

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
def _index20(value: float) -> int:
    """The bucket of ``value`` (> 0) at scale 20: ``base**i < value <= base**(i+1)``."""
    mantissa, exponent = math.frexp(value)
    if mantissa == 0.5:  # an exact power of two is the inclusive upper bound of its bucket
        return ((exponent - 1) << _MAX_SCALE) - 1
    return int(math.ceil(math.log(value) * (2**_MAX_SCALE / _LN2))) - 1


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


def _counts(indexed: list[tuple[int, int]], shift: int) -> tuple[int, tuple[int, ...]]:
    if not indexed:
        return 0, ()
    first = min(i for i, _c in indexed) >> shift
    last = max(i for i, _c in indexed) >> shift
    counts = [0] * (last - first + 1)
    for index, count in indexed:
        counts[(index >> shift) - first] += count
    return first, tuple(counts)


def exponential_histogram(
    items: Iterable[tuple[float, float]], max_buckets: int = OTLP_MAX_BUCKETS
) -> ExpHistogram | None:
    """The exponential histogram of ``(value, count)`` pairs at the finest scale (<= 20)
    where each sign needs at most ``max_buckets`` buckets.

    Returns:
        None when a count is not a whole number (OTLP counts are integers) or the total
        count does not fit in 64 bits; else the histogram.
    """
    positive: list[tuple[int, int]] = []
    negative: list[tuple[int, int]] = []
    zero = 0
    total = 0
    sums: list[float] = []
    low = math.inf
    high = -math.inf
    for value, count in items:
        if not count.is_integer():
            return None
        n = int(count)
        total += n
        sums.append(value * count)
        low = min(low, value)
        high = max(high, value)
        if value > 0:
            positive.append((_index20(value), n))
        elif value < 0:
            negative.append((_index20(-value), n))
        else:
            zero += n
    if total == 0 or total > _MAX_UINT64:
        return None
    shift = 0
    for side in (positive, negative):
        if side:
            lo = min(i for i, _c in side)
            hi = max(i for i, _c in side)
            while (hi >> shift) - (lo >> shift) + 1 > max_buckets:
                shift += 1
    shift = min(shift, _MAX_SCALE - _MIN_SCALE)
    return ExpHistogram(
        total, math.fsum(sums), low, high, _MAX_SCALE - shift, zero,
        _counts(positive, shift), _counts(negative, shift),
    )


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


def _buckets_size(counts: tuple[int, ...]) -> int:
    if not counts:
        return 0
    packed = sum(_vlen(c) for c in counts)
    return _field(6 + _field(packed))  # offset: tag + sint32 (<= 5 bytes)


#: Fixed-size fields of a point, upper bound: start, time, count, sum, min, max (tag +
#: 8 bytes each), zero_count (9), scale (tag + <= 5).
_EXP_FIXED = 9 * 7 + 6
_STATS_FIXED = 9 * 6


def _exp_point_size(attrs: int, hist: ExpHistogram) -> int:
    inner = attrs + _EXP_FIXED + _buckets_size(hist.positive) + _buckets_size(hist.negative)
    return _field(inner)


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

    __slots__ = ("_items", "end", "entries", "histogram", "key", "size", "start", "statistics")

    def __init__(
        self,
        key: MetricKey,
        start: float,
        histogram: ExpHistogram | None,
        statistics: tuple[int, float, float, float] | None,
        size: int,
        items: list[tuple[float, float]] | None,
    ) -> None:
        self.key = key
        self.start = start
        self.end = start + key.storage_resolution
        self.histogram = histogram
        self.statistics = statistics
        self.size = size
        self.entries = 1
        self._items = items

    @property
    def is_histogram(self) -> bool:
        """True for an exponential histogram (values), False for a statistic set."""
        return self.histogram is not None

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
        merged: list[tuple[float, float]] | None = None,
    ) -> OtlpPoint | None:
        if payload.__class__ is tuple:
            stats = _stats_of(payload)
            if stats is None:
                return None
            return OtlpPoint(key, timestamp, None, stats, _stats_point_size(attrs), None)
        items = list(payload.items())  # type: ignore[union-attr]
        if merged is not None:
            items = merged + items
        hist = exponential_histogram(items, self.max_buckets)
        if hist is None:
            return None
        return OtlpPoint(key, timestamp, hist, None, _exp_point_size(attrs, hist), items)

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
                assert last is not None
                point = self._point(key, timestamp, payload, attrs, last._items)
                if point is None:
                    queue.popleft()
                    drop(entry, "invalid")
                    continue
                grow = point.size - last.size
                if size + grow > limit:
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
        for point in points:
            point._items = None  # the histogram is computed; the values are not kept twice
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
