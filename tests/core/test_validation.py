"""One test per limit and validation rule: each raises a clear error and changes nothing."""

from __future__ import annotations

import math

import pytest

from cwmetrics_core import (
    CoreConfig,
    CoreStateError,
    InvalidConfigError,
    InvalidMetricError,
    Limits,
    MetricKey,
    MetricTypeError,
    PutStatisticSet,
    PutValue,
    RetryPolicy,
    Unit,
)

from .conftest import T0, make_core


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"name": ""}, "MetricName", "outside 1..255"),
        ({"name": "x" * 256}, "MetricName", "outside 1..255"),
        ({"name": "   "}, "MetricName", "non-whitespace"),
        ({"name": "a\nb"}, "MetricName", "control"),
        ({"namespace": ""}, "Namespace", "outside 1..255"),
        ({"namespace": "n" * 256}, "Namespace", "outside 1..255"),
        ({"namespace": "AWS/EC2"}, "Namespace", "reserved"),
        ({"namespace": ":x"}, "Namespace", "':'"),
        ({"namespace": "caf\u00e9"}, "Namespace", "ASCII"),
        ({"dimensions": {f"d{i}": "v" for i in range(31)}}, "Dimensions", "at most 30"),
        ({"dimensions": {"": "v"}}, "Dimensions[0].Name", "outside 1..255"),
        ({"dimensions": {"n" * 256: "v"}}, "Dimensions[0].Name", "outside 1..255"),
        ({"dimensions": {"d": ""}}, "Dimensions[d].Value", "outside 1..1024"),
        ({"dimensions": {"d": "v" * 1025}}, "Dimensions[d].Value", "outside 1..1024"),
        ({"dimensions": {"d": "\u00e9"}}, "Dimensions[d].Value", "ASCII"),
        ({"dimensions": [("d", "1"), ("d", "2")]}, "Dimensions[1].Name", "duplicate"),
        ({"unit": "Miliseconds"}, "Unit", "unknown unit"),
        ({"storage_resolution": 5}, "StorageResolution", "1 or 60"),
    ],
)
def test_metric_key_rejects(kwargs: dict[str, object], field: str, fragment: str) -> None:
    args: dict[str, object] = {"namespace": "App", "name": "m", "dimensions": {}}
    args.update(kwargs)
    with pytest.raises(InvalidMetricError) as info:
        MetricKey(**args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": 5}, "MetricName"),
        ({"dimensions": {"d": 5}}, "Dimensions[d].Value"),
        ({"dimensions": "d=v"}, "Dimensions"),
        ({"unit": 3}, "Unit"),
    ],
)
def test_metric_key_type_errors(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"namespace": "App", "name": "m"}
    args.update(kwargs)
    with pytest.raises(MetricTypeError) as info:
        MetricKey(**args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert isinstance(info.value, TypeError)


def test_thirty_dimensions_and_limits_at_the_edge_are_accepted() -> None:
    key = MetricKey(
        "n" * 255,
        "m" * 255,
        {f"{i:02d}" + "d" * 253: "v" * 1024 for i in range(30)},
        unit="count/second",
        storage_resolution=1,
    )
    assert len(key.dimensions) == 30
    assert key.unit is Unit.COUNT_PER_SECOND


def test_dimension_order_never_creates_a_new_series() -> None:
    a = MetricKey("App", "m", {"a": "1", "b": "2"})
    b = MetricKey("App", "m", [("b", "2"), ("a", "1")])
    assert a == b and hash(a) == hash(b)
    assert a.dimensions == (("a", "1"), ("b", "2"))


def test_metric_key_is_immutable() -> None:
    key = MetricKey("App", "m")
    with pytest.raises(AttributeError):
        key.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (math.nan, "NaN"),
        (math.inf, "NaN and infinity"),
        (-math.inf, "NaN and infinity"),
        (2.0**361, "above 2\\*\\*360"),
        (-(2.0**361), "above 2\\*\\*360"),
        (2.0**-361, "below 2\\*\\*-360"),
        (10**200, "above 2\\*\\*360"),
    ],
)
def test_values_out_of_range(value: float, fragment: str) -> None:
    core = make_core()
    key = MetricKey("App", "m")
    with pytest.raises(InvalidMetricError, match=fragment) as info:
        core.record_value(key, value, T0)
    assert info.value.field == "Value"
    with pytest.raises(InvalidMetricError, match=fragment):
        PutValue(key, value, T0)
    assert core.stats.recorded_samples == 0


def test_value_range_edges_accepted() -> None:
    core = make_core()
    key = MetricKey("App", "m")
    for v in (2.0**360, -(2.0**360), 2.0**-360, 0.0, -0.0, 5):
        core.record_value(key, v, T0)
    assert core.stats.recorded_samples == 6


