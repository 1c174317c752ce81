"""Deadline tests (aioquic style): early sends, flush_interval=None, the overflow counter."""

from __future__ import annotations

import pytest

from cwmetrics_core import (
    CoreConfig,
    CoreState,
    InvalidConfigError,
    MetricKey,
    MetricsCore,
    SendOutcome,
)

from .conftest import T0, make_core

THROTTLED = SendOutcome(ok=False, http_status=400, error_code="Throttling")


def _fill_a_request(core: MetricsCore, ts: float = T0) -> bool:
    """Record 1000 datums (one full request); True when the core asked for an early wake."""
    woke = [core.record_value(MetricKey("App", "m", {"i": str(i)}), 1.0, ts) for i in range(1000)]
    return woke[-1]


def test_an_early_send_keeps_the_periodic_schedule() -> None:
    now = 0.0
    core = MetricsCore(CoreConfig(flush_interval=60.0), now=now)
    assert core.next_deadline() == 60.0
    now += 10
    assert _fill_a_request(core)
    batch = core.next_batch(now)  # the early send of a full request
    assert batch is not None and len(batch.request) == 1000
    core.ack(batch, now)
    now += 1
    core.record_value(MetricKey("App", "late"), 1.0, T0)
    # Data recorded right after an early send waits for the flush already planned (60),
    # not a full interval more (120).
    assert core.next_deadline() == 60.0
    assert core.next_batch(59.9) is None
    now = 60.0
    batch = core.next_batch(now)
    assert batch is not None and batch.request.datums[0].key.name == "late"
    core.ack(batch, now)
    assert core.next_deadline() == 120.0


def test_the_periodic_schedule_restarts_from_now_after_a_late_wake(key: MetricKey) -> None:
    now = 0.0
    core = MetricsCore(CoreConfig(flush_interval=60.0), now=now)
    core.record_value(key, 1.0, T0)
    now = 200.0  # the driver woke 140 s late
    batch = core.next_batch(now)
    assert batch is not None
    core.ack(batch, now)
    assert core.next_deadline() == 260.0


def test_flush_interval_none_has_no_periodic_deadline(key: MetricKey) -> None:
    now = 0.0
    core = MetricsCore(CoreConfig(flush_interval=None), now=now)
    assert core.config.flush_interval is None
    assert core.next_deadline() is None
    core.record_value(key, 1.0, T0)
    assert core.next_deadline() is None
    now += 10**6
    assert core.next_batch(now) is None  # never due by itself
    assert not core.due(now)
    core.flush(now)  # on demand
    assert core.next_deadline() == now
    batch = core.next_batch(now)
    assert batch is not None
    core.ack(batch, now)
    assert core.next_deadline() is None


def test_flush_interval_none_still_sends_full_requests_early() -> None:
    now = 0.0
    core = MetricsCore(CoreConfig(flush_interval=None), now=now)
    assert _fill_a_request(core)
    assert core.next_deadline() == now
    now += 1
    batch = core.next_batch(now)
    assert batch is not None and len(batch.request) == 1000
    core.ack(batch, now)
    assert core.next_deadline() is None


def test_flush_interval_none_follows_backoff(key: MetricKey) -> None:
    now = 0.0
    core = make_core(flush_interval=None)
    core = MetricsCore(core.config, now=now)
    core.record_value(key, 1.0, T0)
    core.flush(now)
    batch = core.next_batch(now)
    assert batch is not None
    action = core.failed(batch, now, THROTTLED)
    assert action.retry_at is not None and action.retry_at > now
    assert core.next_deadline() == action.retry_at
    assert core.next_batch(action.retry_at - 0.001) is None
    now = action.retry_at
    batch = core.next_batch(now)
    assert batch is not None
    core.ack(batch, now)
    assert core.next_deadline() is None


def test_flush_interval_none_close_drains(key: MetricKey) -> None:
    now = 0.0
    core = MetricsCore(CoreConfig(flush_interval=None), now=now)
    core.record_value(key, 1.0, T0)
    core.close(now)
    assert core.next_deadline() == now
    batch = core.next_batch(now)
    assert batch is not None
    core.ack(batch, now)
    assert core.state is CoreState.CLOSED
    assert core.next_deadline() is None


@pytest.mark.parametrize("interval", [0, -1.0, float("inf"), float("nan"), True, "60"])
def test_flush_interval_must_be_none_or_positive_finite(interval: object) -> None:
    with pytest.raises(InvalidConfigError) as info:
        CoreConfig(flush_interval=interval)  # type: ignore[arg-type]
    assert info.value.field == "flush_interval"


def test_the_default_flush_interval_is_unchanged() -> None:
    assert CoreConfig().flush_interval == 60.0


def test_dropped_overflow_is_readable_without_a_snapshot() -> None:
    core = make_core(max_buffered_datums=2)
    seen = [core.dropped_overflow]
    for i in range(5):
        core.record_value(MetricKey("App", "m", {"i": str(i)}), 1.0, T0, 2.0)
        seen.append(core.dropped_overflow)
    assert seen == [0.0, 0.0, 0.0, 2.0, 4.0, 6.0]  # only ever grows, in samples
    assert core.dropped_overflow == core.stats.dropped_overflow
    # Statistic sets that find no room are counted there too.
    core.record_statistics(MetricKey("App", "s"), 3.0, 3.0, 1.0, 1.0, T0)
    assert core.dropped_overflow == 9.0 == core.stats.dropped_overflow
