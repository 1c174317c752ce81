"""The core's pieces through their own public interfaces: store, sink, ledger, policy."""

from __future__ import annotations

import gc
import json
import random
from collections import deque

import pytest

from cwmetrics_core import (
    AggregationStore,
    CoreStateError,
    DeliveryLedger,
    Disposition,
    Drop,
    Limits,
    MetricDatum,
    MetricKey,
    PutMetricDataRequest,
    PutMetricDataSink,
    Retry,
    RetryPolicy,
    SendOutcome,
    Split,
    WireFormat,
    encoder_for,
)

from .conftest import T0

KEY = MetricKey("App", "Latency", {"Op": "get"}, "Milliseconds")
OTHER = MetricKey("Other", "Size", {}, "Bytes")
THROTTLED = SendOutcome(ok=False, http_status=400, error_code="Throttling")
INVALID = SendOutcome(ok=False, http_status=400, error_code="InvalidParameterValue")
DENIED = SendOutcome(ok=False, http_status=403, error_code="AccessDenied")


def policy() -> RetryPolicy:
    return RetryPolicy(rng=random.Random(3).random)


def store(room: int = 1000, max_values: int = 150, max_datums: int = 1000) -> AggregationStore:
    return AggregationStore(max_values, max_datums, room)


def ledger_with(
    keys: list[MetricKey], limits: Limits | None = None, max_age: float = 1e9
) -> DeliveryLedger:
    """A ledger holding one sealed generation: one value per key."""
    s = store(room=10**6)
    for i, key in enumerate(keys):
        s.add_value(key, float(i), T0, 1.0)
    ledger = DeliveryLedger(PutMetricDataSink(WireFormat.JSON, limits), max_age)
    sealed = s.seal()
    assert sealed is not None
    ledger.admit(*sealed)
    return ledger


# ------------------------------------------------------------------ store
def test_store_merges_values_per_series_and_period() -> None:
    s = store()
    for v in (1.0, 2.0, 1.0):
        assert s.add_value(KEY, v, T0 + 5, 1.0) is False
    s.add_value(KEY, 1.0, T0 + 65, 2.0)  # the next minute: a second datum
    assert (s.live, s.recorded) == (2, 5.0)
    sealed = s.seal()
    assert sealed is not None and sealed[1] == 2 and s.live == 0 and s.seal() is None
    ledger = DeliveryLedger(PutMetricDataSink(WireFormat.JSON), 1e9)
    ledger.admit(*sealed)
    batch = ledger.take(T0 + 70)
    assert batch is not None
    assert [(d.timestamp, d.values, d.counts) for d in batch.request.datums] == [
        (T0, (1.0, 2.0), (2.0, 1.0)),
        (T0 + 60, (1.0,), (2.0,)),
    ]


def test_store_buffered_series_add_no_gc_tracked_objects() -> None:
    keys = [MetricKey("App", "m", {"i": str(i)}) for i in range(2000)]
    s = store(room=10**6)
    gc.collect()
    before = len(gc.get_objects())
    for key in keys:
        s.add_value(key, 1.5, T0, 1.0)
        s.add_value(key, 2.5, T0, 1.0)
        s.add_statistics(key, 1.0, 3.0, 3.0, 3.0, T0)
    gc.collect()
    # The two generation-wide dicts per kind may be tracked; nothing per series.
    assert len(gc.get_objects()) - before < 20
    assert s.live == 4000


def test_store_reports_a_full_request_and_respects_room() -> None:
    s = store(room=3, max_datums=2)
    assert s.add_value(KEY, 1.0, T0, 1.0) is False
    assert s.add_value(KEY, 1.0, T0 + 60, 1.0) is True  # two datums: a full request
    assert s.add_value(OTHER, 1.0, T0, 1.0) is True
    assert s.add_value(OTHER, 2.0, T0 + 120, 4.0) is False  # no room: dropped and counted
    assert (s.live, s.recorded, s.dropped_overflow) == (3, 7.0, 4.0)
    s.add_value(KEY, 1.0, T0, 1.0)  # merging into an existing datum needs no room
    assert (s.live, s.recorded, s.dropped_overflow) == (3, 8.0, 4.0)


def test_store_statistic_sets_merge_and_close_at_the_value_limit() -> None:
    s = store()
    s.add_statistics(KEY, 2.0, 3.0, 1.0, 2.0, T0)
    s.add_statistics(KEY, 1.0, 5.0, 5.0, 5.0, T0)
    s.add_statistics(KEY, 1.0, 2.0**360, 2.0**360, 2.0**360, T0)
    assert s.live == 1
    s.add_statistics(KEY, 1.0, 2.0**359, 2.0**359, 2.0**359, T0)  # the sum would pass 2**360
    assert s.live == 2
    sealed = s.seal()
    assert sealed is not None
    ledger = DeliveryLedger(PutMetricDataSink(WireFormat.JSON), 1e9)
    ledger.admit(*sealed)
    batch = ledger.take(T0)
    assert batch is not None
    assert [d.statistics for d in batch.request.datums] == [
        (4.0, 2.0**360, 1.0, 2.0**360),
        (1.0, 2.0**359, 2.0**359, 2.0**359),
    ]


