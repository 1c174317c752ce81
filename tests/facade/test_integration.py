"""The seed's examples, verbatim, against the strict local CloudWatch over real sockets,
with the transport chosen by default resolution from the environment only."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from cloudwatch_metrics_client.aiocloudwatch import (
    CloudWatchAsyncMetricReporter,
    CloudWatchAsyncMetrics,
)
from cloudwatch_metrics_client.cloudwatch import (
    CloudWatchSyncMetricReporter,
    CloudWatchSyncMetrics,
)
from cwmetrics_transports import Boto3Transport, HttpxTransport, ToThread
from cwmetrics_transports.testing import LocalCloudWatch

NS = "Seed/Example"
DIMS = {"Kind": "metric-kind", "Sort": "metric-sort"}


def test_async_seed_example_default_client(
    local_cloudwatch: LocalCloudWatch, local_cloudwatch_env: object
) -> None:
    values = [1, 5, 5, 12.5, 7]

    async def main() -> CloudWatchAsyncMetricReporter:
        reporter = CloudWatchAsyncMetricReporter(report_interval=60)

        async def setup() -> None:
            CloudWatchAsyncMetrics.with_namespace(NS).with_reporter(reporter)
            await reporter.run()

        @CloudWatchAsyncMetrics.monitored_task
        async def process_request(request: dict[str, str]) -> None:
            CloudWatchAsyncMetrics.with_monitored_dimension(
                "TypeOfRequest", request["type"]
            ).with_monitored_dimension("SpecificAttribute", request["attr"])
            for value in values:
                await CloudWatchAsyncMetrics.put_metric(
                    MetricName="particular-metric-name",
                    Unit="Count",
                    Dimensions=DIMS,
                    Value=value,
                )
                await CloudWatchAsyncMetrics.put_statistic(
                    MetricName="particular-statistic-name",
                    Unit="Count",
                    Dimensions=DIMS,
                    Value=value,
                )

        await setup()
        await asyncio.gather(*(process_request({"type": t, "attr": "a"}) for t in "xyz"))
        assert await reporter.flush()
        await reporter.stop()
        return reporter

    reporter = asyncio.run(main())
    assert isinstance(reporter.transport, HttpxTransport)  # default: httpx when installed
    metric = local_cloudwatch.series_stats(NS, "particular-metric-name", DIMS)
    assert metric.sample_count == 15 and metric.sum == 3 * sum(values)
    assert dict(metric.values) == {1.0: 3, 5.0: 6, 12.5: 3, 7.0: 3}
    statistic = local_cloudwatch.series_stats(NS, "particular-statistic-name", DIMS)
    assert (statistic.sample_count, statistic.sum) == (15, 3 * sum(values))
    assert (statistic.minimum, statistic.maximum) == (1, 12.5)
    assert statistic.statistic_set_count >= 1 and not statistic.values
    for kind in "xyz":
        timing = local_cloudwatch.series_stats(
            NS, "process_request", {"TypeOfRequest": kind, "SpecificAttribute": "a"}
        )
        assert timing.sample_count == 1
    # And through the public read API, as a user would check:
    points = local_cloudwatch.boto3_client().get_metric_statistics(
        Namespace=NS, MetricName="particular-metric-name",
        Dimensions=[{"Name": k, "Value": v} for k, v in DIMS.items()],
        StartTime=0, EndTime=4_000_000_000, Period=60, Statistics=["SampleCount", "Sum"],
    )["Datapoints"]
    assert sum(p["SampleCount"] for p in points) == 15


def test_sync_seed_example_default_client(
    local_cloudwatch: LocalCloudWatch, local_cloudwatch_env: object
) -> None:
    reporter = CloudWatchSyncMetricReporter(report_interval=60)

    def setup() -> None:
        CloudWatchSyncMetrics.with_namespace(NS).with_reporter(reporter)
        reporter.run()

    @CloudWatchSyncMetrics.monitored_task
    def process_request(request: str) -> None:
        CloudWatchSyncMetrics.with_monitored_dimension("TypeOfRequest", request)
        CloudWatchSyncMetrics.put_metric(
            MetricName="particular-metric-name", Unit="Count", Dimensions=DIMS, Value=2
        )

    setup()
    threads = [threading.Thread(target=process_request, args=(r,)) for r in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reporter.stop()
    assert isinstance(reporter.transport, Boto3Transport)  # default: boto3
    assert local_cloudwatch.series_stats(NS, "particular-metric-name", DIMS).sum == 4
    for r in ("a", "b"):
        assert local_cloudwatch.series_stats(
            NS, "process_request", {"TypeOfRequest": r}
        ).sample_count == 1


def test_with_client_boto3_client_runs_in_a_worker_thread_from_async(
    local_cloudwatch: LocalCloudWatch,
) -> None:
    client = local_cloudwatch.boto3_client()

    async def main() -> CloudWatchAsyncMetricReporter:
        reporter = CloudWatchAsyncMetricReporter(report_interval=60)
        CloudWatchAsyncMetrics.with_namespace(NS).with_reporter(reporter).with_client(client)
        await CloudWatchAsyncMetrics.put_metric(MetricName="m", Value=3)
        assert await reporter.flush()
        return reporter

    reporter = asyncio.run(main())
    assert isinstance(reporter.transport, ToThread)
    assert local_cloudwatch.series_stats(NS, "m").sum == 3


def test_with_client_aiobotocore(local_cloudwatch: LocalCloudWatch) -> None:
    from aiobotocore.session import get_session

    async def main() -> None:
        session = get_session()
        async with session.create_client(
            "cloudwatch", endpoint_url=local_cloudwatch.url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        ) as client:
            reporter = CloudWatchAsyncMetricReporter(report_interval=60)
            CloudWatchAsyncMetrics.with_namespace(NS).with_reporter(reporter).with_client(client)
            await CloudWatchAsyncMetrics.put_metric(MetricName="aio", Value=4)
            assert await reporter.flush()

    asyncio.run(main())
    assert local_cloudwatch.series_stats(NS, "aio").sum == 4


def _subprocess_env(server: LocalCloudWatch) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(server.env())
    return env


def test_atexit_flushes_what_was_recorded(local_cloudwatch: LocalCloudWatch) -> None:
    script = textwrap.dedent(
        """
        from cloudwatch_metrics_client.cloudwatch import (
            CloudWatchSyncMetrics, CloudWatchSyncMetricReporter)
        reporter = CloudWatchSyncMetricReporter(report_interval=3600)
        CloudWatchSyncMetrics.with_namespace("Seed/Exit").with_reporter(reporter)
        reporter.run()
        for v in range(10):
            CloudWatchSyncMetrics.put_metric(MetricName="at-exit", Value=v)
        # no flush, no stop: the process just ends
        """
    )
    subprocess.run([sys.executable, "-c", script], env=_subprocess_env(local_cloudwatch),
                   check=True, timeout=60)
    assert local_cloudwatch.series_stats("Seed/Exit", "at-exit").sample_count == 10


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_starts_empty_and_reports_its_own_data(
    local_cloudwatch: LocalCloudWatch, local_cloudwatch_env: object
) -> None:
    reporter = CloudWatchSyncMetricReporter(report_interval=3600, flush_on_exit=False)
    CloudWatchSyncMetrics.with_namespace("Seed/Fork").with_reporter(reporter)
    reporter.run()
    CloudWatchSyncMetrics.put_metric(MetricName="parent", Value=1)
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            stats = reporter.stats
            CloudWatchSyncMetrics.put_metric(MetricName="child", Value=2)
            ok = stats.recorded == 0 and reporter.flush(timeout=20)
            code = 0 if ok else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert reporter.stop(timeout=20)
    assert local_cloudwatch.series_stats("Seed/Fork", "parent").sample_count == 1
    assert local_cloudwatch.series_stats("Seed/Fork", "child").sample_count == 1


def test_async_default_falls_back_to_aiobotocore_without_httpx(
    local_cloudwatch: LocalCloudWatch, local_cloudwatch_env: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cloudwatch_metrics_client._resolve as resolve
    from cwmetrics_transports import AioBotocoreTransport

    real = resolve._installed
    monkeypatch.setattr(resolve, "_installed", lambda name: name != "httpx" and real(name))

    async def main() -> CloudWatchAsyncMetricReporter:
        async with CloudWatchAsyncMetricReporter() as reporter:
            CloudWatchAsyncMetrics.with_namespace(NS).with_reporter(reporter)
            await CloudWatchAsyncMetrics.put_metric(MetricName="fallback", Value=6)
        return reporter

    reporter = asyncio.run(main())
    assert isinstance(reporter.transport, AioBotocoreTransport)
    assert local_cloudwatch.series_stats(NS, "fallback").sum == 6
