"""EmfSink through MetricsCore: documents valid under the spec, totals exact, limits kept."""

from __future__ import annotations

import json
import math
import random

import pytest

from cwmetrics_core import (
    CoreConfig,
    EmfSink,
    InvalidConfigError,
    Limits,
    MetricKey,
    MetricsCore,
    WireFormat,
)
from cwmetrics_core._limits import (
    EMF_MAX_METRICS_PER_DIRECTIVE,
    EMF_MAX_VALUES_PER_METRIC,
)
from tests.transports.emf_spec import check_document, documents, totals

T0 = 1_699_999_980.0  # a minute boundary


def new_core(sink: EmfSink | None = None, **config: object) -> MetricsCore:
    core = MetricsCore(CoreConfig(**config), now=T0)  # type: ignore[arg-type]
    core.set_sink(sink if sink is not None else EmfSink(core.config.limits))
    return core


def drain(core: MetricsCore, now: float = T0) -> list[bytes]:
    core.flush(now)
    bodies = []
    while (batch := core.next_batch(now)) is not None:
        bodies.append(batch.request.body)
        core.ack(batch, now)
    return bodies


def invariant(core: MetricsCore) -> None:
    s = core.stats
    assert math.isclose(
        s.recorded_samples,
        s.sent_samples + s.dropped_samples + s.buffered_samples + s.in_flight_samples,
        abs_tol=1e-9,
    )


def test_metrics_sharing_a_dimension_set_share_one_document() -> None:
    core = new_core()
    dims = {"Op": "get", "Host": "a"}
    for name, unit in (("Latency", "Milliseconds"), ("Errors", "Count"), ("Bytes", "Bytes")):
        core.record_value(MetricKey("App", name, dims, unit), 3.0, T0 + 1)
    [body] = drain(core)
    [doc] = documents(body)
    [directive] = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["Host", "Op"]]
    assert [m["Name"] for m in directive["Metrics"]] == ["Latency", "Errors", "Bytes"]
    assert directive["Metrics"][0]["Unit"] == "Milliseconds"
    assert doc["Op"] == "get" and doc["Latency"] == 3
    invariant(core)


def test_timestamp_is_integer_milliseconds_of_the_period() -> None:
    core = new_core()
    core.record_value(MetricKey("App", "Std"), 1.0, T0 + 59.9)
    core.record_value(MetricKey("App", "Hi", storage_resolution=1), 1.0, T0 + 7.25)
    docs = documents(b"".join(drain(core)))
    by_name = {d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]: d for d in docs}
    assert by_name["Std"]["_aws"]["Timestamp"] == int(T0 * 1000)
    assert by_name["Hi"]["_aws"]["Timestamp"] == int((T0 + 7) * 1000)
    assert by_name["Hi"]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["StorageResolution"] == 1
    assert "StorageResolution" not in by_name["Std"]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]
    assert all(type(d["_aws"]["Timestamp"]) is int for d in docs)


def test_more_than_100_metrics_split_into_directives_of_100() -> None:
    core = new_core()
    for i in range(250):
        core.record_value(MetricKey("App", f"m{i}", {"Op": "x"}), float(i), T0)
    docs = documents(b"".join(drain(core)))
    sizes = [len(d["_aws"]["CloudWatchMetrics"][0]["Metrics"]) for d in docs]
    assert sizes == [100, 100, 50]
    assert max(sizes) <= EMF_MAX_METRICS_PER_DIRECTIVE


def test_values_keep_their_counts_and_arrays_stay_within_100() -> None:
    core = new_core()
    key = MetricKey("App", "Latency", {"Op": "get"}, "Milliseconds")
    rng = random.Random(7)
    expected_n, expected_sum = 0.0, 0.0
    for _ in range(5000):
        value = float(rng.randrange(400))  # many repeats and > 150 distinct values
        core.record_value(key, value, T0 + 3)
        expected_n += 1
        expected_sum += value
    docs = documents(b"".join(drain(core)))
    for doc in docs:
        value = doc["Latency"]
        assert isinstance(value, dict) and len(value["Values"]) <= EMF_MAX_VALUES_PER_METRIC
    [(series, got)] = totals(docs).items()
    assert series == ("App", "Latency", (("Op", "get"),))
    assert got["SampleCount"] == expected_n
    assert got["Sum"] == pytest.approx(expected_sum, rel=1e-12)
    assert core.stats.sent_samples == expected_n
    invariant(core)


