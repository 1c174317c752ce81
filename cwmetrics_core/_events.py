"""Inbound events (small frozen value classes, validated on construction) and checks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import NoReturn

from ._errors import InvalidMetricError, MetricTypeError
from ._limits import MAX_EPOCH_SECONDS, MAX_VALUE, MIN_NONZERO_VALUE
from ._model import MetricKey

__all__ = ["MetricEvent", "PutValue", "PutStatisticSet", "check_value", "check_count",
           "check_timestamp", "check_statistics"]


def as_number(field: str, value: object) -> float:
    """Coerce an int, float or other real number (not bool, not str) to float.

    Raises:
        MetricTypeError: not a real number.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise MetricTypeError(field, value, "must be a real number (int or float)")
    try:
        return float(value)
    except OverflowError:  # e.g. 10**400: beyond float, and beyond CloudWatch's range
        return math.inf if value > 0 else -math.inf  # type: ignore[operator]


def bad_value(field: str, value: float) -> NoReturn:
    """Raise the error for a value outside CloudWatch's accepted range."""
    if math.isnan(value) or math.isinf(value):
        raise InvalidMetricError(field, value, "NaN and infinity are not accepted by CloudWatch")
    if abs(value) > MAX_VALUE:
        raise InvalidMetricError(field, value, "magnitude above 2**360, CloudWatch's maximum")
    raise InvalidMetricError(
        field, value, "non-zero magnitude below 2**-360, CloudWatch's minimum"
    )


def check_value(value: object, field: str = "Value") -> float:
    """Return ``value`` as a float CloudWatch accepts.

    Raises:
        MetricTypeError: not a real number.
        InvalidMetricError: NaN, infinite, |v| > 2**360, or 0 < |v| < 2**-360.
    """
    v = value if value.__class__ is float else as_number(field, value)
    assert isinstance(v, float)
    if not -MAX_VALUE <= v <= MAX_VALUE or (-MIN_NONZERO_VALUE < v < MIN_NONZERO_VALUE and v):
        bad_value(field, v)
    return v


def check_count(count: object, field: str = "Count") -> float:
    """Return a positive finite count as float.

    Raises:
        MetricTypeError: not a real number.
        InvalidMetricError: NaN, infinite, zero or negative, or above 2**360.
    """
    c = as_number(field, count)
    if not 0.0 < c <= MAX_VALUE:
        raise InvalidMetricError(field, count, "must be finite and > 0 (and <= 2**360)")
    return c


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
