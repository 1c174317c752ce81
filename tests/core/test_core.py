"""State machine behaviour: aggregation, deadlines, packing limits, retries. No I/O, no sleeps."""

from __future__ import annotations

import json

import pytest

from cwmetrics_core import (
    ABANDONED,
    Batch,
    CoreState,
    CoreStateError,
    Disposition,
    InvalidMetricError,
    Limits,
    MetricKey,
    MetricsCore,
    PutStatisticSet,
    PutValue,
    SendOutcome,
    WireFormat,
    send_flow,
)
from cwmetrics_core._wire import PUT_METRIC_DATA_FORMATS

from .conftest import T0, make_core

OK = SendOutcome(ok=True, http_status=200)
THROTTLED = SendOutcome(ok=False, http_status=400, error_code="Throttling")
UNAVAILABLE = SendOutcome(ok=False, http_status=503, error_code="ServiceUnavailable")
INVALID = SendOutcome(ok=False, http_status=400, error_code="InvalidParameterValue")
DENIED = SendOutcome(ok=False, http_status=403, error_code="AccessDenied")


def drain(core: MetricsCore, now: float) -> list[Batch]:
    sent = []
    for batch in core.batches_to_send(now):
        core.ack(batch, now)
        sent.append(batch)
    return sent


def body(batch: Batch) -> dict[str, object]:
    return json.loads(batch.request.body)  # type: ignore[no-any-return]


def test_values_keep_distinct_values_with_counts(key: MetricKey) -> None:
    core = make_core()
    for v in (1.0, 2.0, 1.0, 3.0, 1.0):
        core.record_value(key, v, T0 + 5)
    core.record(PutValue(key, 2.0, T0 + 7, count=4))
    core.flush(T0 + 10)
    (batch,) = drain(core, T0 + 10)
    datum = batch.request.params["MetricData"][0]
    assert datum["Values"] == [1.0, 2.0, 3.0]
    assert datum["Counts"] == [3.0, 5.0, 1.0]
    assert datum["Timestamp"] == T0
    assert core.stats.sent_samples == 9


def test_counts_are_omitted_when_all_ones(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.5, T0)
    core.record_value(key, 2.5, T0)
    core.flush(T0)
    (batch,) = drain(core, T0)
    assert "Counts" not in batch.request.params["MetricData"][0]
    assert b"Counts" not in batch.request.body


def test_statistic_sets_merge(key: MetricKey) -> None:
    core = make_core()
    core.record(PutStatisticSet(key, 4, 10, 1, 4, T0 + 1))
    core.record_statistics(key, 2, 30, 0.5, 20, T0 + 2)
    core.flush(T0)
    (batch,) = drain(core, T0)
    assert batch.request.params["MetricData"][0]["StatisticValues"] == {
        "SampleCount": 6.0,
        "Sum": 40.0,
        "Minimum": 0.5,
        "Maximum": 20.0,
    }


def test_data_is_bucketed_by_its_own_timestamp(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.0, T0 - 3600 + 59.9)  # an hour ago, held back by an outage
    core.record_value(key, 1.0, T0 + 0.1)
    hi = MetricKey("App", "Fast", storage_resolution=1)
    core.record_value(hi, 1.0, T0 + 1.7)
    core.flush(T0 + 2)
    (batch,) = drain(core, T0 + 2)
    stamps = sorted(d["Timestamp"] for d in batch.request.params["MetricData"])
    assert stamps == [T0 - 3600, T0, T0 + 1]


def test_deadlines_follow_the_flush_interval(key: MetricKey) -> None:
    now = T0
    core = MetricsCore(make_core().config, now=now)
    assert core.next_deadline() == T0 + 60
    core.record_value(key, 1.0, now)
    now += 30
    assert core.next_batch(now) is None
    now += 30
    batch = core.next_batch(now)
    assert batch is not None
    core.ack(batch, now)
    assert core.next_deadline() == T0 + 120