def test_store_keeps_late_periods_of_a_series() -> None:
    s = store()
    s.add_value(KEY, 1.0, T0 + 61, 1.0)
    s.add_value(KEY, 2.0, T0 + 1, 1.0)  # late: the earlier minute
    s.add_value(KEY, 3.0, T0 + 62, 1.0)  # back to the later one: merged into it
    s.add_statistics(OTHER, 1.0, 1.0, 1.0, 1.0, T0 + 61)
    s.add_statistics(OTHER, 1.0, 2.0, 2.0, 2.0, T0 + 1)
    s.add_statistics(OTHER, 1.0, 3.0, 3.0, 3.0, T0 + 62)
    assert s.live == 4
    sealed = s.seal()
    assert sealed is not None
    ledger = DeliveryLedger(PutMetricDataSink(WireFormat.JSON), 1e9)
    ledger.admit(*sealed)
    got = {}
    while (batch := ledger.take(T0 + 120)) is not None:
        for d in batch.request.datums:
            got[(d.key.name, d.timestamp)] = d.values or d.statistics
    assert got == {
        ("Latency", T0 + 60): (1.0, 3.0),
        ("Latency", T0): (2.0,),
        ("Size", T0 + 60): (2.0, 4.0, 1.0, 3.0),
        ("Size", T0): (1.0, 2.0, 2.0, 2.0),
    }


# ------------------------------------------------------------------ sink
def test_sink_packs_within_limits_and_measures_exactly() -> None:
    keys = [MetricKey("App", "m", {"i": str(i)}) for i in range(7)]
    sink = PutMetricDataSink(WireFormat.JSON, Limits(max_datums_per_request=3))
    queue = deque((k, T0, {1.5: 1.0, 2.5: 2.0}, i) for i, k in enumerate(keys))
    drops: list[tuple[object, str]] = []
    packed = sink.pack("App", queue, oldest=0.0, drop=lambda e, r: drops.append((e, r)))
    assert packed is not None
    request, attempts = packed
    assert (len(request), attempts, len(queue), drops) == (3, [0, 1, 2], 4, [])
    assert request.samples == 9.0
    body = json.loads(request.body)
    assert body["Namespace"] == "App" and len(body["MetricData"]) == 3
    assert body["MetricData"][0]["Values"] == [1.5, 2.5]
    assert body["MetricData"][0]["Counts"] == [1.0, 2.0]
    # The same bytes as the codec encoding the datums one by one.
    assert request.body == encoder_for(WireFormat.JSON).encode("App", list(request.datums))


def test_sink_drops_expired_and_oversized_datums_through_the_callback() -> None:
    sink = PutMetricDataSink(WireFormat.QUERY, Limits(max_request_bytes=600))
    big = {float(v): 1.0 for v in range(100)}
    queue = deque([(KEY, T0 - 10, {1.0: 1.0}, 0), (KEY, T0, big, 0), (KEY, T0, {2.0: 1.0}, 0)])
    drops: list[str] = []
    packed = sink.pack("App", queue, oldest=T0 - 5, drop=lambda e, r: drops.append(r))
    assert drops == ["expired", "too_large"]
    assert packed is not None and len(packed[0]) == 1 and len(packed[0].body) <= 600
    assert sink.group_of(KEY) == "App" and sink.wire_format is WireFormat.QUERY


def test_request_built_from_datums_matches_the_packed_form() -> None:
    datum = MetricDatum(KEY, T0, (1.0, 2.0), (3.0, 1.0))
    request = PutMetricDataRequest("App", (datum,), b"{}", WireFormat.JSON, {})
    assert request.samples == 4.0 and len(request) == 1
    assert request.payloads == [{1.0: 3.0, 2.0: 1.0}] and request.datums == (datum,)


# ------------------------------------------------------------------ policy
@pytest.mark.parametrize(
    ("outcome", "size", "expected"),
    [
        (SendOutcome(ok=False, error_code="Abandoned"), 5, Retry(T0, counted=False)),
        (DENIED, 5, Drop("rejected")),
        (INVALID, 1, Drop("invalid")),
        (INVALID, 5, Split(((0, 1), (2, 3, 4)))),
        (
            SendOutcome(False, 400, "InvalidParameterValue", "MetricData.member.2.Value bad"),
            4,
            Split(((0, 2, 3),), (1,)),
        ),
    ],
)
def test_policy_decides_one_value(outcome: SendOutcome, size: int, expected: object) -> None:
    decision = policy().decide(outcome, size=size, now=T0, failures_in_a_row=0, rejects_in_a_row=0)
    assert decision == expected


