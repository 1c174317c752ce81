"""The class-level facades with OtlpTransport as their client (sync and async)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from cloudwatch_metrics_client import (
    CloudWatchAsyncMetricReporter,
    CloudWatchAsyncMetrics,
    CloudWatchSyncMetricReporter,
    CloudWatchSyncMetrics,
)
from cwmetrics_transports import OtlpTransport
from tests.transports.otlp_receiver import Receiver, totals

pytest.importorskip("opentelemetry.proto")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_sync_facade_with_an_otlp_transport(receiver: Receiver) -> None:
    reporter = CloudWatchSyncMetricReporter(report_interval=None, flush_on_exit=False)
    transport = OtlpTransport(receiver.url, sign=False)
    CloudWatchSyncMetrics.with_namespace("Facade").with_reporter(reporter).with_client(transport)
    for v in (1.0, 2.0, 3.0):
        CloudWatchSyncMetrics.put_metric(MetricName="Latency", Value=v, Unit="Milliseconds")
    assert reporter.flush(10.0)
    assert reporter.stop(10.0)
    got = totals(receiver.exports)[("Facade", "Latency", ())]
    assert got == {"count": 3, "sum": 6.0, "min": 1.0, "max": 3.0}


def test_async_facade_with_an_otlp_transport(receiver: Receiver) -> None:
    async def main() -> None:
        reporter = CloudWatchAsyncMetricReporter(report_interval=None)
        transport = OtlpTransport(receiver.url, sign=False)
        CloudWatchAsyncMetrics.with_namespace("Facade").with_reporter(reporter).with_client(
            transport
        )
        await CloudWatchAsyncMetrics.put_metric(MetricName="Hits", Value=5, Unit="Count")
        assert await reporter.flush(10.0)
        await reporter.stop(10.0)
        await transport.aclose()

    asyncio.run(main())
    got = totals(receiver.exports)[("Facade", "Hits", ())]
    assert got["count"] == 1 and got["sum"] == 5.0