def test_a_full_request_wakes_the_driver_early() -> None:
    core = make_core()
    woke = [
        core.record_value(MetricKey("App", "m", {"i": str(i)}), 1.0, T0) for i in range(1000)
    ]
    assert woke[-1] is True and not any(woke[:-1])
    assert core.next_deadline() == T0
    batch = core.next_batch(T0 + 1)
    assert batch is not None and len(batch.request) == 1000


def test_limit_1000_datums_per_request() -> None:
    core = make_core(max_series_per_metric=None)  # one metric, 2500 series
    for i in range(2500):
        core.record_value(MetricKey("App", "m", {"i": str(i)}), 1.0, T0)
    core.flush(T0)
    sizes = [len(b.request) for b in drain(core, T0)]
    assert sizes == [1000, 1000, 500]


def test_limit_150_values_per_datum_splits_without_losing_percentiles(key: MetricKey) -> None:
    core = make_core()
    for v in range(1000):
        core.record_value(key, float(v), T0, count=2)
    core.flush(T0)
    (batch,) = drain(core, T0)
    data = batch.request.params["MetricData"]
    assert [len(d["Values"]) for d in data] == [150] * 6 + [100]
    assert sorted(v for d in data for v in d["Values"]) == [float(v) for v in range(1000)]
    assert all(d["Counts"] == [2.0] * len(d["Values"]) for d in data)


def test_limit_request_bytes_measured_exactly() -> None:
    limit = 20_000
    core = make_core(limits=Limits(max_request_bytes=limit))
    dims = {f"d{i}": "v" * 100 for i in range(10)}
    for i in range(200):
        core.record_value(MetricKey("App", f"m{i}", dims), 1.0, T0)
    core.flush(T0)
    batches = drain(core, T0)
    assert len(batches) > 1
    assert all(len(b.request.body) <= limit for b in batches)
    assert sum(len(b.request) for b in batches) == 200
    # Packing is tight: the next datum would not have fitted.
    first = batches[0].request
    assert len(first.body) + 1500 > limit


@pytest.mark.parametrize("fmt", PUT_METRIC_DATA_FORMATS)
def test_one_megabyte_holds_in_every_wire_format(fmt: WireFormat) -> None:
    core = make_core(wire_format=fmt)
    dims = {f"dim{i}": f"value-{i}-" + "x" * 50 for i in range(30)}
    for i in range(3000):
        key = MetricKey("App", f"metric-{i}", dims, "Milliseconds")
        for v in range(20):
            core.record_value(key, v * 1.1, T0)
    core.flush(T0)
    batches = drain(core, T0)
    assert all(len(b.request.body) <= 1_000_000 for b in batches)
    assert max(len(b.request.body) for b in batches) > 900_000
    assert sum(len(b.request) for b in batches) == 3000


def test_requests_never_mix_namespaces() -> None:
    core = make_core()
    for ns in ("A", "B", "A", "C"):
        core.record_value(MetricKey(ns, "m", {"n": ns}), 1.0, T0)
    core.flush(T0)
    batches = drain(core, T0)
    assert sorted(b.request.namespace for b in batches) == ["A", "B", "C"]
    for b in batches:
        assert body(b)["Namespace"] == b.request.namespace


def test_throttling_pauses_the_whole_cycle(key: MetricKey) -> None:
    core = make_core(max_series_per_metric=None)  # one metric, 3000 series
    for i in range(3000):
        core.record_value(MetricKey("App", "m", {"i": str(i)}), 1.0, T0)
    core.flush(T0)
    now = T0
    first = core.next_batch(now)
    assert first is not None
    action = core.failed(first, now, THROTTLED)
    assert action.disposition is Disposition.RETRY
    assert action.retry_at is not None and now + 1.0 <= action.retry_at <= now + 2.0
    assert core.next_batch(now) is None
    assert core.next_deadline() == action.retry_at
    retried = core.next_batch(action.retry_at)
    assert retried is not None and retried.attempt == 2
    assert retried.request.datums == first.request.datums


