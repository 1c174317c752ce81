"""TimerRun.duration is a float once the block exited, and an error before."""

from __future__ import annotations

import pytest

from cloudwatch_metrics_client import Metrics
from cloudwatch_metrics_client.cloudwatch import CloudWatchSyncMetricReporter
from cwmetrics_core import CoreStateError, InvalidMetricError
from cwmetrics_transports import DryRunTransport


def test_duration_is_known_only_after_exit() -> None:
    reporter = CloudWatchSyncMetricReporter(transport=DryRunTransport(), flush_on_exit=False)
    timer = Metrics("App", reporter).timer("Block")
    with timer as run:
        assert not run.done
        with pytest.raises(CoreStateError, match="once the timed block exited"):
            _ = run.duration
    assert run.done
    assert isinstance(run.duration, float)
    assert run.duration >= 0.0


def test_unknown_unit_still_raises_at_run_time() -> None:
    reporter = CloudWatchSyncMetricReporter(transport=DryRunTransport(), flush_on_exit=False)
    metrics = Metrics("App", reporter)
    with pytest.raises(InvalidMetricError) as info:
        metrics.put_value("m", 1, unit="Milisecondz")
    assert info.value.field == "Unit"
    with pytest.raises(InvalidMetricError):
        metrics.timer("t", unit="Bytes")
