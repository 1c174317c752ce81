"""OtlpSink: the OTLP data model, packing under OTLP's limits, percentile error bound."""

from __future__ import annotations

import math
import random

import pytest

from cwmetrics_core import (
    CoreConfig,
    InvalidConfigError,
    MetricKey,
    MetricsCore,
    OtlpRequest,
    OtlpSink,
    PutStatisticSet,
    PutValue,
    SendOutcome,
    exponential_histogram,
)
from cwmetrics_core._otlp import ucum_unit

T0 = 1_700_000_040.0


def otlp_core(**config: object) -> MetricsCore:
    core = MetricsCore(CoreConfig(**config), now=T0)  # type: ignore[arg-type]
    core.set_wire_format("otlp")
    return core


def estimate(hist: object, q: float) -> float:
    """The q-quantile (nearest rank) read from the buckets at the bucket's geometric
    middle, clamped to [min, max]: what a consumer of the histogram can compute."""
    h = hist
    rank = max(1, math.ceil(q * h.count))  # type: ignore[attr-defined]
    seen = 0
    base = 2.0 ** (2.0 ** -h.scale)  # type: ignore[attr-defined]
    for i, c in enumerate(reversed(h.negative)):  # type: ignore[attr-defined]
        seen += c
        if seen >= rank:
            index = h.negative_offset + len(h.negative) - 1 - i  # type: ignore[attr-defined]
            return max(h.min, -math.sqrt(base**index * base ** (index + 1)))  # type: ignore[attr-defined]
    seen += h.zero_count  # type: ignore[attr-defined]
    if seen >= rank:
        return 0.0
    for i, c in enumerate(h.positive):  # type: ignore[attr-defined]
        seen += c
        if seen >= rank:
            index = h.positive_offset + i  # type: ignore[attr-defined]
            mid = math.sqrt(base**index * base ** (index + 1))
            return min(max(mid, h.min), h.max)  # type: ignore[attr-defined]
    raise AssertionError("rank beyond count")


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_buckets", [20, 160])
def test_percentiles_are_within_the_stated_bound(seed: int, max_buckets: int) -> None:
    rng = random.Random(seed)
    values = [rng.lognormvariate(3, 1.5) for _ in range(2000)] + [0.0] * 7
    values += [-rng.uniform(1, 50) for _ in range(50)]
    counts: dict[float, float] = {}
    for v in values:
        counts[v] = counts.get(v, 0.0) + 1
    hist = exponential_histogram(counts.items(), max_buckets)
    assert hist is not None
    assert hist.count == len(values)
    assert hist.min == min(values) and hist.max == max(values)
    assert math.isclose(hist.sum, math.fsum(values), rel_tol=1e-12)
    assert hist.zero_count == 7
    assert len(hist.positive) <= max_buckets and len(hist.negative) <= max_buckets
    assert hist.zero_count + sum(hist.positive) + sum(hist.negative) == hist.count
    bound = hist.relative_error()
    for q in (0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999):
        want = exact(values, q)
        got = estimate(hist, q)
        assert abs(got - want) <= bound * abs(want) * (1 + 1e-9), (q, want, got, bound)


def test_the_scale_is_the_finest_that_fits() -> None:
    single = exponential_histogram([(1.5, 2.0)])
    assert single is not None and single.scale == 20 and single.positive == (2,)
    hist = exponential_histogram([(1.0, 1.0), (1.5, 2.0)])
    # one scale finer would double the buckets past 160
    assert hist is not None and 80 < len(hist.positive) <= 160
    wide = exponential_histogram([(2.0**-300, 1.0), (2.0**300, 1.0)], 160)
    assert wide is not None and wide.scale < 0 and len(wide.positive) <= 160
    # powers of two are the inclusive upper bound of their bucket
    power = exponential_histogram([(4.0, 1.0)])
    assert power is not None
    low, high = power.bucket_bounds(power.positive_offset)
    assert low < 4.0 <= high * (1 + 1e-12)


def test_fractional_counts_cannot_be_sent() -> None:
    assert exponential_histogram([(1.0, 0.5)]) is None


def test_values_become_one_histogram_point_per_series_and_period() -> None:
    core = otlp_core()
    key = MetricKey("App", "Latency", {"Op": "get"}, "Milliseconds")
    for i in range(1000):  # 1000 distinct values: the store splits them into 7 datums
        core.record(PutValue(key, 1.0 + i, T0))
    core.record(PutStatisticSet(MetricKey("App", "Size", unit="Bytes"), 4, 10, 1, 4, T0))
    core.flush(T0)
    batch = core.next_batch(T0)
    assert batch is not None
    request = batch.request
    assert isinstance(request, OtlpRequest) and request.body == b""
    assert len(request) == 8
    latency, size = request.points
    assert latency.entries == 7 and latency.histogram is not None
    assert latency.histogram.count == 1000
    assert (latency.histogram.min, latency.histogram.max) == (1.0, 1000.0)
    assert latency.start == T0 and latency.end == T0 + 60
    assert size.statistics == (4, 10.0, 1.0, 4.0) and size.histogram is None
    core.ack(batch, T0)
    assert core.stats.sent_samples == 1004


