"""The reporter base shared by both drivers, through the public surface only: the state,
the injected clock, the recording methods, the transport binding, and timers that take
a ``record`` callable. Each behaviour is checked on the sync and the async reporter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import pytest

from cloudwatch_metrics_client import (
    Clock,
    CloudWatchAsyncMetricReporter,
    CloudWatchSyncMetricReporter,
    Metrics,
    ReporterState,
    Timer,
)
from cwmetrics_core import (
    CoreStateError,
    InvalidConfigError,
    MetricKey,
    Unit,
    WireFormat,
)
from cwmetrics_transports import DryRunTransport

#: A fixed wall time, mid-minute (2023-11-14 22:13:30 UTC).
T0 = 1_700_000_010.0


class FakeClock(Clock):
    """Wall time frozen at ``wall`` (move it by hand); monotonic time is real."""

    def __init__(self, wall: float = T0) -> None:
        self.wall = wall
        self.wall_reads = 0

    def time(self) -> float:
        self.wall_reads += 1
        return self.wall

    def monotonic(self) -> float:
        return time.monotonic()


def sync_reporter(**kwargs: Any) -> tuple[CloudWatchSyncMetricReporter, DryRunTransport]:
    transport = kwargs.pop("transport", None) or DryRunTransport()
    reporter = CloudWatchSyncMetricReporter(transport=transport, flush_on_exit=False, **kwargs)
    return reporter, transport


def async_reporter(**kwargs: Any) -> tuple[CloudWatchAsyncMetricReporter, DryRunTransport]:
    transport = kwargs.pop("transport", None) or DryRunTransport()
    return CloudWatchAsyncMetricReporter(transport=transport, **kwargs), transport


# ------------------------------------------------------------------ state
def test_sync_state_goes_new_running_stopped() -> None:
    reporter, _ = sync_reporter()
    assert reporter.state is ReporterState.NEW
    assert "new" in repr(reporter)
    reporter.run()
    assert reporter.state is ReporterState.RUNNING
    assert reporter.stop(timeout=5.0) is True
    assert reporter.state is ReporterState.STOPPED
    assert "stopped" in repr(reporter)
    with pytest.raises(CoreStateError):
        reporter.run()
    assert reporter.state is ReporterState.STOPPED


def test_async_state_goes_new_running_stopped() -> None:
    async def main() -> None:
        reporter, _ = async_reporter()
        assert reporter.state is ReporterState.NEW
        await reporter.run()
        assert reporter.state is ReporterState.RUNNING
        assert await reporter.stop(timeout=5.0) is True
        assert reporter.state is ReporterState.STOPPED
        with pytest.raises(CoreStateError):
            await reporter.run()

    asyncio.run(main())


def test_flush_without_run_stays_new() -> None:
    """flush() starts the loop on demand; only run() makes reports periodic."""
    reporter, transport = sync_reporter()
    Metrics("App", reporter).put_value("v", 1.0)
    assert reporter.flush(timeout=5.0) is True
    assert reporter.state is ReporterState.NEW and len(transport.datums()) == 1
    assert reporter.stop(timeout=5.0) is True


# ------------------------------------------------------------------ one clock
@pytest.mark.parametrize("timestamp", [None, T0 - 3600.0])
def test_the_reporters_clock_gives_metrics_its_timestamps(timestamp: float | None) -> None:
    clock = FakeClock()
    reporter, transport = sync_reporter(clock=clock)
    assert reporter.clock is clock
    metrics = Metrics("App", reporter)
    reads = clock.wall_reads
    metrics.put_value("v", 1.0, timestamp=timestamp)
    assert clock.wall_reads > reads  # the age check reads it too
    with metrics.timer("t"):
        pass
    assert reporter.flush(timeout=5.0) is True
    stamps = {d["MetricName"]: float(d["Timestamp"]) for d in transport.datums()}
    period = 60.0
    expected = T0 if timestamp is None else timestamp
    assert stamps["v"] == pytest.approx(expected - expected % period)
    assert stamps["t"] == pytest.approx(T0 - T0 % period)
    assert reporter.stop(timeout=5.0) is True


def test_a_fake_clock_drives_timestamp_validation() -> None:
    """What is too old is judged against the injected wall clock, not the machine's."""
    clock = FakeClock(wall=T0)
    reporter, _ = sync_reporter(clock=clock)
    metrics = Metrics("App", reporter)
    metrics.put_value("v", 1.0, timestamp=T0 - 86400.0)  # a day old: fine at T0
    clock.wall = T0 + 30 * 86400.0
    with pytest.raises(ValueError, match="older than"):
        metrics.put_value("v", 1.0, timestamp=T0 - 86400.0)
    assert reporter.stop(timeout=5.0) is True


def test_async_reporter_takes_the_clock_too() -> None:
    async def main() -> list[dict[str, Any]]:
        reporter, transport = async_reporter(clock=FakeClock())
        Metrics("App", reporter).put_value("v", 1.0)
        assert await reporter.flush(timeout=5.0) is True
        assert await reporter.stop(timeout=5.0) is True
        return transport.datums()

    (datum,) = asyncio.run(main())
    assert float(datum["Timestamp"]) == pytest.approx(T0 - T0 % 60)


