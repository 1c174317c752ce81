"""metrics_handler: a Lambda handler (sync and async) driven with a context object as the
runtime passes it; the EMF documents must be written before the invocation ends."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from typing import Any

import pytest

from cloudwatch_metrics_client import (
    CloudWatchAsyncMetricReporter,
    CloudWatchSyncMetricReporter,
    Metrics,
)
from cloudwatch_metrics_client.aws_lambda import function_dimensions, metrics_handler
from cwmetrics_core import InvalidConfigError
from cwmetrics_transports import EmfTransport
from tests.transports.emf_spec import documents, totals

WAIT = 10.0


class LambdaContext:
    """The attributes of the runtime's context object the decorator uses."""

    def __init__(self, timeout: float = 3.0, name: str = "orders") -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.aws_request_id = "req-1"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Stream(io.StringIO):
    """A text stream that signals each write."""

    def __init__(self) -> None:
        super().__init__()
        self.written = threading.Event()

    def write(self, text: str) -> int:
        n = super().write(text)
        self.written.set()
        return n


def samples(text: str) -> dict[str, float]:
    return {k[1]: v["SampleCount"] for k, v in totals(documents(text)).items()}


@pytest.fixture
def sync_setup() -> Any:
    stream = Stream()
    reporter = CloudWatchSyncMetricReporter(
        report_interval=None, transport=EmfTransport(stream), flush_on_exit=False
    )
    yield stream, reporter, Metrics("App", reporter)
    reporter.stop(WAIT)


def test_sync_handler_writes_before_returning(sync_setup: Any) -> None:
    stream, _reporter, metrics = sync_setup

    @metrics_handler(metrics)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        for i in range(event["n"]):
            metrics.put_value("Latency", float(i % 5), unit="Milliseconds")
        assert stream.getvalue() == ""  # nothing written while the handler runs
        return {"ok": True}

    assert handler({"n": 250}, LambdaContext()) == {"ok": True}
    assert samples(stream.getvalue()) == {"Latency": 250}  # already written on return
    assert handler.__name__ == "handler"


def test_sync_handler_that_raises_still_writes(sync_setup: Any) -> None:
    stream, _reporter, metrics = sync_setup

    @metrics_handler(metrics)
    def handler(event: Any, context: Any) -> None:
        metrics.put_value("Errors", 1, unit="Count")
        raise KeyError("boom")

    with pytest.raises(KeyError):
        handler({}, LambdaContext())
    assert samples(stream.getvalue()) == {"Errors": 1}


def test_flushes_before_the_deadline_while_the_handler_still_runs(sync_setup: Any) -> None:
    stream, _reporter, metrics = sync_setup
    seen_during: list[str] = []

    @metrics_handler(metrics, flush_margin=0.5)
    def handler(event: Any, context: Any) -> None:
        metrics.put_value("Progress", 1, unit="Count")
        # The runtime would kill us at the deadline: the early flush must come first.
        assert stream.written.wait(WAIT)
        seen_during.append(stream.getvalue())
        metrics.put_value("Progress", 1, unit="Count")

    handler({}, LambdaContext(timeout=0.6))
    assert samples(seen_during[0]) == {"Progress": 1}
    assert samples(stream.getvalue()) == {"Progress": 2}


def test_cold_start_metric_once_per_process(sync_setup: Any) -> None:
    stream, _reporter, metrics = sync_setup

    @metrics_handler(metrics, cold_start_metric="ColdStart")
    def handler(event: Any, context: Any) -> None:
        metrics.put_value("Calls", 1, unit="Count")

    for _ in range(3):
        handler({}, LambdaContext(name="orders"))
    got = totals(documents(stream.getvalue()))
    assert got[("App", "ColdStart", (("FunctionName", "orders"),))]["SampleCount"] == 1
    assert got[("App", "Calls", ())]["SampleCount"] == 3