def test_backoff_grows_and_is_capped(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.0, T0)
    core.flush(T0)
    now, delays = T0, []
    for _ in range(12):
        batch = core.next_batch(now)
        assert batch is not None
        action = core.failed(batch, now, UNAVAILABLE)
        assert action.retry_at is not None
        delays.append(action.retry_at - now)
        now = action.retry_at
    assert delays[0] <= 1.0 and delays[3] > delays[0]
    assert max(delays) <= 60.0
    assert core.stats.buffered_samples == 1  # never dropped for attempts alone


def test_ack_resets_the_backoff(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.0, T0)
    core.flush(T0)
    now = T0
    for _ in range(5):
        batch = core.next_batch(now)
        assert batch is not None
        action = core.failed(batch, now, UNAVAILABLE)
        assert action.retry_at is not None
        now = action.retry_at
    batch = core.next_batch(now)
    assert batch is not None
    core.ack(batch, now)
    core.record_value(key, 1.0, now)
    core.flush(now)
    batch = core.next_batch(now)
    assert batch is not None
    action = core.failed(batch, now, UNAVAILABLE)
    assert action.retry_at is not None and action.retry_at - now <= 1.0


def test_invalid_batch_is_bisected_until_only_the_bad_datum_is_dropped() -> None:
    core = make_core()
    for i in range(100):
        core.record_value(MetricKey("App", "m", {"i": f"{i:03d}"}), float(i), T0)
    core.flush(T0)
    bad = ("i", "042")
    now, dropped = T0, []
    while (batch := core.next_batch(now)) is not None:
        if any(bad in d.key.dimensions for d in batch.request.datums):
            action = core.failed(batch, now, INVALID)
            assert action.disposition is Disposition.SPLIT
            dropped.extend(action.dropped)
        else:
            core.ack(batch, now)
    assert [d.key.dimensions for d in dropped] == [(bad,)]
    stats = core.stats
    assert stats.sent_samples == 99 and stats.dropped_invalid == 1
    assert stats.splits == 7  # ceil(log2(100))


def test_access_denied_drops_and_counts(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.0, T0, count=3)
    core.flush(T0)
    batch = core.next_batch(T0)
    assert batch is not None
    action = core.failed(batch, T0, DENIED)
    assert action.disposition is Disposition.DROP and len(action.dropped) == 1
    assert core.stats.dropped_rejected == 3
    assert core.next_batch(T0) is None


def test_memory_bound_drops_and_counts_overflow() -> None:
    core = make_core(max_buffered_datums=10)
    for i in range(15):
        assert core.record_value(MetricKey("App", "m", {"i": str(i)}), 1.0, T0) is False
    # an existing datum still takes values
    core.record_value(MetricKey("App", "m", {"i": "0"}), 2.0, T0)
    stats = core.stats
    assert stats.buffered_datums == 10
    assert stats.dropped_overflow == 5
    assert stats.recorded_samples == 16
    core.flush(T0)
    drain(core, T0)
    assert core.stats.sent_samples == 11


def test_expired_data_is_dropped_and_counted(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.0, T0)
    core.flush(T0)
    now = T0
    batch = core.next_batch(now)
    assert batch is not None
    core.failed(batch, now, UNAVAILABLE)
    now += 15 * 86400
    assert core.next_batch(now) is None
    assert core.stats.dropped_expired == 1
    assert core.stats.buffered_datums == 0


def test_unknown_or_double_resolution_raises(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.0, T0)
    core.flush(T0)
    batch = core.next_batch(T0)
    assert batch is not None
    core.ack(batch, T0)
    before = core.stats
    with pytest.raises(CoreStateError):
        core.ack(batch, T0)
    with pytest.raises(CoreStateError):
        core.failed(batch, T0, UNAVAILABLE)
    other = make_core()
    other.record_value(key, 1.0, T0)
    other.flush(T0)
    foreign = other.next_batch(T0)
    assert foreign is not None
    with pytest.raises(CoreStateError):
        core.ack(foreign, T0)
    assert core.stats == before


def test_failed_with_ok_outcome_raises(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.0, T0)
    core.flush(T0)
    batch = core.next_batch(T0)
    assert batch is not None
    with pytest.raises(CoreStateError):
        core.failed(batch, T0, OK)
    core.ack(batch, T0)


