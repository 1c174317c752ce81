"""Inbound events (small frozen value classes, validated on construction) and checks."""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import InvalidMetricError, MetricTypeError
from ._limits import MAX_EPOCH_SECONDS
from ._model import MetricKey
from ._numbers import as_number, bad_value, check_count, check_value

__all__ = ["MetricEvent", "PutValue", "PutStatisticSet", "as_number", "bad_value",
           "check_value", "check_count", "check_timestamp", "check_statistics"]


def check_timestamp(timestamp: object, field: str = "Timestamp") -> float:
    """Return finite positive epoch seconds as float.

    Raises:
        MetricTypeError: not a real number.
        InvalidMetricError: not finite, <= 0, or beyond year 5138 (milliseconds passed
            as seconds).
    """
    t = timestamp if timestamp.__class__ is float else as_number(field, timestamp)
    assert isinstance(t, float)
    if not 0.0 < t < MAX_EPOCH_SECONDS:
        raise InvalidMetricError(
            field, timestamp, f"must be finite epoch seconds in (0, {MAX_EPOCH_SECONDS:g})"
        )
    return t


def check_statistics(
    sample_count: object, total: object, minimum: object, maximum: object
) -> tuple[float, float, float, float]:
    """Validate a statistic set and return it as floats.

    Raises:
        MetricTypeError: a field that is not a real number.
        InvalidMetricError: a field out of CloudWatch's range, ``SampleCount <= 0`` or
            ``Minimum > Maximum``.
    """
    n = check_count(sample_count, "StatisticValues.SampleCount")
    s = check_value(total, "StatisticValues.Sum")
    lo = check_value(minimum, "StatisticValues.Minimum")
    hi = check_value(maximum, "StatisticValues.Maximum")
    if lo > hi:
        raise InvalidMetricError(
            "StatisticValues.Minimum", lo, f"greater than StatisticValues.Maximum={hi!r}"
        )
    return n, s, lo, hi


def check_key(key: object) -> MetricKey:
    """Return ``key`` if it is a MetricKey.

    Raises:
        MetricTypeError: anything else.
    """
    if not isinstance(key, MetricKey):
        raise MetricTypeError("key", key, "must be a MetricKey")
    return key


class MetricEvent:
    """Base class of the events :meth:`MetricsCore.record` accepts."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class PutValue(MetricEvent):
    """One observation (or ``count`` identical ones) of a value, kept exactly.

    Sent as ``Values``/``Counts`` so CloudWatch can compute percentiles.

    Raises:
        InvalidMetricError: value, count or timestamp out of range (see the ``check_*``
            functions); nothing is recorded.
    """

    key: MetricKey
    value: float
    timestamp: float
    count: float = 1.0

    def __post_init__(self) -> None:
        setter = object.__setattr__
        setter(self, "key", check_key(self.key))
        setter(self, "value", check_value(self.value))
        setter(self, "timestamp", check_timestamp(self.timestamp))
        setter(self, "count", check_count(self.count))


@dataclass(frozen=True, slots=True)
class PutStatisticSet(MetricEvent):
    """Pre-aggregated observations, merged into ``StatisticValues``.

    Raises:
        InvalidMetricError: a bad statistic set (``sample_count <= 0``, ``minimum >
            maximum``, non-finite or out-of-range numbers) or timestamp.
    """

    key: MetricKey
    sample_count: float
    sum: float
    minimum: float
    maximum: float
    timestamp: float

    def __post_init__(self) -> None:
        setter = object.__setattr__
        setter(self, "key", check_key(self.key))
        n, s, lo, hi = check_statistics(self.sample_count, self.sum, self.minimum, self.maximum)
        setter(self, "sample_count", n)
        setter(self, "sum", s)
        setter(self, "minimum", lo)
        setter(self, "maximum", hi)
        setter(self, "timestamp", check_timestamp(self.timestamp))