def test_policy_retry_backs_off_with_failures_in_a_row() -> None:
    p = RetryPolicy(jitter=0.0)
    first = p.decide(THROTTLED, size=3, now=T0, failures_in_a_row=0, rejects_in_a_row=0)
    third = p.decide(THROTTLED, size=3, now=T0, failures_in_a_row=2, rejects_in_a_row=0)
    assert first == Retry(T0 + 2.0) and third == Retry(T0 + 8.0)


def test_policy_paces_a_long_run_of_rejections() -> None:
    p = RetryPolicy(jitter=0.0)
    free = p.decide(INVALID, size=2, now=T0, failures_in_a_row=0, rejects_in_a_row=11)
    paced = p.decide(INVALID, size=2, now=T0, failures_in_a_row=0, rejects_in_a_row=12)
    assert isinstance(free, Split) and free.at is None
    assert isinstance(paced, Split) and paced.at == T0 + 1.0


# ------------------------------------------------------------------ ledger
def test_ledger_accounts_every_sample() -> None:
    keys = [MetricKey("App", "m", {"i": str(i)}) for i in range(5)]
    ledger = ledger_with(keys, Limits(max_datums_per_request=2))
    first, second = ledger.take(T0), ledger.take(T0)
    assert first is not None and second is not None
    stats = ledger.stats(recorded=5.0, dropped_overflow=0.0, live_datums=0)
    assert (stats.in_flight_samples, stats.buffered_samples, stats.in_flight_batches) == (
        4.0, 1.0, 2,
    )  # fmt: skip
    ledger.ack(first)
    ledger.fail(second, Drop("rejected"), DENIED)
    stats = ledger.stats(recorded=5.0, dropped_overflow=0.0, live_datums=0)
    assert (stats.sent_samples, stats.dropped_rejected, stats.buffered_samples) == (2.0, 2.0, 1.0)
    assert ledger.discard() == 1.0 and ledger.idle
    with pytest.raises(CoreStateError):
        ledger.ack(first)


def test_ledger_applies_retry_split_and_drop() -> None:
    keys = [MetricKey("App", "m", {"i": str(i)}) for i in range(4)]
    ledger = ledger_with(keys)
    batch = ledger.take(T0)
    assert batch is not None and batch.attempt == 1
    action = ledger.fail(batch, Retry(T0 + 5), THROTTLED)
    assert (action.disposition, action.retry_at, ledger.retries) == (Disposition.RETRY, T0 + 5, 1)
    assert ledger.take(T0 + 1) is None  # paused
    batch = ledger.take(T0 + 5)
    assert batch is not None and batch.attempt == 2 and len(batch.request) == 4
    action = ledger.fail(batch, Split(((0, 2, 3),), (1,)), INVALID)
    assert action.dropped == (MetricDatum(keys[1], T0, (1.0,)),)
    assert ledger.dropped_invalid == 1.0 and ledger.splits == 0
    batch = ledger.take(T0 + 5)
    assert batch is not None and [d.key for d in batch.request.datums] == [
        keys[0], keys[2], keys[3],
    ]  # fmt: skip
    ledger.fail(batch, Split(((0,), (1, 2))), INVALID)
    halves = [ledger.take(T0 + 5), ledger.take(T0 + 5)]
    assert [len(b.request) for b in halves if b] == [1, 2] and ledger.splits == 1
    action = ledger.fail(halves[0], Drop("invalid"), INVALID)  # type: ignore[arg-type]
    assert action.disposition is Disposition.SPLIT and ledger.dropped_invalid == 2.0
    ledger.ack(halves[1])  # type: ignore[arg-type]
    assert ledger.idle and ledger.sent == 2.0


def test_ledger_expires_queued_data() -> None:
    ledger = ledger_with([KEY, OTHER], max_age=100.0)  # two namespaces: two groups
    assert ledger.take(T0 + 101) is None  # both groups expired: nothing to send
    assert ledger.dropped_expired == 2.0 and ledger.idle


def test_in_flight_datums_add_no_gc_tracked_objects() -> None:
    keys = [MetricKey("App", "m", {"i": str(i)}) for i in range(3000)]
    ledger = ledger_with(keys)
    # Each key caches its encoded fragments once (per key, not per datum): warm them.
    encoder_for(WireFormat.JSON).encode("App", [MetricDatum(k, T0, (1.0,)) for k in keys])
    gc.collect()
    before = len(gc.get_objects())
    batches = [ledger.take(T0) for _ in range(3)]
    gc.collect()
    assert all(b is not None and len(b.request) == 1000 for b in batches)
    assert len(gc.get_objects()) - before < 20 * len(batches)  # per request, not per datum