def test_several_batches_in_flight_at_once() -> None:
    core = make_core(max_series_per_metric=None)  # one metric, 3000 series
    for i in range(3000):
        core.record_value(MetricKey("App", "m", {"i": str(i)}), 1.0, T0)
    core.flush(T0)
    batches = core.batches_to_send(T0)
    assert len(batches) == 3 and core.stats.in_flight_batches == 3
    core.failed(batches[1], T0, ABANDONED)  # no pause for an abandoned send
    core.ack(batches[0], T0)
    core.ack(batches[2], T0)
    again = core.next_batch(T0)
    assert again is not None and again.request.datums == batches[1].request.datums
    core.ack(again, T0)
    assert core.stats.sent_samples == 3000


def test_close_drains_then_closed(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.0, T0)
    core.close(T0)
    assert core.state is CoreState.CLOSING
    assert core.next_deadline() == T0
    (batch,) = core.batches_to_send(T0)
    assert core.state is CoreState.CLOSING
    assert core.next_deadline() is None  # only in flight
    core.ack(batch, T0)
    assert core.state is CoreState.CLOSED
    core.close(T0)  # idempotent
    assert core.next_batch(T0) is None


def test_discard_pending_counts_what_was_not_delivered(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.0, T0, count=5)
    core.record_value(MetricKey("App", "x"), 1.0, T0)
    core.close(T0)
    batch = core.next_batch(T0)
    assert batch is not None
    core.failed(batch, T0, UNAVAILABLE)
    assert core.discard_pending(T0) == 6
    stats = core.stats
    assert stats.dropped_shutdown == 6 and stats.buffered_samples == 0
    assert core.state is CoreState.CLOSED


def test_quantization_bounds_relative_error_and_distinct_values(key: MetricKey) -> None:
    core = make_core(quantization=0.01)
    values = [1.0 + i * 0.0001 for i in range(10_000)]
    for v in values:
        core.record_value(key, v, T0)
    core.flush(T0)
    (batch,) = drain(core, T0)
    sent = [v for d in batch.request.params["MetricData"] for v in d["Values"]]
    assert len(sent) < 60
    for v in values[::97]:
        nearest = min(sent, key=lambda s: abs(s - v))
        assert abs(nearest - v) / v <= 0.01 + 1e-12


def test_stats_invariant_holds_mid_flight(key: MetricKey) -> None:
    core = make_core()
    for i in range(50):
        core.record_value(MetricKey("App", "m", {"i": str(i)}), 1.0, T0, count=2)
    core.flush(T0)
    batch = core.next_batch(T0)
    assert batch is not None
    core.record_value(key, 3.0, T0)
    s = core.stats
    assert s.recorded_samples == s.sent_samples + s.dropped_samples + s.buffered_samples + (
        s.in_flight_samples
    )
    assert s.in_flight_samples == 100 and s.buffered_samples == 1


# ---------------------------------------------------------------- send_flow


def test_flow_acks_and_fails_each_batch_once() -> None:
    core = make_core(max_series_per_metric=None)  # one metric, 2500 series
    for i in range(2500):
        core.record_value(MetricKey("App", "m", {"i": str(i)}), 1.0, T0)
    core.flush(T0)
    flow = send_flow(core, T0)
    batch = next(flow)
    batch = flow.send((OK, T0))
    assert core.stats.requests_sent == 1
    with pytest.raises(StopIteration):
        flow.send((UNAVAILABLE, T0))  # a pause ends the flow early
    assert core.stats.in_flight_batches == 0
    assert core.stats.retries == 1
    assert batch.attempt == 1


def test_flow_close_requeues_the_batch_in_hand(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.0, T0)
    core.flush(T0)
    flow = send_flow(core, T0)
    batch = next(flow)
    flow.close()
    assert core.stats.in_flight_batches == 0
    again = core.next_batch(T0)
    assert again is not None and again.request.datums == batch.request.datums


def test_flow_exception_in_driver_requeues(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.0, T0)
    core.flush(T0)
    flow = send_flow(core, T0)
    next(flow)
    with pytest.raises(RuntimeError):
        flow.throw(RuntimeError("transport exploded"))
    assert core.stats.in_flight_batches == 0 and core.stats.buffered_samples == 1


