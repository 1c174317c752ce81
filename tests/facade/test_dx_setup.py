"""Class-level facade calls made before set-up never raise: they are kept (bounded) and
recorded when both ``with_namespace()`` and ``with_reporter()`` have been called.

The autouse fixture in conftest.py gives each test unconfigured facades.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from cloudwatch_metrics_client import FacadeBacklog
from cloudwatch_metrics_client.aiocloudwatch import (
    CloudWatchAsyncMetricReporter,
    CloudWatchAsyncMetrics,
)
from cloudwatch_metrics_client.cloudwatch import (
    CloudWatchSyncMetricReporter,
    CloudWatchSyncMetrics,
)
from cwmetrics_transports import DryRunTransport


def _names(transport: DryRunTransport) -> dict[str, dict[str, object]]:
    return {d["MetricName"]: d for d in transport.datums()}


@pytest.mark.parametrize("namespace_first", [True, False])
def test_sync_calls_before_setup_are_kept_and_recorded(
    namespace_first: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cloudwatch_metrics_client")
    early = time.time() - 120  # an explicit timestamp is kept as given

    @CloudWatchSyncMetrics.monitored_task
    def handler() -> None:
        CloudWatchSyncMetrics.with_monitored_dimension("Kind", "early")

    # Nothing is set up: none of these raises (0.0.6 returned False; main raised).
    CloudWatchSyncMetrics.put_metric(MetricName="Items", Unit="Count", Value=3)
    CloudWatchSyncMetrics.put_metric(MetricName="Old", Value=1, Timestamp=early)
    CloudWatchSyncMetrics.put_statistic(MetricName="Size", Unit="Bytes", Value=512)
    handler()
    with CloudWatchSyncMetrics.timer("Block"):
        pass
    assert CloudWatchSyncMetrics.backlog() == FacadeBacklog(kept=5)
    assert sum("keeping up to 1000 calls" in r.getMessage() for r in caplog.records) == 1

    transport = DryRunTransport()
    reporter = CloudWatchSyncMetricReporter(transport=transport, flush_on_exit=False)
    if namespace_first:
        CloudWatchSyncMetrics.with_namespace("App")
        assert CloudWatchSyncMetrics.backlog().kept == 5  # half set up: still kept
        CloudWatchSyncMetrics.with_reporter(reporter)
    else:
        CloudWatchSyncMetrics.with_reporter(reporter)
        assert CloudWatchSyncMetrics.backlog().kept == 5
        CloudWatchSyncMetrics.with_namespace("App")
    assert CloudWatchSyncMetrics.backlog() == FacadeBacklog(kept=0, replayed=5)

    CloudWatchSyncMetrics.put_metric(MetricName="Items", Unit="Count", Value=3)  # live now
    assert reporter.flush(timeout=5)
    datums = _names(transport)
    assert set(datums) == {"Items", "Old", "Size", "handler", "Block"}
    assert datums["Items"]["Counts"] == [2.0]
    assert datums["Old"]["Timestamp"] == int(early) // 60 * 60  # its own minute
    assert datums["Size"]["StatisticValues"]["Sum"] == 512.0  # type: ignore[index]
    assert datums["handler"]["Dimensions"] == [{"Name": "Kind", "Value": "early"}]
    assert datums["handler"]["Unit"] == datums["Block"]["Unit"] == "Milliseconds"
    assert reporter.stats.invalid_dropped == 0


def test_backlog_is_bounded_counted_and_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cloudwatch_metrics_client")
    monkeypatch.setattr(CloudWatchSyncMetrics, "backlog_limit", 3)
    for i in range(7):
        CloudWatchSyncMetrics.put_metric(MetricName="M", Value=i)
    assert CloudWatchSyncMetrics.backlog() == FacadeBacklog(kept=3, dropped=4)
    drops = [r for r in caplog.records if "further ones are dropped" in r.getMessage()]
    assert len(drops) == 1

    transport = DryRunTransport()
    reporter = CloudWatchSyncMetricReporter(transport=transport, flush_on_exit=False)
    CloudWatchSyncMetrics.with_namespace("App").with_reporter(reporter)
    assert reporter.flush(timeout=5)
    (datum,) = transport.datums()
    assert datum["Values"] == [0.0, 1.0, 2.0]  # the first three, as documented
    assert CloudWatchSyncMetrics.backlog() == FacadeBacklog(replayed=3, dropped=4)


def test_bad_input_before_setup_is_counted_when_recorded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    CloudWatchSyncMetrics.put_metric(MetricName="Bad", Value=float("nan"))  # no raise
    CloudWatchSyncMetrics.put_metric(MetricName="Good", Value=1)
    transport = DryRunTransport()
    reporter = CloudWatchSyncMetricReporter(transport=transport, flush_on_exit=False)
    with caplog.at_level(logging.WARNING, logger="cloudwatch_metrics_client"):
        CloudWatchSyncMetrics.with_namespace("App").with_reporter(reporter)  # no raise either
    assert reporter.stats.invalid_dropped == 1
    assert any("'Bad'" in r.getMessage() for r in caplog.records)
    assert reporter.flush(timeout=5)
    assert set(_names(transport)) == {"Good"}


def test_async_calls_before_setup_are_kept_and_recorded() -> None:
    @CloudWatchAsyncMetrics.monitored_task
    async def handler() -> None:
        CloudWatchAsyncMetrics.with_monitored_dimension("Kind", "early")

    async def main() -> DryRunTransport:
        assert await CloudWatchAsyncMetrics.put_metric(MetricName="Items", Value=3) is None
        await CloudWatchAsyncMetrics.put_statistic(MetricName="Size", Unit="Bytes", Value=5)
        await handler()
        assert CloudWatchAsyncMetrics.backlog() == FacadeBacklog(kept=3)

        transport = DryRunTransport()
        reporter = CloudWatchAsyncMetricReporter(transport=transport)
        CloudWatchAsyncMetrics.with_reporter(reporter).with_namespace("App")
        assert await reporter.flush(timeout=5)
        await reporter.stop()
        return transport

    transport = asyncio.run(main())
    datums = _names(transport)
    assert set(datums) == {"Items", "Size", "handler"}
    assert datums["handler"]["Dimensions"] == [{"Name": "Kind", "Value": "early"}]
    assert CloudWatchAsyncMetrics.backlog() == FacadeBacklog(replayed=3)