@pytest.mark.parametrize("clock", [time.time, "monotonic", 3.0])
def test_a_clock_must_be_a_clock(clock: object) -> None:
    with pytest.raises(InvalidConfigError, match="clock"):
        CloudWatchSyncMetricReporter(clock=clock, flush_on_exit=False)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="clock"):
        CloudWatchAsyncMetricReporter(clock=clock)  # type: ignore[arg-type]


# ------------------------------------------------------------------ recording methods
def test_the_public_recording_methods_deliver() -> None:
    reporter, transport = sync_reporter(clock=FakeClock())
    key = MetricKey("App", "v", {"Op": "get"}, Unit.COUNT)
    reporter.record(key, 2.0, T0)
    reporter.record(key, 2.0, T0, 3.0)
    stat_key = MetricKey("App", "s")
    reporter.record_statistic(stat_key, 5.0, T0)
    reporter.record_statistics(stat_key, 2.0, 3.0, 1.0, 2.0, T0)
    assert reporter.flush(timeout=5.0) is True
    totals = transport.totals()
    assert totals[("App", "v", (("Op", "get"),))]["SampleCount"] == 4.0
    assert totals[("App", "s", ())] == {
        "SampleCount": 3.0,
        "Sum": 8.0,
        "Minimum": 1.0,
        "Maximum": 5.0,
    }
    assert reporter.stop(timeout=5.0) is True
    with pytest.raises(CoreStateError):
        reporter.record(key, 1.0, T0)


def test_metrics_records_through_the_reporter_it_is_given() -> None:
    """Metrics binds its reporter's record() when given the reporter (and again when the
    reporter changes); before that, recording says there is no reporter."""
    metrics = Metrics("App")
    with pytest.raises(CoreStateError, match="no reporter"):
        metrics.put_value("v", 1.0)
    first, first_transport = sync_reporter()
    second, second_transport = sync_reporter()
    metrics.reporter = first
    metrics.put_value("v", 1.0)
    metrics.reporter = second
    metrics.put_value("v", 2.0)
    metrics.put_value("v", 3.0)
    assert first.flush(timeout=5.0) and second.flush(timeout=5.0)
    assert first_transport.totals()[("App", "v", ())]["SampleCount"] == 1.0
    assert second_transport.totals()[("App", "v", ())]["SampleCount"] == 2.0
    assert first.stop(timeout=5.0) and second.stop(timeout=5.0)


# ------------------------------------------------------------------ transport binding
@pytest.mark.parametrize("fmt", list(WireFormat))
def test_the_transports_wire_format_is_bound_to_the_core(fmt: WireFormat) -> None:
    reporter, _ = sync_reporter()
    assert reporter.core.wire_format is WireFormat.JSON
    reporter.use_client(DryRunTransport(wire_format=fmt))
    assert reporter.core.wire_format is fmt
    async_rep, _ = async_reporter(transport=DryRunTransport(wire_format=fmt))
    assert async_rep.core.wire_format is fmt
    assert reporter.stop(timeout=5.0) is True


def test_transport_and_client_together_are_refused() -> None:
    with pytest.raises(TypeError, match="not both"):
        CloudWatchSyncMetricReporter(
            transport=DryRunTransport(), client=DryRunTransport(), flush_on_exit=False
        )
    with pytest.raises(TypeError, match="not both"):
        CloudWatchAsyncMetricReporter(transport=DryRunTransport(), client=DryRunTransport())


# ------------------------------------------------------------------ timers
def test_a_timer_calls_its_record_callable() -> None:
    runs: list[tuple[Timer, float, Mapping[str, str] | None, bool]] = []

    def record(
        timer: Timer, duration: float, extra: Mapping[str, str] | None, failed: bool
    ) -> None:
        runs.append((timer, duration, extra, failed))

    timer = Timer(record, "Op", unit="Seconds", dimensions={"Kind": "a"})
    with timer:
        pass
    with pytest.raises(KeyError), timer:
        raise KeyError("x")

    @timer
    def work() -> int:
        return 7

    assert work() == 7
    assert [(t, failed) for t, _, _, failed in runs] == [
        (timer, False),
        (timer, True),
        (timer, False),
    ]
    assert all(duration >= 0.0 for _, duration, _, _ in runs)


def test_timers_of_one_series_share_keys_and_follow_the_namespace() -> None:
    reporter, transport = sync_reporter()
    metrics = Metrics("First", reporter)
    for _ in range(3):
        with metrics.timer("Op", dimensions={"K": "v"}):  # a fresh Timer each time
            pass
    metrics.namespace = "Second"
    with metrics.timer("Op", dimensions={"K": "v"}):
        pass
    assert reporter.flush(timeout=5.0) is True
    counts = {k[0]: v["SampleCount"] for k, v in transport.totals().items()}
    assert counts == {"First": 3.0, "Second": 1.0}
    assert reporter.stop(timeout=5.0) is True
