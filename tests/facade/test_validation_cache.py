"""A verdict on an input never depends on what was recorded before.

``Metrics`` caches validated keys. ``True == 1`` and ``numpy.int64(60) == 60`` hash alike,
so a cache lookup alone would accept ``storage_resolution=True`` once the same metric was
recorded with 1. Each input here is judged on a fresh instance and again after a valid
value warmed the cache for the same metric; the verdicts (the error, or what is sent)
must be identical, through ``Metrics`` and through the seed's class-level facade.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudwatch_metrics_client import CloudWatchSyncMetricReporter, CloudWatchSyncMetrics, Metrics
from cwmetrics_core import InvalidMetricError
from cwmetrics_transports import DryRunTransport

Api = Callable[[dict[str, Any]], None]
Setup = Callable[[], tuple[dict[str, Api], DryRunTransport, CloudWatchSyncMetricReporter]]

NAME = "Latency"


def _instance() -> tuple[dict[str, Api], DryRunTransport, CloudWatchSyncMetricReporter]:
    transport = DryRunTransport()
    reporter = CloudWatchSyncMetricReporter(transport=transport)
    metrics = Metrics("App", reporter)
    apis: dict[str, Api] = {
        "put_value": lambda kw: metrics.put_value(NAME, **kw),
        "put_statistic": lambda kw: metrics.put_statistic(NAME, **kw),
    }
    return apis, transport, reporter


def _facade() -> tuple[dict[str, Api], DryRunTransport, CloudWatchSyncMetricReporter]:
    transport = DryRunTransport()
    reporter = CloudWatchSyncMetricReporter(transport=transport)
    # A new namespace starts a new key cache; the reporter is replaced as well.
    CloudWatchSyncMetrics.with_namespace("App").with_reporter(reporter)

    def put_metric(kw: dict[str, Any]) -> None:
        CloudWatchSyncMetrics.put_metric(NAME, **_boto_names(kw))

    def put_statistic(kw: dict[str, Any]) -> None:
        CloudWatchSyncMetrics.put_statistic(NAME, **_boto_names(kw))

    return {"put_value": put_metric, "put_statistic": put_statistic}, transport, reporter


def _boto_names(kw: dict[str, Any]) -> dict[str, Any]:
    names = {
        "value": "Value",
        "count": "Count",
        "unit": "Unit",
        "dimensions": "Dimensions",
        "timestamp": "Timestamp",
        "storage_resolution": "StorageResolution",
        "statistic_values": "StatisticValues",
    }
    return {names[k]: v for k, v in kw.items()}


SETUPS: dict[str, Setup] = {"Metrics": _instance, "CloudWatchSyncMetrics": _facade}

# What warms the cache: valid calls for the same metric at both storage resolutions.
WARM = [
    {"value": 1.0, "storage_resolution": 1},
    {"value": 1.0, "storage_resolution": 60},
    {"value": 1.0},
    {"value": 1.0, "unit": "Milliseconds", "dimensions": {"Op": "get"}},
]


def _verdict(setup: Setup, api: str, kwargs: dict[str, Any], *, warm: bool) -> tuple[Any, ...]:
    apis, transport, reporter = setup()
    if warm:
        for valid in WARM:
            apis[api](valid)
        assert reporter.flush(timeout=10)
        transport.requests.clear()
    try:
        apis[api](kwargs)
    except InvalidMetricError as exc:  # MetricTypeError included
        return ("raised", type(exc).__name__, exc.field, str(exc))
    assert reporter.flush(timeout=10)
    sent = [
        (d.get("StorageResolution", 60), d.get("Values"), d.get("Counts"), d.get("StatisticValues"))
        for d in transport.datums()
    ]
    return ("accepted", sent)


def _assert_same_verdict(api: str, kwargs: dict[str, Any]) -> tuple[Any, ...]:
    verdicts = {
        (where, warm): _verdict(setup, api, kwargs, warm=warm)
        for where, setup in SETUPS.items()
        for warm in (False, True)
    }
    first = next(iter(verdicts.values()))
    assert all(v == first for v in verdicts.values()), verdicts
    return first


BAD: list[tuple[str, dict[str, Any], str]] = [
    # (api, arguments, field named by the error)
    ("put_value", {"value": 1.0, "storage_resolution": True}, "StorageResolution"),
    ("put_value", {"value": 1.0, "storage_resolution": np.bool_(True)}, "StorageResolution"),
    ("put_value", {"value": 1.0, "storage_resolution": False}, "StorageResolution"),
    ("put_value", {"value": 1.0, "storage_resolution": 5}, "StorageResolution"),
    ("put_value", {"value": 1.0, "storage_resolution": "60"}, "StorageResolution"),
    ("put_value", {"value": 1.0, "storage_resolution": 60.5}, "StorageResolution"),
    ("put_value", {"value": True}, "Value"),
    ("put_value", {"value": np.bool_(False)}, "Value"),
    ("put_value", {"value": 10**400}, "Value"),
    ("put_value", {"value": -Decimal("1e400")}, "Value"),
    ("put_value", {"value": float("nan")}, "Value"),
    ("put_value", {"value": "1"}, "Value"),
    ("put_value", {"value": 1.0, "count": True}, "Count"),
    ("put_value", {"value": 1.0, "count": 10**400}, "Count"),
    ("put_value", {"value": 1.0, "count": 0}, "Count"),
    ("put_value", {"value": 1.0, "timestamp": True}, "Timestamp"),
    ("put_value", {"value": 1.0, "unit": "Miliseconds"}, "Unit"),
    ("put_value", {"value": 1.0, "dimensions": {"Op": 1}}, "Dimensions[Op].Value"),
    ("put_value", {"value": 1.0, "dimensions": {"Op": True}}, "Dimensions[Op].Value"),
    ("put_statistic", {"value": 1.0, "storage_resolution": True}, "StorageResolution"),
    ("put_statistic", {"value": True}, "Value"),
    ("put_statistic", {"value": 10**400}, "Value"),
    (
        "put_statistic",
        {"statistic_values": {"SampleCount": True, "Sum": 1, "Minimum": 1, "Maximum": 1}},
        "StatisticValues.SampleCount",
    ),
    (
        "put_statistic",
        {"statistic_values": {"SampleCount": 1, "Sum": 10**400, "Minimum": 1, "Maximum": 1}},
        "StatisticValues.Sum",
    ),
    (
        "put_statistic",
        {"statistic_values": {"SampleCount": 1, "Sum": 1, "Minimum": False, "Maximum": 1}},
        "StatisticValues.Minimum",
    ),
]

GOOD: list[tuple[str, dict[str, Any], tuple[Any, ...]]] = [
    # (api, arguments, (resolution, Values, Counts, StatisticValues) as sent)
    ("put_value", {"value": 1.0, "storage_resolution": np.int64(60)}, (60, [1.0], None, None)),
    ("put_value", {"value": 1.0, "storage_resolution": np.int64(1)}, (1, [1.0], None, None)),
    ("put_value", {"value": 1.0, "storage_resolution": 60.0}, (60, [1.0], None, None)),
    ("put_value", {"value": 1.0, "storage_resolution": Fraction(1)}, (1, [1.0], None, None)),
    ("put_value", {"value": 1.0, "storage_resolution": Decimal(60)}, (60, [1.0], None, None)),
    ("put_value", {"value": np.int64(5)}, (60, [5.0], None, None)),
    ("put_value", {"value": np.float32(1.5), "count": np.int64(2)}, (60, [1.5], [2.0], None)),
    ("put_value", {"value": Fraction(1, 4), "count": Decimal(3)}, (60, [0.25], [3.0], None)),
    (
        "put_statistic",
        {"value": Decimal("2.5"), "storage_resolution": np.int64(1)},
        (1, None, None, {"SampleCount": 1.0, "Sum": 2.5, "Minimum": 2.5, "Maximum": 2.5}),
    ),
]


@pytest.mark.parametrize(("api", "kwargs", "field"), BAD)
def test_bad_input_is_rejected_alike_on_a_fresh_and_a_warm_cache(
    api: str, kwargs: dict[str, Any], field: str
) -> None:
    verdict = _assert_same_verdict(api, kwargs)
    assert verdict[0] == "raised" and verdict[2] == field, verdict


@pytest.mark.parametrize(("api", "kwargs", "sent"), GOOD)
def test_every_real_number_is_accepted_alike_on_a_fresh_and_a_warm_cache(
    api: str, kwargs: dict[str, Any], sent: tuple[Any, ...]
) -> None:
    assert _assert_same_verdict(api, kwargs) == ("accepted", [sent])


NUMBERS = st.one_of(
    st.sampled_from([True, False, np.bool_(True), 1, 60, 5, 0, -1, 10**400, -(10**400)]),
    st.sampled_from([np.int64(60), np.int64(1), np.float64(60.0), Fraction(1), Decimal(60)]),
    st.sampled_from([float("nan"), float("inf"), 2.0**360, 2.0**361, 2.0**-361, 60.5]),
    st.integers(min_value=-(2**400), max_value=2**400),
    st.floats(allow_nan=True, allow_infinity=True),
)


@settings(max_examples=40, deadline=None)
@given(
    api=st.sampled_from(["put_value", "put_statistic"]),
    field=st.sampled_from(["value", "storage_resolution", "count"]),
    number=NUMBERS,
)
def test_any_number_gets_the_same_verdict_fresh_and_warm(api: str, field: str, number: Any) -> None:
    if api == "put_statistic" and field == "count":
        field = "value"
    kwargs: dict[str, Any] = {"value": 1.0, field: number}
    _assert_same_verdict(api, kwargs)


TIMER_BAD: list[tuple[dict[str, Any], str]] = [
    ({"unit": "Count"}, "unit"),
    ({"unit": True}, "Unit"),
    ({"dimensions": {"Op": True}}, "Dimensions[Op].Value"),
    ({"dimensions": {"Op": 1}}, "Dimensions[Op].Value"),
]


@pytest.mark.parametrize(("kwargs", "field"), TIMER_BAD)
def test_timer_arguments_are_judged_alike_on_a_fresh_and_a_warm_cache(
    kwargs: dict[str, Any], field: str
) -> None:
    def verdict(warm: bool) -> tuple[str, str, str]:
        reporter = CloudWatchSyncMetricReporter(transport=DryRunTransport())
        metrics = Metrics("App", reporter)
        if warm:
            with metrics.timer(NAME, dimensions={"Op": "get"}):
                pass
            metrics.put_value(NAME, 1.0, unit="Milliseconds", dimensions={"Op": "1"})
        with pytest.raises(InvalidMetricError) as info:
            metrics.timer(NAME, **kwargs)
        return type(info.value).__name__, info.value.field, str(info.value)

    fresh = verdict(False)
    assert fresh == verdict(True)
    assert fresh[1] == field
