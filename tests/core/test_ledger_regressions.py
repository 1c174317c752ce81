"""Delivery-ledger regressions found while splitting MetricsCore (issue #11)."""

from __future__ import annotations

from cwmetrics_core import CoreState, Limits, MetricKey, SendOutcome, WireFormat

from .conftest import T0, make_core

INVALID = SendOutcome(ok=False, http_status=400, error_code="InvalidParameterValue")


def test_a_bisected_group_that_no_longer_fits_after_a_format_change_is_not_lost() -> None:
    core = make_core(limits=Limits(max_request_bytes=3000))
    for i in range(60):
        core.record_value(MetricKey("App", "m", {"Series": f"s{i:03d}"}), 1.5, T0)
    core.flush(T0)
    batch = core.next_batch(T0)
    assert batch is not None and len(batch.request) > 8
    core.failed(batch, T0, INVALID)  # bisected: two halves queued as they were packed
    core.set_wire_format(WireFormat.QUERY)  # larger: a half no longer fits one request
    core.close(T0)
    while (batch := core.next_batch(T0)) is not None:
        assert len(batch.request.body) <= 3000
        core.ack(batch, T0)
    stats = core.stats
    assert stats.sent_samples == stats.recorded_samples == 60
    assert core.state is CoreState.CLOSED


def test_an_expired_namespace_does_not_hide_the_next_one() -> None:
    core = make_core(max_timestamp_age=600.0)
    core.record_value(MetricKey("Old", "m"), 1.0, T0)
    core.record_value(MetricKey("New", "m"), 1.0, T0 + 900)
    core.flush(T0 + 900)
    batch = core.next_batch(T0 + 900)  # "Old" expired while queued; "New" is sent now
    assert batch is not None and batch.request.namespace == "New"
    assert core.stats.dropped_expired == 1