def test_unit_counts_are_a_plain_array_or_number() -> None:
    core = new_core()
    for v in range(120):
        core.record_value(MetricKey("App", "Distinct"), float(v) + 0.5, T0)
    core.record_value(MetricKey("App", "One"), 2.0, T0)
    docs = documents(b"".join(drain(core)))
    distinct = [d["Distinct"] for d in docs if "Distinct" in d]
    assert all(isinstance(v, list) for v in distinct)
    assert sum(len(v) for v in distinct) == 120
    assert next(d["One"] for d in docs if "One" in d) == 2


def test_whole_counts_use_the_shorter_of_repetition_and_values_counts() -> None:
    core = new_core()
    for _ in range(3):
        core.record_value(MetricKey("App", "Few"), 7.0, T0)
    for _ in range(500):
        core.record_value(MetricKey("App", "Many"), 7.0, T0)
    core.record_value(MetricKey("App", "Half"), 7.0, T0, count=0.5)
    docs = documents(b"".join(drain(core)))
    few = next(d["Few"] for d in docs if "Few" in d)
    many = next(d["Many"] for d in docs if "Many" in d)
    half = next(d["Half"] for d in docs if "Half" in d)
    assert few == [7, 7, 7]
    assert many == {"Values": [7], "Counts": [500], "Max": 7, "Min": 7, "Count": 500, "Sum": 3500}
    assert half["Counts"] == [0.5] and half["Sum"] == 3.5  # a fraction is never rounded away


def test_statistic_sets_become_stat_objects() -> None:
    core = new_core()
    key = MetricKey("App", "Agg", unit="Seconds")
    core.record_statistics(key, 4, 10.0, 1.0, 4.0, T0)
    core.record_statistics(key, 2, 5.0, 0.5, 3.0, T0)
    [doc] = documents(b"".join(drain(core)))
    assert doc["Agg"] == {"Max": 4, "Min": 0.5, "Count": 6, "Sum": 15}


def test_totals_exact_per_series_over_a_mixed_workload() -> None:
    core = new_core()
    rng = random.Random(11)
    expected: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[float]] = {}
    for _ in range(5_000):
        s = rng.randrange(60)
        dims = {"Op": f"op{s % 6}", "Host": f"h{s // 6}"}
        name = ("Latency", "Size", "Hits")[s % 3]
        value = round(rng.lognormvariate(3, 0.6), 1)
        core.record_value(MetricKey("Bench", name, dims), value, T0 + rng.random() * 119)
        acc = expected.setdefault(("Bench", name, tuple(sorted(dims.items()))), [0.0, 0.0])
        acc[0] += 1
        acc[1] += value
    docs = documents(b"".join(drain(core, T0 + 200)))
    got = totals(docs)
    assert set(got) == set(expected)
    for series, (n, total) in expected.items():
        assert got[series]["SampleCount"] == n
        assert got[series]["Sum"] == pytest.approx(total, rel=1e-9)
    invariant(core)


def test_documents_respect_a_small_size_limit() -> None:
    limit = 2048
    core = new_core(EmfSink(Limits(), max_document_bytes=limit))
    for i in range(40):
        for v in range(150):
            core.record_value(MetricKey("App", f"metric_{i}", {"Op": "x"}), v * 1.1, T0)
    docs = documents(b"".join(drain(core)), max_bytes=limit)
    assert len(b"".join(drain(core))) == 0 and len(docs) * limit >= 40 * 150 * 4
    assert sum(v["SampleCount"] for v in totals(docs).values()) == 40 * 150


def test_a_value_too_large_for_any_document_is_dropped_and_counted() -> None:
    core = new_core(EmfSink(Limits(), max_document_bytes=512))
    long_dims = {f"d{i}": "v" * 40 for i in range(9)}
    core.record_value(MetricKey("App", "Wide", long_dims), 1.0, T0)
    core.record_value(MetricKey("App", "Fine"), 1.0, T0)
    docs = documents(b"".join(drain(core)), max_bytes=512)
    assert [d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for d in docs] == ["Fine"]
    assert core.stats.dropped_invalid == 1.0
    invariant(core)