def test_request_limits_are_otlps() -> None:
    core = otlp_core()
    for i in range(2500):
        core.record(PutValue(MetricKey("App", f"m{i}"), 1.0, T0))
    core.flush(T0)
    sizes = []
    while (batch := core.next_batch(T0)) is not None:
        sizes.append(len(batch.request.points))  # type: ignore[attr-defined]
        assert batch.request.size_bound <= 1_000_000  # type: ignore[attr-defined]
        core.ack(batch, T0)
    assert sizes == [1000, 1000, 500]


@pytest.mark.parametrize("max_bytes", [1_000_000, 40_000])
def test_a_split_series_is_never_cut_between_requests(max_bytes: int) -> None:
    from cwmetrics_core import Limits

    core = otlp_core(limits=Limits(max_request_bytes=max_bytes))
    big = MetricKey("App", "zz-big")
    for i in range(999):
        core.record(PutValue(MetricKey("App", f"m{i:04}"), 1.0, T0))
        if i == 400:
            for j in range(400):  # three datums of one series and period
                core.record(PutValue(big, float(j + 1), T0))
    core.flush(T0)
    found = []
    while (batch := core.next_batch(T0)) is not None:
        found += [p.histogram.count for p in batch.request.points if p.key == big]  # type: ignore[attr-defined]
        assert batch.request.size_bound <= max_bytes  # type: ignore[attr-defined]
        core.ack(batch, T0)
    assert found == [400]
    assert core.stats.sent_samples == 1399


def test_fractional_counts_and_old_data_are_dropped_and_counted() -> None:
    core = otlp_core()
    core.record(PutValue(MetricKey("App", "half"), 1.0, T0, count=0.5))
    core.record(PutValue(MetricKey("App", "ok"), 1.0, T0))
    core.flush(T0)
    batch = core.next_batch(T0)
    assert batch is not None and len(batch.request) == 1
    core.ack(batch, T0)
    stats = core.stats
    assert stats.dropped_invalid == 0.5 and stats.sent_samples == 1


def test_partial_success_and_retry_after_are_accounted() -> None:
    core = otlp_core()
    for i in range(4):
        core.record(PutValue(MetricKey("App", f"m{i}"), 1.0, T0))
    core.flush(T0)
    batch = core.next_batch(T0)
    assert batch is not None
    core.failed(batch, T0, SendOutcome(ok=False, http_status=429, retry_after=30.0))
    deadline = core.next_deadline()
    assert deadline is not None and deadline >= T0 + 30.0
    batch = core.next_batch(T0 + 30.0)
    assert batch is not None
    core.ack(batch, T0 + 30.0, rejected_samples=1.0)
    stats = core.stats
    assert (stats.sent_samples, stats.dropped_rejected) == (3.0, 1.0)
    assert stats.recorded_samples == stats.sent_samples + stats.dropped_samples


def test_units_are_cloudwatchs_ucum_names() -> None:
    from cwmetrics_core import Unit

    assert ucum_unit(Unit.MILLISECONDS) == "ms"
    assert ucum_unit(Unit.NONE) == "1"
    assert ucum_unit(Unit.BYTES_PER_SECOND) == "By/s"
    assert ucum_unit(Unit.COUNT_PER_SECOND) == "{Count}/s"


@pytest.mark.parametrize("bad", [0, 16385, 1.5, "160"])
def test_bad_bucket_counts_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidConfigError, match="max_buckets"):
        OtlpSink(max_buckets=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_bytes", [400, 600, 1000, 3000])
def test_counts_stay_exact_when_a_point_is_cut_by_a_tiny_size_limit(max_bytes: int) -> None:
    """Only a point alone over the size limit is cut into several; no value is counted
    twice or lost (the merge that did not fit is undone)."""
    from cwmetrics_core import Limits

    core = otlp_core(limits=Limits(max_request_bytes=max_bytes))
    key = MetricKey("App", "spread")
    rng = random.Random(7)
    values = [rng.lognormvariate(0, 4) for _ in range(900)]
    for v in values:
        core.record(PutValue(key, v, T0))
    core.flush(T0)
    count = 0
    total = 0.0
    while (batch := core.next_batch(T0)) is not None:
        for point in batch.request.points:  # type: ignore[attr-defined]
            count += point.histogram.count
            total += point.histogram.sum
        assert batch.request.size_bound <= max_bytes  # type: ignore[attr-defined]
        core.ack(batch, T0)
    stats = core.stats
    # what was sent is what the points carry; a point alone over the limit is dropped
    # and counted, never sent twice
    assert count == stats.sent_samples
    assert stats.sent_samples + stats.dropped_invalid == 900
    if stats.dropped_invalid == 0:
        assert math.isclose(total, math.fsum(values), rel_tol=1e-12)
