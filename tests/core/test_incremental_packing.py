"""Packing in slices (``MetricsCore.prepare``) and what a flush leaves for the GC.

* Requests packed slice by slice are the requests ``next_batch`` packs in one piece, byte
  for byte, for every wire format; the accounting invariant holds between slices.
* A request being prepared is buffered, not in flight: a throttle, a wire-format change
  or a discard in the middle loses nothing and counts everything.
* A flush of many new series leaves no new object for the garbage collector to track
  (the flush of 100,000 series used to add one dict per series, and full collections
  over the whole heap landed inside it).
"""

from __future__ import annotations

import gc
import random

import pytest

from cwmetrics_core import (
    CoreConfig,
    InvalidConfigError,
    MetricKey,
    MetricsCore,
    PutMetricDataRequest,
    SendOutcome,
    WireFormat,
)
from cwmetrics_core._wire import PUT_METRIC_DATA_FORMATS

T0 = 1_790_000_000.0
NS = "Test/Slices"


def _core(wire_format: WireFormat, series: int, seed: int = 3) -> MetricsCore:
    # No cardinality guard: the series are the subject here, not folded into one.
    config = CoreConfig(wire_format=wire_format, flush_interval=None, max_series_per_metric=None)
    core = MetricsCore(config, now=T0)
    rng = random.Random(seed)
    for s in range(series):
        key = MetricKey(NS if s % 7 else NS + "/B", "Lat", {"S": str(s)}, unit="Milliseconds",
                        storage_resolution=1 if s % 11 == 0 else 60)  # fmt: skip
        for _ in range(rng.choice([1, 1, 3, 160])):
            core.record_value(key, round(rng.lognormvariate(3, 0.6), 1), T0)
        if s % 9 == 0:
            core.record_statistics(key.with_dimensions({"T": "x"}), 3, 6.0, 1.0, 3.0, T0)
    core.flush(T0)
    return core


def _check_invariant(core: MetricsCore) -> None:
    st = core.stats
    assert st.recorded_samples == pytest.approx(
        st.sent_samples + st.dropped_samples + st.buffered_samples + st.in_flight_samples
    )


def _wire(request: PutMetricDataRequest) -> tuple[str, bytes, int]:
    return request.namespace, request.body, request.size


@pytest.mark.parametrize("wire_format", PUT_METRIC_DATA_FORMATS)
def test_sliced_requests_equal_whole_requests(wire_format: WireFormat) -> None:
    whole, sliced = _core(wire_format, 1500), _core(wire_format, 1500)
    expected = []
    while (batch := whole.next_batch(T0)) is not None:
        expected.append(_wire(batch.request))
        whole.ack(batch, T0)
    got = []
    slices = 0
    while True:
        while sliced.prepare(T0, 50):
            slices += 1
            assert sliced.in_flight_batches == 0  # prepared, not handed out
            _check_invariant(sliced)
        batch = sliced.next_batch(T0)
        if batch is None:
            break
        got.append(_wire(batch.request))
        sliced.ack(batch, T0)
    assert got == expected and len(got) >= 3
    assert slices >= 2 * len(got)  # the work really was split
    assert all(size == len(body) for _, body, size in got)
    assert sliced.stats.sent_samples == whole.stats.sent_samples == sliced.stats.recorded_samples


def test_prepare_is_optional_and_idempotent_once_ready() -> None:
    core = _core(WireFormat.JSON, 50)
    assert core.prepare(T0, 10**6) is False  # the whole (small) request in one slice
    assert core.prepare(T0) is False  # ready: nothing more to do
    while (batch := core.next_batch(T0)) is not None:
        core.ack(batch, T0)
    assert core.prepare(T0) is False and core.stats.sent_samples == core.stats.recorded_samples


@pytest.mark.parametrize("budget", [0, -1, 1.5, True, "10"])
def test_prepare_rejects_a_bad_budget(budget: object) -> None:
    core = _core(WireFormat.JSON, 5)
    with pytest.raises(InvalidConfigError, match="budget"):
        core.prepare(T0, budget)  # type: ignore[arg-type]


def test_a_throttle_while_the_next_request_is_prepared_loses_nothing() -> None:
    core = _core(WireFormat.JSON, 3000)
    first = core.next_batch(T0)
    assert first is not None
    assert core.prepare(T0, 20)  # part of the next request is being packed
    core.failed(first, T0, SendOutcome(ok=False, http_status=400, error_code="Throttling"))
    _check_invariant(core)
    assert core.prepare(T0, 20) is False  # paused: nothing is prepared during a backoff
    deadline = core.next_deadline()
    assert deadline is not None and deadline > T0
    now = deadline
    while (batch := core.next_batch(now)) is not None:
        core.ack(batch, now)
    st = core.stats
    assert st.sent_samples == st.recorded_samples and st.dropped_samples == 0


def test_a_wire_format_change_mid_preparation_repacks_in_the_new_format() -> None:
    core = _core(WireFormat.JSON, 1500)
    assert core.prepare(T0, 30)
    core.set_wire_format(WireFormat.QUERY)
    bodies = []
    while True:
        while core.prepare(T0, 30):
            pass
        batch = core.next_batch(T0)
        if batch is None:
            break
        assert batch.request.wire_format is WireFormat.QUERY
        bodies.append(batch.request.body)
        core.ack(batch, T0)
    assert all(b.startswith(b"Action=PutMetricData") for b in bodies)
    assert core.stats.sent_samples == core.stats.recorded_samples


def test_discard_mid_preparation_counts_every_sample() -> None:
    core = _core(WireFormat.JSON, 1500)
    assert core.prepare(T0, 30)
    dropped = core.discard_pending(T0)
    st = core.stats
    assert dropped == st.recorded_samples == st.dropped_shutdown
    assert st.buffered_samples == 0 and core.next_batch(T0) is None


def test_a_flush_of_new_series_leaves_nothing_new_for_the_garbage_collector() -> None:
    n = 4000
    core = MetricsCore(CoreConfig(max_buffered_datums=10**6, max_series_per_metric=None), now=T0)
    keys = [MetricKey(NS, "Flush", {"S": f"s{i}"}, unit="Milliseconds") for i in range(n)]
    for i, key in enumerate(keys):
        core.record_value(key, float(i % 97), T0)
    core.flush(T0)
    gc.collect()
    before = len(gc.get_objects())
    while True:
        while core.prepare(T0, 100):
            pass
        batch = core.next_batch(T0)
        if batch is None:
            break
        core.ack(batch, T0)
    gc.collect()
    grown = len(gc.get_objects()) - before
    assert core.stats.datums_sent == n
    # Before the fix: one dict per key (its cached wire text), about n objects.
    assert grown < n // 20, f"{grown} GC-tracked objects left by a flush of {n} series"
