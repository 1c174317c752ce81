"""Accumulating never leaves CloudWatch's value range: a statistic set whose Sum or
SampleCount would pass 2**360 is closed and a second one starts for the same period; a
value whose Count would pass 2**360 is sent as a datum of its own. Every sample is
delivered and every datum is within limits."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from cwmetrics_core import MetricDatum, MetricKey, MetricsCore

from .conftest import T0, make_core

LIMIT = 2.0**360
KEY = MetricKey("App", "big")


def _drain(core: MetricsCore) -> list[MetricDatum]:
    core.flush(T0)
    datums: list[MetricDatum] = []
    while (batch := core.next_batch(T0)) is not None:
        json.loads(batch.request.body)  # encodable as sent
        datums.extend(batch.request.datums)
        core.ack(batch, T0)
    return datums


def _within_limits(datum: MetricDatum) -> bool:
    numbers = list(datum.statistics or ()) + list(datum.values or ()) + list(datum.counts or ())
    return all(math.isfinite(x) and -LIMIT <= x <= LIMIT for x in numbers)


def test_put_statistic_past_2_to_the_360_starts_a_second_set() -> None:
    core = make_core()
    for _ in range(5):
        core.record_statistic_value(KEY, LIMIT, T0 + 1)  # never raises
    datums = _drain(core)
    assert all(_within_limits(d) for d in datums)
    assert [d.statistics for d in datums] == [(1.0, LIMIT, LIMIT, LIMIT)] * 5
    assert {(d.key, d.timestamp) for d in datums} == {(KEY, T0)}  # same series and period
    stats = core.stats
    assert stats.sent_samples == stats.recorded_samples == 5


def test_sets_are_merged_up_to_the_limit_then_split() -> None:
    core = make_core()
    half = 2.0**359
    for _ in range(3):  # 2**359 + 2**359 == 2**360 fits; the third does not
        core.record_statistics(KEY, 1.0, half, half, half, T0)
    core.record_statistics(KEY, 1.0, -half, -half, -half, T0)
    datums = _drain(core)
    assert sorted(d.statistics for d in datums if d.statistics) == [  # type: ignore[type-var]
        (2.0, 0.0, -half, half),
        (2.0, LIMIT, half, half),
    ]


def test_sample_count_past_2_to_the_360_starts_a_second_set() -> None:
    core = make_core()
    core.record_statistics(KEY, LIMIT, 1.0, 1.0, 1.0, T0)
    core.record_statistics(KEY, LIMIT, 1.0, 1.0, 1.0, T0)
    datums = _drain(core)
    assert [d.statistics for d in datums] == [(LIMIT, 1.0, 1.0, 1.0)] * 2


def test_a_count_past_2_to_the_360_becomes_a_datum_of_its_own() -> None:
    core = make_core()
    core.record_value(KEY, 7.0, T0, LIMIT)
    core.record_value(KEY, 3.0, T0)
    core.record_value(KEY, 7.0, T0, LIMIT)
    datums = _drain(core)
    assert all(_within_limits(d) for d in datums)
    pairs = sorted(
        (v, c)
        for d in datums
        for v, c in zip(d.values or (), d.counts or [1.0] * len(d.values or ()), strict=True)
    )
    assert pairs == [(3.0, 1.0), (7.0, LIMIT), (7.0, LIMIT)]
    assert core.stats.sent_samples == core.stats.recorded_samples


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["value", "statistic", "set"]),
            st.sampled_from([LIMIT, -LIMIT, 2.0**359, 2.0**300, 1.0, 0.0]),
            st.sampled_from([1.0, 2.0**359, LIMIT]),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_every_sample_is_delivered_and_every_datum_is_within_limits(
    events: list[tuple[str, float, float]],
) -> None:
    core = make_core()
    expected_samples = 0.0
    for kind, value, count in events:
        if kind == "value":
            core.record_value(KEY, value, T0, count)
            expected_samples += count
        elif kind == "statistic":
            core.record_statistic_value(KEY, value, T0)
            expected_samples += 1.0
        else:
            core.record_statistics(KEY, count, value, value, value, T0)
            expected_samples += count
    datums = _drain(core)
    assert all(_within_limits(d) for d in datums)
    delivered = math.fsum(d.samples for d in datums)
    assert math.isclose(delivered, expected_samples, rel_tol=1e-12)
    stats = core.stats
    assert stats.dropped_samples == 0 and stats.buffered_samples == 0
