"""Property tests: random event streams and random send outcomes never break a limit,
never lose and never duplicate a value."""

from __future__ import annotations

import json
import random
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cwmetrics_core import (
    ABANDONED,
    CoreConfig,
    Limits,
    MetricDatum,
    MetricKey,
    MetricsCore,
    RetryPolicy,
    SendOutcome,
    WireFormat,
)
from cwmetrics_core._wire import PUT_METRIC_DATA_FORMATS

from .conftest import T0

KEYS = [
    MetricKey(ns, name, dims, unit, res)
    for ns in ("A", "B")
    for name, dims, unit, res in [
        ("lat", {"op": "get"}, "Milliseconds", 60),
        ("lat", {"op": "put", "host": "h" * 40}, "Milliseconds", 1),
        ("size", {}, "Bytes", 60),
    ]
]

OUTCOMES = [
    SendOutcome(ok=True, http_status=200),
    SendOutcome(ok=False, http_status=400, error_code="Throttling"),
    SendOutcome(ok=False, http_status=503, error_code="ServiceUnavailable"),
    SendOutcome(ok=False, error_code="NetworkError"),
    ABANDONED,
    SendOutcome(ok=False, http_status=400, error_code="InvalidParameterValue"),
]

def _not_tiny(v: float) -> bool:
    return v == 0 or abs(v) > 1e-100


events = st.lists(
    st.tuples(
        st.integers(0, len(KEYS) - 1),
        st.one_of(
            st.integers(-50, 50).map(float),
            st.floats(-1e6, 1e6, allow_nan=False).filter(_not_tiny),
        ),
        st.floats(0, 300),  # seconds after T0
        st.sampled_from([1.0, 2.0, 0.5]),
        st.booleans(),  # statistic set instead of a value
    ),
    max_size=300,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=events,
    outcome_weights=st.lists(st.integers(0, 5), min_size=6, max_size=6),
    fmt=st.sampled_from(PUT_METRIC_DATA_FORMATS),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_limit_broken_nothing_lost_or_duplicated(
    events: list[tuple[int, float, float, float, bool]],
    outcome_weights: list[int],
    fmt: WireFormat,
    seed: int,
) -> None:
    rng = random.Random(seed)
    limits = Limits(max_datums_per_request=7, max_values_per_datum=3, max_request_bytes=3000)
    core = MetricsCore(
        CoreConfig(
            flush_interval=30,
            limits=limits,
            wire_format=fmt,
            retry=RetryPolicy(rng=rng.random, max_delay=5),
        ),
        now=T0,
    )
    recorded: Counter[tuple[object, ...]] = Counter()
    stat_recorded: Counter[tuple[object, ...]] = Counter()
    delivered: Counter[tuple[object, ...]] = Counter()
    stat_delivered: Counter[tuple[object, ...]] = Counter()
    weights = [w + (10 if i == 0 else 0) for i, w in enumerate(outcome_weights)]
    now = T0

    def account(datums: tuple[MetricDatum, ...], into: str) -> None:
        for d in datums:
            if d.statistics is not None:
                stat_delivered[(d.key, d.timestamp, into)] += d.statistics[0]
                continue
            values = d.values or ()
            counts = d.counts or (1.0,) * len(values)
            for v, c in zip(values, counts, strict=True):
                delivered[(d.key, d.timestamp, v, into)] += c

    def pump(now: float) -> None:
        for _ in range(200):
            batch = core.next_batch(now)
            if batch is None:
                return
            req = batch.request
            assert len(req.datums) <= limits.max_datums_per_request
            assert len(req.body) <= limits.max_request_bytes
            assert len({d.key.namespace for d in req.datums}) == 1
            for d in req.datums:
                assert d.values is None or len(d.values) <= limits.max_values_per_datum
            if fmt is not WireFormat.QUERY:
                doc = json.loads(req.body)
                assert len(doc["MetricData"]) == len(req.datums)
            outcome = rng.choices(OUTCOMES, weights)[0]
            if outcome.ok:
                core.ack(batch, now)
                account(req.datums, "sent")
            else:
                action = core.failed(batch, now, outcome)
                account(action.dropped, "dropped")

    for i, (k, value, offset, count, as_stat) in enumerate(events):
        key = KEYS[k]
        ts = T0 + offset
        period = ts - ts % key.storage_resolution
        if as_stat:
            core.record_statistics(key, count, value * count, value, value, ts)
            stat_recorded[(key, period)] += count
        else:
            core.record_value(key, value, ts, count)
            recorded[(key, period, value)] += count
        if i % 17 == 0:
            now += rng.uniform(0, 20)
            pump(now)
    core.close(now)
    for _ in range(500):
        deadline = core.next_deadline()
        if deadline is None:
            break
        now = max(now, deadline)
        pump(now)
    stats = core.stats
    assert stats.in_flight_batches == 0
    assert stats.buffered_samples == 0 and stats.buffered_datums == 0
    merged: Counter[tuple[object, ...]] = Counter()
    for (key, period, value, _), c in delivered.items():
        merged[(key, period, value)] += c
    assert merged == recorded
    stat_merged: Counter[tuple[object, ...]] = Counter()
    for (key, period, _), c in stat_delivered.items():
        stat_merged[(key, period)] += c
    assert stat_merged == stat_recorded
    dropped = sum(c for k, c in delivered.items() if k[-1] == "dropped") + sum(
        c for k, c in stat_delivered.items() if k[-1] == "dropped"
    )
    assert stats.dropped_invalid == dropped
    assert stats.recorded_samples == stats.sent_samples + stats.dropped_samples