def test_async_handler_with_async_reporter() -> None:
    stream = Stream()

    async def main() -> None:
        reporter = CloudWatchAsyncMetricReporter(
            report_interval=None, transport=EmfTransport(stream)
        )
        metrics = Metrics("App", reporter)

        @metrics_handler(metrics)
        async def handler(event: Any, context: Any) -> str:
            for _ in range(10):
                metrics.put_value("Hits", 1, unit="Count")
                await asyncio.sleep(0)
            return "done"

        assert await handler({}, LambdaContext()) == "done"
        assert samples(stream.getvalue()) == {"Hits": 10}  # written before the await ends
        await reporter.stop(WAIT)

    asyncio.run(main())


def test_async_handler_with_sync_reporter(sync_setup: Any) -> None:
    stream, _reporter, metrics = sync_setup

    @metrics_handler(metrics)
    async def handler(event: Any, context: Any) -> None:
        metrics.put_value("Hits", 2.0, unit="Count")

    asyncio.run(handler({}, LambdaContext()))
    assert samples(stream.getvalue()) == {"Hits": 1}


def test_async_handler_flushes_before_the_deadline() -> None:
    stream = Stream()

    async def main() -> None:
        reporter = CloudWatchAsyncMetricReporter(
            report_interval=None, transport=EmfTransport(stream)
        )
        metrics = Metrics("App", reporter)

        @metrics_handler(metrics, flush_margin=0.5)
        async def handler(event: Any, context: Any) -> str:
            metrics.put_value("Progress", 1, unit="Count")
            for _ in range(int(WAIT / 0.01)):  # bounded: until the early flush wrote
                if stream.written.is_set():
                    break
                await asyncio.sleep(0.01)
            return stream.getvalue()

        during = await handler({}, LambdaContext(timeout=0.6))
        assert samples(during) == {"Progress": 1}
        await reporter.stop(WAIT)

    asyncio.run(main())


def test_a_def_handler_refuses_an_async_reporter() -> None:
    reporter = CloudWatchAsyncMetricReporter(report_interval=None, transport=EmfTransport("stdout"))
    metrics = Metrics("App", reporter)

    @metrics_handler(metrics)
    def handler(event: Any, context: Any) -> None:
        return None

    with pytest.raises(TypeError, match="CloudWatchSyncMetricReporter"):
        handler({}, LambdaContext())


def test_bad_arguments() -> None:
    metrics = Metrics("App")
    with pytest.raises(InvalidConfigError, match="flush_margin"):
        metrics_handler(metrics, flush_margin=-1)

    @metrics_handler(metrics)
    def handler(event: Any, context: Any) -> None:
        return None

    with pytest.raises(TypeError, match="no reporter"):
        handler({}, LambdaContext())


def test_inside_lambda_the_default_transport_is_emf_on_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "7")
    monkeypatch.delenv("AWS_EMF_AGENT_ENDPOINT", raising=False)
    reporter = CloudWatchSyncMetricReporter(report_interval=None, flush_on_exit=False)
    try:
        assert isinstance(reporter.transport, EmfTransport)
        metrics = Metrics("App", reporter, dimensions=function_dimensions(version=True))

        @metrics_handler(metrics)
        def handler(event: Any, context: Any) -> None:
            metrics.put_value("Orders", 3, unit="Count")

        handler({}, LambdaContext())
        [doc] = documents(capsys.readouterr().out)
        assert doc["FunctionName"] == "orders" and doc["FunctionVersion"] == "7"
        assert doc["Orders"] == 3
    finally:
        reporter.stop(WAIT)


def test_inside_lambda_the_async_default_is_emf_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    monkeypatch.setenv("AWS_EMF_AGENT_ENDPOINT", "udp://127.0.0.1:25888")
    reporter = CloudWatchAsyncMetricReporter(report_interval=None)
    transport = reporter.transport
    assert isinstance(transport, EmfTransport)
    assert transport.target == "udp://127.0.0.1:25888"  # the agent endpoint is followed


def test_function_dimensions_outside_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert function_dimensions() == {}
