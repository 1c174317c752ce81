"""docs/migration.md covers every difference a 0.0.6 user meets, and the code agrees."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudwatch_metrics_client import aiocloudwatch, cloudwatch
from cloudwatch_metrics_client.cloudwatch import (
    CloudWatchSyncMetricReporter,
    CloudWatchSyncMetrics,
)
from cwmetrics_core import MetricTypeError
from cwmetrics_transports import DryRunTransport

MIGRATION = (Path(__file__).resolve().parents[2] / "docs" / "migration.md").read_text()
REMOVED_CLASSES = ("Metric", "MetricSeries", "StatisticSeries", "MetricDimension")


@pytest.mark.parametrize("topic", [
    "setup_client()", "reporter.metrics", "reporter.statistics", *REMOVED_CLASSES,
    "Dimension order", "`Counts`", "`Timestamp`", "`transaction`", "`Microseconds`",
    "`Milliseconds`", "put_statistic(name, dimensions, value,", "report_interval=None",
    "with_debug_level", "send_metric", "backlog_limit", "`UnitName`",
])  # fmt: skip
def test_migration_covers(topic: str) -> None:
    assert topic in MIGRATION


def test_what_the_page_says_is_removed_is_gone() -> None:
    for name in REMOVED_CLASSES:
        assert not hasattr(aiocloudwatch, name)
        assert not hasattr(cloudwatch, name)
    assert not hasattr(CloudWatchSyncMetrics, "setup_client")
    reporter = CloudWatchSyncMetricReporter(transport=DryRunTransport(), flush_on_exit=False)
    assert not hasattr(reporter, "metrics")
    assert not hasattr(reporter, "statistics")


def test_wire_differences_as_the_page_says() -> None:
    transport = DryRunTransport()
    reporter = CloudWatchSyncMetricReporter(transport=transport, flush_on_exit=False)
    CloudWatchSyncMetrics.with_namespace("App").with_reporter(reporter)
    CloudWatchSyncMetrics.put_metric(MetricName="m", Value=1, Dimensions={"B": "1", "A": "2"})
    CloudWatchSyncMetrics.put_metric(MetricName="m", Value=2, Dimensions={"A": "2", "B": "1"})
    with pytest.raises(MetricTypeError, match="Dimensions='Bytes'"):
        CloudWatchSyncMetrics.put_statistic("Size", None, 512, "Bytes")  # type: ignore[arg-type]
    assert reporter.flush(timeout=5)
    (datum,) = transport.datums()  # both dimension orders: one series
    assert [d["Name"] for d in datum["Dimensions"]] == ["A", "B"]
    assert datum["Values"] == [1.0, 2.0]
    assert "Counts" not in datum  # all counts 1
    assert datum["Timestamp"] % 60 == 0  # the observation's minute, UTC epoch