def test_a_rejection_naming_the_datum_drops_exactly_it() -> None:
    core = make_core()
    for i in range(100):
        core.record_value(MetricKey("App", "m", {"i": f"{i:03d}"}), float(i), T0)
    core.flush(T0)
    batch = core.next_batch(T0)
    assert batch is not None
    message = "The value x for parameter MetricData.member.43.Timestamp is invalid."
    action = core.failed(batch, T0, SendOutcome(False, 400, "InvalidParameterValue", message))
    assert [d.key.dimensions for d in action.dropped] == [(("i", "042"),)]
    rest = core.next_batch(T0)
    assert rest is not None and len(rest.request) == 99
    core.ack(rest, T0)
    assert core.stats.dropped_invalid == 1 and core.stats.sent_samples == 99
    assert core.stats.splits == 0


def test_systemic_rejections_are_paced_not_a_request_storm() -> None:
    core = make_core()
    for i in range(1000):
        core.record_value(MetricKey("App", "m", {"i": str(i)}), 1.0, T0)
    core.flush(T0)
    now, sent_at = T0, []
    for _ in range(60):
        batch = core.next_batch(now)
        if batch is None:
            deadline = core.next_deadline()
            assert deadline is not None
            now = max(now, deadline)
            continue
        sent_at.append(now)
        core.failed(batch, now, INVALID)  # every datum is bad: e.g. a skewed clock
    # the first dozen go out at once (bisection making progress), then backoff paces them
    assert sent_at[12] == T0 and sent_at[-1] - T0 > 60


def test_wall_clock_stepping_back_does_not_stall_reporting(key: MetricKey) -> None:
    core = make_core(flush_interval=10)
    core.record_value(key, 1.0, T0)
    assert core.next_batch(T0 + 5) is None
    stepped = T0 + 5 - 600  # NTP steps the clock back ten minutes
    assert core.next_batch(stepped) is None
    deadline = core.next_deadline()
    assert deadline is not None and deadline <= stepped + 10
    assert core.next_batch(deadline) is not None


def test_quantization_never_leaves_the_accepted_range() -> None:
    core = make_core(quantization=0.01)
    key = MetricKey("App", "m")
    for v in (2.0**360, -(2.0**360), 2.0**-360, -(2.0**-360)):
        core.record_value(key, v, T0)
    core.flush(T0)
    (batch,) = drain(core, T0)
    for v in batch.request.params["MetricData"][0]["Values"]:
        assert 2.0**-360 <= abs(v) <= 2.0**360


def test_record_statistic_value_equals_a_one_sample_statistic_set(key: MetricKey) -> None:
    fast, slow = make_core(), make_core()
    for v in (3.0, 1.5, 7):
        fast.record_statistic_value(key, v, T0)
        slow.record_statistics(key, 1, v, v, v, T0)
    for core in (fast, slow):
        core.flush(T0)
    (a,), (b,) = drain(fast, T0), drain(slow, T0)
    assert a.request.body == b.request.body
    with pytest.raises(InvalidMetricError):
        fast.record_statistic_value(key, float("inf"), T0)


def test_query_encoding_beyond_1000_values_when_limits_allow_it(key: MetricKey) -> None:
    from urllib.parse import parse_qsl

    core = make_core(wire_format=WireFormat.QUERY, limits=Limits(max_values_per_datum=1200))
    for v in range(1200):
        core.record_value(key, float(v), T0)
    core.flush(T0)
    (batch,) = drain(core, T0)
    fields = dict(parse_qsl(batch.request.body.decode()))
    assert fields["MetricData.member.1.Values.member.1200"] == "1199.0"


def test_buffered_is_exact_for_large_totals(key: MetricKey) -> None:
    core = make_core()
    core.record_value(key, 1.0, T0, count=2e10)
    core.flush(T0)
    batch = core.next_batch(T0)
    assert batch is not None
    core.ack(batch, T0)
    core.record_value(key, 1.0, T0, count=7)
    assert core.stats.buffered_samples == 7