@pytest.mark.parametrize("value", ["1", None, True, b"1", [1]])
def test_value_types(value: object) -> None:
    core = make_core()
    with pytest.raises(MetricTypeError):
        core.record_value(MetricKey("App", "m"), value, T0)  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [0, -1, math.nan, math.inf, "2"])
def test_bad_counts(count: object) -> None:
    core = make_core()
    with pytest.raises(InvalidMetricError, match="Count"):
        core.record_value(MetricKey("App", "m"), 1.0, T0, count)  # type: ignore[arg-type]
    assert core.stats.recorded_samples == 0


@pytest.mark.parametrize("ts", [0, -5, math.nan, math.inf, 1.79e12, "now"])
def test_bad_timestamps(ts: object) -> None:
    core = make_core()
    with pytest.raises(InvalidMetricError, match="Timestamp"):
        core.record_value(MetricKey("App", "m"), 1.0, ts)  # type: ignore[arg-type]
    assert core.stats.recorded_samples == 0


@pytest.mark.parametrize(
    ("stats", "fragment"),
    [
        ((0, 1, 1, 1), "SampleCount"),
        ((-2, 1, 1, 1), "SampleCount"),
        ((2, 1, 3, 1), "greater than StatisticValues.Maximum"),
        ((2, math.nan, 1, 1), "StatisticValues.Sum"),
        ((2, 1, -math.inf, 1), "StatisticValues.Minimum"),
        ((2, 1, 1, 2.0**400), "StatisticValues.Maximum"),
    ],
)
def test_bad_statistic_sets(stats: tuple[float, float, float, float], fragment: str) -> None:
    core = make_core()
    key = MetricKey("App", "m")
    with pytest.raises(InvalidMetricError, match=fragment):
        core.record_statistics(key, *stats, timestamp=T0)
    with pytest.raises(InvalidMetricError, match=fragment):
        PutStatisticSet(key, *stats, timestamp=T0)
    assert core.stats.recorded_samples == 0


def test_rejected_call_changes_nothing(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.0, T0)
    before = core.stats
    for bad in (math.nan, "x", 2.0**400):
        with pytest.raises(InvalidMetricError):
            core.record_value(key, bad, T0)  # type: ignore[arg-type]
    assert core.stats == before
    core.flush(T0)
    batch = core.next_batch(T0)
    assert batch is not None
    assert batch.request.params["MetricData"][0]["Values"] == [1.0]


def test_record_after_close_raises_and_changes_nothing(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.0, T0)
    core.close(T0)
    before = core.stats
    with pytest.raises(CoreStateError):
        core.record_value(key, 2.0, T0)
    with pytest.raises(CoreStateError):
        core.record(PutStatisticSet(key, 1, 1, 1, 1, T0))
    assert core.stats == before


def test_record_rejects_unknown_events() -> None:
    with pytest.raises(MetricTypeError):
        make_core().record("value")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"flush_interval": 0},
        {"flush_interval": math.inf},
        {"max_buffered_datums": 0},
        {"wire_format": "xml"},
        {"quantization": 0.7},
        {"quantization": -0.1},
        {"max_timestamp_age": 0},
    ],
)
def test_bad_config(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidConfigError):
        CoreConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"max_datums_per_request": 0}, {"max_values_per_datum": 0}, {"max_request_bytes": 1.5}],
)
def test_bad_limits(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidConfigError):
        Limits(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"jitter": 2}, {"multiplier": 0.5}, {"base_delay": -1}])
def test_bad_retry_policy(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidConfigError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_error_message_truncates_huge_values() -> None:
    with pytest.raises(InvalidMetricError) as info:
        MetricKey("App", "x" * 5000)
    assert len(str(info.value)) < 200


def test_limits_table_matches_the_hot_path() -> None:
    """The recording path (the store's enqueue_*, behind record_value) inlines the bounds
    as literals for speed; they must equal the table."""
    import inspect

    from cwmetrics_core._aggregate import AggregationStore
    from cwmetrics_core._limits import MAX_EPOCH_SECONDS, MAX_VALUE, MIN_NONZERO_VALUE

    source = inspect.getsource(AggregationStore.enqueue_value) + inspect.getsource(
        AggregationStore.enqueue_statistic
    )
    assert MAX_VALUE == 2.0**360 and "2.0**360" in source
    assert MIN_NONZERO_VALUE == 2.0**-360 and "2.0**-360" in source
    assert MAX_EPOCH_SECONDS == 1e11 and "< 1e11" in source
