"""The asyncio API against DryRunTransport (mirrors test_sync.py)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from cloudwatch_metrics_client import Metrics
from cloudwatch_metrics_client.aiocloudwatch import (
    CloudWatchAsyncMetricReporter,
    CloudWatchAsyncMetrics,
)
from cwmetrics_core import (
    CoreConfig,
    InvalidMetricError,
    PutMetricDataRequest,
    RetryPolicy,
    SendOutcome,
)
from cwmetrics_transports import DryRunTransport

UNAVAILABLE = SendOutcome(ok=False, http_status=503, error_code="ServiceUnavailable")
T = TypeVar("T")


def run(factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(factory())  # type: ignore[arg-type]


def make(**kwargs: Any) -> tuple[CloudWatchAsyncMetricReporter, DryRunTransport]:
    transport = DryRunTransport()
    return CloudWatchAsyncMetricReporter(transport=transport, **kwargs), transport


def test_seed_usage_verbatim() -> None:
    async def main() -> DryRunTransport:
        reporter, transport = make(report_interval=60)

        async def setup() -> None:
            CloudWatchAsyncMetrics.with_namespace("Seed").with_reporter(reporter)
            await reporter.run()

        @CloudWatchAsyncMetrics.monitored_task
        async def process_request(request: str) -> str:
            CloudWatchAsyncMetrics.with_monitored_dimension(
                "TypeOfRequest", request
            ).with_monitored_dimension("SpecificAttribute", "x")
            await CloudWatchAsyncMetrics.put_metric(
                MetricName="particular-metric-name",
                Unit="Count",
                Dimensions={"Kind": "metric-kind", "Sort": "metric-sort"},
                Value=3,
            )
            await CloudWatchAsyncMetrics.put_statistic(
                MetricName="particular-metric-name",
                Unit="Count",
                Dimensions={"Kind": "metric-kind", "Sort": "metric-sort"},
                Value=5,
            )
            return request.upper()

        await setup()
        assert await process_request("get") == "GET"
        assert await process_request("put") == "PUT"
        assert await reporter.flush()
        await reporter.stop()
        return transport

    transport = run(main)
    totals = transport.totals()
    dims = (("Kind", "metric-kind"), ("Sort", "metric-sort"))
    assert totals[("Seed", "particular-metric-name", dims)]["SampleCount"] == 4
    assert sorted(k[2] for k in totals if k[1] == "process_request") == [
        (("SpecificAttribute", "x"), ("TypeOfRequest", "get")),
        (("SpecificAttribute", "x"), ("TypeOfRequest", "put")),
    ]


def test_flush_without_run() -> None:
    async def main() -> DryRunTransport:
        reporter, transport = make()
        CloudWatchAsyncMetrics.with_namespace("App").with_reporter(reporter)
        for v in (1, 2, 2):
            await CloudWatchAsyncMetrics.put_metric(MetricName="m", Value=v)
        assert await reporter.flush()
        return transport

    (datum,) = run(main).datums()
    assert datum["Values"] == [1.0, 2.0] and datum["Counts"] == [1.0, 2.0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"Value": math.nan}, "Value"), ({"Value": 1, "Unit": "Parsecs"}, "Unit"),
     ({"Value": 1, "Timestamp": time.time() - 15 * 86400}, "Timestamp")],
)
def test_bad_input_raises_at_the_call_site(kwargs: dict[str, object], field: str) -> None:
    async def main() -> None:
        reporter, _ = make()
        CloudWatchAsyncMetrics.with_namespace("App").with_reporter(reporter)
        with pytest.raises(InvalidMetricError) as info:
            await CloudWatchAsyncMetrics.put_metric(MetricName="m", **kwargs)  # type: ignore[arg-type]
        assert info.value.field == field
        assert reporter.stats.recorded == 0

    run(main)


def test_dimension_isolation_between_1000_concurrent_tasks() -> None:
    async def main() -> DryRunTransport:
        reporter, transport = make()
        CloudWatchAsyncMetrics.with_namespace("App").with_reporter(reporter)

        @CloudWatchAsyncMetrics.monitored_task(metric_name="Handler")
        async def handler(i: int) -> None:
            CloudWatchAsyncMetrics.with_monitored_dimension("Task", str(i))
            await asyncio.sleep(0.001 * (i % 7))
            CloudWatchAsyncMetrics.with_monitored_dimension("Echo", str(i))

        await asyncio.gather(*(handler(i) for i in range(1000)))
        assert await reporter.flush()
        return transport

    totals = run(main).totals()
    assert len(totals) == 1000
    for (_, name, dims), t in totals.items():
        assert name == "Handler" and t["SampleCount"] == 1
        assert dims[0][1] == dims[1][1]  # Echo == Task: never another task's value


def test_monitored_task_counts_failures() -> None:
    async def main() -> DryRunTransport:
        reporter, transport = make()
        CloudWatchAsyncMetrics.with_namespace("App").with_reporter(reporter)

        @CloudWatchAsyncMetrics.monitored_task
        async def job(fail: bool) -> None:
            await asyncio.sleep(0)
            if fail:
                raise KeyError("x")

        await job(False)
        with pytest.raises(KeyError):
            await job(True)
        assert await reporter.flush()
        return transport

    totals = run(main).totals()
    assert totals[("App", "job", ())]["SampleCount"] == 2
    assert totals[("App", "jobFailures", ())]["Sum"] == 1


def test_recording_never_yields_to_the_loop() -> None:
    async def main() -> None:
        reporter, _ = make()
        CloudWatchAsyncMetrics.with_namespace("App").with_reporter(reporter)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        for i in range(1000):
            await CloudWatchAsyncMetrics.put_metric(MetricName="m", Value=i)
        assert ticks == before
        task.cancel()

    run(main)


def test_reporter_survives_failures_and_delivers_once() -> None:
    async def main() -> tuple[CloudWatchAsyncMetricReporter, DryRunTransport]:
        transport = DryRunTransport(outcomes=[UNAVAILABLE] * 3)
        fast = CoreConfig(retry=RetryPolicy(base_delay=0.02, max_delay=0.1))
        reporter = CloudWatchAsyncMetricReporter(transport=transport, config=fast)
        Metrics("App", reporter).put_value("v", 1.0, count=7)
        assert await reporter.flush(timeout=5)
        return reporter, transport

    reporter, transport = run(main)
    assert reporter.stats.sent == 7 and reporter.stats.retried == 3
    assert len(transport.requests) == 1


def test_background_task_sends_and_stop_drains() -> None:
    async def main() -> DryRunTransport:
        reporter, transport = make(report_interval=0.05)
        metrics = Metrics("App", reporter)
        await reporter.run()
        metrics.put_value("v", 1.0)
        for _ in range(200):
            if transport.requests:
                break
            await asyncio.sleep(0.01)
        assert transport.requests
        metrics.put_value("v", 2.0)
        assert await reporter.stop()
        return transport

    assert len(run(main).requests) == 2


def test_stop_with_dead_endpoint_returns_within_timeout() -> None:
    async def main() -> CloudWatchAsyncMetricReporter:
        transport = DryRunTransport(outcomes=[UNAVAILABLE] * 1000)
        reporter = CloudWatchAsyncMetricReporter(transport=transport)
        Metrics("App", reporter).put_value("v", 1.0, count=3)
        await reporter.run()
        started = time.monotonic()
        assert await reporter.stop(timeout=0.5) is False
        assert time.monotonic() - started < 2.0
        return reporter

    assert run(main).stats.core.dropped_shutdown == 3


def test_cancelling_flush_leaves_the_send_in_flight() -> None:
    """Cancelling the caller's ``flush()`` cancels its wait, not the send: the request
    stays in flight and is acknowledged when the transport answers (sent once)."""

    class Hanging(DryRunTransport):
        release: asyncio.Event

        async def asend(self, request: PutMetricDataRequest) -> SendOutcome:
            await asyncio.wait_for(self.release.wait(), 30)
            return self.send(request)

    async def main() -> tuple[CloudWatchAsyncMetricReporter, Hanging]:
        transport = Hanging()
        transport.release = asyncio.Event()
        reporter = CloudWatchAsyncMetricReporter(transport=transport)
        Metrics("App", reporter).put_value("v", 1.0, count=5)
        flushing = asyncio.create_task(reporter.flush())
        await asyncio.sleep(0.05)
        assert reporter.stats.in_flight == 5
        flushing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await flushing
        assert reporter.stats.in_flight == 5 and reporter.stats.buffered == 0
        transport.release.set()
        assert await reporter.flush()
        await reporter.stop()
        return reporter, transport

    reporter, transport = run(main)
    assert reporter.stats.sent == 5 and len(transport.requests) == 1


def test_async_with_drains() -> None:
    async def main() -> DryRunTransport:
        transport = DryRunTransport()
        async with CloudWatchAsyncMetricReporter(transport=transport) as reporter:
            Metrics("App", reporter).put_value("v", 2.0)
        return transport

    assert len(run(main).requests) == 1


def test_unsent_data_warns_when_the_loop_closes(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        reporter, _ = make()
        await reporter.run()
        Metrics("App", reporter).put_value("v", 2.0)
        await asyncio.sleep(0)

    with pytest.warns(ResourceWarning, match="unsent"):
        run(main)


def test_stop_lets_the_send_in_hand_finish_instead_of_resending_it() -> None:
    """Regression: stop() used to cancel the loop mid-request and re-send that batch."""

    class Slow(DryRunTransport):
        async def asend(self, request: PutMetricDataRequest) -> SendOutcome:
            await asyncio.sleep(0.2)
            return self.send(request)

    async def main() -> tuple[CloudWatchAsyncMetricReporter, Slow]:
        transport = Slow()
        reporter = CloudWatchAsyncMetricReporter(report_interval=0.01, transport=transport)
        Metrics("App", reporter).put_value("v", 1.0, count=4)
        await reporter.run()
        await asyncio.sleep(0.05)  # the loop is now inside asend()
        assert reporter.stats.in_flight == 4
        assert await reporter.stop(timeout=5)
        return reporter, transport

    reporter, transport = run(main)
    assert len(transport.attempts) == 1
    assert reporter.stats.sent == 4


def test_a_hung_sync_client_does_not_hold_up_asyncio_run() -> None:
    import threading as _threading

    from cwmetrics_transports import ToThread

    release = _threading.Event()

    class Hung(DryRunTransport):
        def send(self, request: PutMetricDataRequest) -> SendOutcome:
            release.wait(30)
            return super().send(request)

    async def main() -> bool:
        reporter = CloudWatchAsyncMetricReporter(transport=ToThread(Hung()))
        Metrics("App", reporter).put_value("v", 1.0)
        await reporter.run()
        return await reporter.stop(timeout=0.5)

    started = time.monotonic()
    try:
        assert run(main) is False
        assert time.monotonic() - started < 5.0
    finally:
        release.set()


def test_second_review_regressions() -> None:
    """Wrappers keep what they return, child tasks add to their call's dimensions, and the
    async facade's return value is a real coroutine for create_task."""
    import contextlib
    import functools

    async def main() -> DryRunTransport:
        reporter, transport = make()
        CloudWatchAsyncMetrics.with_namespace("App").with_reporter(reporter)

        async def fetch() -> int:
            return 42

        @functools.wraps(fetch)
        def sync_wrapper() -> Any:
            return fetch()

        timed = CloudWatchAsyncMetrics.monitored_task(metric_name="Wrapped")(sync_wrapper)
        assert await timed() == 42  # the wrapper returned a coroutine; we pass it through

        @CloudWatchAsyncMetrics.monitored_task(metric_name="Cm")
        @contextlib.contextmanager
        def managed() -> Any:
            yield 1

        with managed() as value:
            assert value == 1

        @CloudWatchAsyncMetrics.monitored_task(metric_name="Parent")
        async def parent() -> None:
            async def child() -> None:
                CloudWatchAsyncMetrics.with_monitored_dimension("Kind", "child")

            await asyncio.gather(child())

        await parent()
        await asyncio.create_task(CloudWatchAsyncMetrics.put_metric(MetricName="t", Value=1))
        assert await reporter.flush()
        return transport

    totals = run(main).totals()
    assert ("App", "Parent", (("Kind", "child"),)) in totals
    assert ("App", "t", ()) in totals and ("App", "Cm", ()) in totals