def test_a_metric_named_like_its_dimension_is_dropped_and_counted() -> None:
    core = new_core()
    core.record_value(MetricKey("App", "Op", {"Op": "get"}), 1.0, T0)
    core.record_value(MetricKey("App", "_aws"), 1.0, T0)
    core.record_value(MetricKey("App", "Ok", {"Op": "get"}), 1.0, T0)
    docs = documents(b"".join(drain(core)))
    assert [d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for d in docs] == ["Ok"]
    assert core.stats.dropped_invalid == 2.0
    invariant(core)


def test_same_name_twice_in_a_period_never_shares_a_document() -> None:
    core = new_core()
    core.record_value(MetricKey("App", "X", unit="Count"), 1.0, T0)
    core.record_value(MetricKey("App", "X", unit="Seconds"), 2.0, T0)
    docs = documents(b"".join(drain(core)))
    assert len(docs) == 2  # check_document asserts a name appears once per document


def test_log_group_and_stream_for_the_agent() -> None:
    core = new_core(EmfSink(Limits(), log_group="/app/metrics", log_stream="host-1"))
    core.record_value(MetricKey("App", "X"), 1.0, T0)
    [doc] = documents(b"".join(drain(core)))
    assert doc["_aws"]["LogGroupName"] == "/app/metrics"
    assert doc["_aws"]["LogStreamName"] == "host-1"


def test_failed_batches_are_retried_whole_and_accounted() -> None:
    from cwmetrics_core import RetryPolicy, SendOutcome

    core = new_core(retry=RetryPolicy(base_delay=0.0, jitter=0.0))
    for i in range(300):
        core.record_value(MetricKey("App", f"m{i % 30}"), float(i), T0)
    core.flush(T0)
    batch = core.next_batch(T0)
    assert batch is not None
    invariant(core)
    core.failed(batch, T0, SendOutcome(ok=False, error_code="NetworkError"))
    invariant(core)
    docs = documents(b"".join(drain(core, T0 + 1)))
    assert sum(v["SampleCount"] for v in totals(docs).values()) == 300
    assert core.stats.sent_samples == 300 and core.stats.retries == 1


def test_set_sink_rejects_a_sink_splitting_datums_differently() -> None:
    core = MetricsCore(CoreConfig(), now=T0)
    with pytest.raises(InvalidConfigError, match="max_values_per_datum"):
        core.set_sink(EmfSink(Limits(max_values_per_datum=100)))
    with pytest.raises(InvalidConfigError, match="sink"):
        core.set_sink("emf")  # type: ignore[arg-type]
    assert core.wire_format is WireFormat.JSON


def test_set_wire_format_emf_binds_an_emf_sink_and_back() -> None:
    core = MetricsCore(CoreConfig(), now=T0)
    core.set_wire_format("emf")
    assert isinstance(core.sink, EmfSink) and core.wire_format is WireFormat.EMF
    core.set_wire_format("json")
    core.record_value(MetricKey("App", "X"), 1.0, T0)
    [body] = drain(core)
    assert json.loads(body)["Namespace"] == "App"  # PutMetricData again


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_document_bytes": 100}, "max_document_bytes"),
        ({"max_metrics_per_document": 101}, "max_metrics_per_document"),
        ({"max_values_per_metric": 0}, "max_values_per_metric"),
        ({"log_group": ""}, "log_group"),
    ],
)
def test_emf_sink_rejects_bad_limits(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidConfigError, match=field):
        EmfSink(**kwargs)  # type: ignore[arg-type]


def test_every_document_line_is_a_valid_document_alone() -> None:
    core = new_core()
    core.record_value(MetricKey("App", "X", {"A": "1"}), 1.5, T0)
    core.record_value(MetricKey("App", "Y", {"B": "2"}), 2.5, T0)
    body = b"".join(drain(core))
    assert body.count(b"\n") == 2
    for line in body.splitlines():
        check_document(line)
