"""Which numbers the core accepts, with one verdict per input wherever it is checked.

Accepted: every ``numbers.Real`` (int, float, Fraction, numpy integer and floating scalars)
and ``decimal.Decimal``. Rejected: ``bool`` and ``numpy.bool_`` (a type error), and any
magnitude CloudWatch refuses, judged on the number as given (``10**400`` is too large, not
``inf``).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from cwmetrics_core import (
    InvalidMetricError,
    MetricKey,
    MetricTypeError,
    PutStatisticSet,
    PutValue,
    check_count,
    check_storage_resolution,
    check_value,
)

from .conftest import T0, make_core

KEY = MetricKey("App", "m")

SIXTY = [60, 60.0, Fraction(60), Decimal(60), np.int64(60), np.int32(60), np.float64(60.0)]
ONE = [1, 1.0, Fraction(1), Decimal(1), np.int64(1), np.uint8(1), np.float32(1.0)]
FIVE_AND_A_HALF = [5.5, Fraction(11, 2), Decimal("5.5"), np.float64(5.5), np.float32(5.5)]
BOOLS = [True, False, np.bool_(True), np.bool_(False)]
TOO_LARGE = [10**400, -(10**400), Decimal("1e400"), Fraction(10**400), 2**361, -(2**361)]


def _stat_fields(field: str, v: object) -> dict[str, object]:
    stats: dict[str, object] = {"sample_count": 1.0, "sum": 1.0, "minimum": 1.0, "maximum": 1.0}
    stats[field] = v
    if field == "minimum":  # keep Minimum <= Maximum where the value is valid
        stats["maximum"] = 2.0**360
    return stats


# Every place a number enters the core, as (name, call) pairs.
ENTRY_POINTS: list[tuple[str, str, Callable[[object], object]]] = [
    ("Value", "PutValue.value", lambda v: PutValue(KEY, v, T0)),  # type: ignore[arg-type]
    ("Count", "PutValue.count", lambda v: PutValue(KEY, 1.0, T0, v)),  # type: ignore[arg-type]
    ("Value", "record_value", lambda v: make_core().record_value(KEY, v, T0)),  # type: ignore[arg-type]
    (
        "Count",
        "record_value count",
        lambda v: make_core().record_value(KEY, 1.0, T0, v),  # type: ignore[arg-type]
    ),
    (
        "Value",
        "record_statistic_value",
        lambda v: make_core().record_statistic_value(KEY, v, T0),  # type: ignore[arg-type]
    ),
    (
        "StatisticValues.SampleCount",
        "record_statistics n",
        lambda v: make_core().record_statistics(KEY, v, 1.0, 1.0, 1.0, T0),  # type: ignore[arg-type]
    ),
    (
        "StatisticValues.Sum",
        "record_statistics sum",
        lambda v: make_core().record_statistics(KEY, 1.0, v, 1.0, 1.0, T0),  # type: ignore[arg-type]
    ),
    (
        "StatisticValues.Maximum",
        "PutStatisticSet.maximum",
        lambda v: PutStatisticSet(KEY, timestamp=T0, **_stat_fields("maximum", v)),  # type: ignore[arg-type]
    ),
]


@pytest.mark.parametrize("number", [*FIVE_AND_A_HALF, 5, np.int64(5), Decimal(5)])
def test_every_real_number_type_is_accepted_as_a_value(number: object) -> None:
    core = make_core()
    core.record_value(KEY, number, T0)  # type: ignore[arg-type]
    core.record_value(KEY, 1.0, T0, number)  # type: ignore[arg-type]
    core.record_statistic_value(KEY, number, T0)  # type: ignore[arg-type]
    core.record_statistics(KEY, number, number, number, number, T0)  # type: ignore[arg-type]
    assert check_value(number) == float(number)  # type: ignore[arg-type]
    assert check_count(number) == float(number)  # type: ignore[arg-type]
    event = PutValue(KEY, number, T0, number)  # type: ignore[arg-type]
    assert event.value.__class__ is float and event.count.__class__ is float


@pytest.mark.parametrize("resolution", SIXTY + ONE)
def test_every_real_number_equal_to_1_or_60_is_a_storage_resolution(resolution: object) -> None:
    key = MetricKey("App", "m", storage_resolution=resolution)  # type: ignore[arg-type]
    assert key.storage_resolution.__class__ is int
    assert key.storage_resolution == resolution
    assert key == MetricKey("App", "m", storage_resolution=int(resolution))  # type: ignore[call-overload]
    assert check_storage_resolution(resolution) == key.storage_resolution


@pytest.mark.parametrize("flag", BOOLS)
@pytest.mark.parametrize(("field", "where", "call"), ENTRY_POINTS)
def test_bool_is_rejected_everywhere(
    flag: object, field: str, where: str, call: Callable[[object], object]
) -> None:
    with pytest.raises(MetricTypeError) as info:
        call(flag)
    assert info.value.field == field, where
    assert "not bool" in str(info.value)


@pytest.mark.parametrize("flag", BOOLS)
def test_bool_is_rejected_as_a_timestamp_and_a_storage_resolution(flag: object) -> None:
    with pytest.raises(MetricTypeError) as info:
        make_core().record_value(KEY, 1.0, flag)  # type: ignore[arg-type]
    assert info.value.field == "Timestamp"
    with pytest.raises(MetricTypeError) as info:
        MetricKey("App", "m", storage_resolution=flag)  # type: ignore[arg-type]
    assert info.value.field == "StorageResolution"


@pytest.mark.parametrize(
    ("number", "field", "where", "call"),
    [
        (number, *entry)
        for number in TOO_LARGE
        for entry in ENTRY_POINTS
        # a negative count is refused for its sign, whatever its size
        if number > 0 or entry[0] not in ("Count", "StatisticValues.SampleCount")
    ],
)
def test_too_large_is_reported_as_too_large_not_as_infinity(
    number: object, field: str, where: str, call: Callable[[object], object]
) -> None:
    with pytest.raises(InvalidMetricError) as info:
        call(number)
    error = info.value
    assert error.field == field, where
    assert error.value == number  # the caller's number, not float()'s inf
    assert "2**360" in error.reason
    assert "infinity" not in str(error)


@pytest.mark.parametrize(
    "number", [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity"), Decimal("sNaN")]
)
def test_nan_and_infinity_are_named_as_such(number: object) -> None:
    for _field, where, call in ENTRY_POINTS:
        with pytest.raises(InvalidMetricError) as info:
            call(number)
        assert "NaN" in str(info.value) or "finite" in str(info.value), where


@pytest.mark.parametrize("number", [Fraction(1, 10**400), Decimal("1e-400"), 2.0**-361])
def test_a_non_zero_value_below_2_to_the_minus_360_is_too_small(number: object) -> None:
    with pytest.raises(InvalidMetricError, match=r"below 2\*\*-360"):
        check_value(number)
    with pytest.raises(InvalidMetricError, match=r"below 2\*\*-360"):
        make_core().record_value(KEY, number, T0)  # type: ignore[arg-type]


@pytest.mark.parametrize("resolution", [5, 60.5, Decimal("0.5"), np.int64(30), float("nan")])
def test_other_resolutions_are_refused(resolution: object) -> None:
    with pytest.raises(InvalidMetricError, match="1 or 60"):
        MetricKey("App", "m", storage_resolution=resolution)  # type: ignore[arg-type]


@pytest.mark.parametrize("resolution", ["60", None, b"60"])
def test_a_resolution_that_is_no_number_is_a_type_error(resolution: object) -> None:
    with pytest.raises(MetricTypeError):
        MetricKey("App", "m", storage_resolution=resolution)  # type: ignore[arg-type]
