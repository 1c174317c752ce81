"""The sync API against DryRunTransport (mirrored by test_async.py)."""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from cloudwatch_metrics_client import Metrics
from cloudwatch_metrics_client.cloudwatch import (
    CloudWatchSyncMetricReporter,
    CloudWatchSyncMetrics,
)
from cwmetrics_core import (
    CoreConfig,
    CoreStateError,
    InvalidMetricError,
    RetryPolicy,
    SendOutcome,
)
from cwmetrics_transports import DryRunTransport

UNAVAILABLE = SendOutcome(ok=False, http_status=503, error_code="ServiceUnavailable")


def make(**kwargs: object) -> tuple[CloudWatchSyncMetricReporter, DryRunTransport]:
    transport = DryRunTransport()
    reporter = CloudWatchSyncMetricReporter(
        transport=transport, flush_on_exit=False, **kwargs  # type: ignore[arg-type]
    )
    return reporter, transport


def test_seed_usage_verbatim() -> None:
    reporter, transport = make(report_interval=60)
    CloudWatchSyncMetrics.with_namespace("Seed").with_reporter(reporter)
    reporter.run()

    @CloudWatchSyncMetrics.monitored_task
    def process_request(request: str) -> str:
        CloudWatchSyncMetrics.with_monitored_dimension(
            "TypeOfRequest", request
        ).with_monitored_dimension("SpecificAttribute", "x")
        CloudWatchSyncMetrics.put_metric(
            MetricName="particular-metric-name",
            Unit="Count",
            Dimensions={"Kind": "metric-kind", "Sort": "metric-sort"},
            Value=3,
        )
        CloudWatchSyncMetrics.put_statistic(
            MetricName="particular-metric-name",
            Unit="Count",
            Dimensions={"Kind": "metric-kind", "Sort": "metric-sort"},
            Value=5,
        )
        return request.upper()

    assert process_request("get") == "GET"
    assert process_request("put") == "PUT"
    assert reporter.flush(timeout=5)
    totals = transport.totals()
    dims = (("Kind", "metric-kind"), ("Sort", "metric-sort"))
    assert totals[("Seed", "particular-metric-name", dims)]["SampleCount"] == 4
    timing = [k for k in totals if k[1] == "process_request"]
    assert sorted(k[2] for k in timing) == [
        (("SpecificAttribute", "x"), ("TypeOfRequest", "get")),
        (("SpecificAttribute", "x"), ("TypeOfRequest", "put")),
    ]
    reporter.stop()


def test_put_metric_keeps_values_and_put_statistic_aggregates() -> None:
    reporter, transport = make()
    metrics = Metrics("App", reporter)
    for v in (1, 2, 2, 3):
        metrics.put_value("lat", v, unit="Milliseconds")
    for v in (10, 20):
        metrics.put_statistic("size", v, unit="Bytes")
    assert reporter.flush()
    by_name = {d["MetricName"]: d for d in transport.datums()}
    assert by_name["lat"]["Values"] == [1.0, 2.0, 3.0]
    assert by_name["lat"]["Counts"] == [1.0, 2.0, 1.0]
    assert by_name["size"]["StatisticValues"] == {
        "SampleCount": 2.0, "Sum": 30.0, "Minimum": 10.0, "Maximum": 20.0,
    }


def test_boto3_style_dimensions_timestamp_and_resolution() -> None:
    reporter, transport = make()
    CloudWatchSyncMetrics.with_namespace("App").with_reporter(reporter)
    when = datetime.now(timezone.utc) - timedelta(hours=1)
    CloudWatchSyncMetrics.put_metric(
        MetricName="m",
        Value=1.5,
        Dimensions=[{"Name": "B", "Value": "2"}, {"Name": "A", "Value": "1"}],
        Timestamp=when.replace(tzinfo=None),
        StorageResolution=1,
    )
    CloudWatchSyncMetrics.put_metric(MetricName="m", Value=1.5, Dimensions={"A": "1", "B": "2"},
                                     Timestamp=when.timestamp(), StorageResolution=1)
    assert reporter.flush()
    (datum,) = transport.datums()
    assert datum["Dimensions"] == [{"Name": "A", "Value": "1"}, {"Name": "B", "Value": "2"}]
    assert datum["Timestamp"] == int(when.timestamp())
    assert datum["StorageResolution"] == 1
    assert datum["Counts"] == [2.0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"Value": math.nan}, "Value"),
        ({"Value": "12"}, "Value"),
        ({"Value": 1, "Unit": "Parsecs"}, "Unit"),
        ({"Value": 1, "Dimensions": {"": "x"}}, "Dimensions[0].Name"),
        ({"Value": 1, "Timestamp": time.time() - 15 * 86400}, "Timestamp"),
        ({"Value": 1, "Timestamp": time.time() + 3 * 3600}, "Timestamp"),
        ({"Value": 1, "StorageResolution": 30}, "StorageResolution"),
    ],
)
def test_bad_input_raises_at_the_call_site(kwargs: dict[str, object], field: str) -> None:
    reporter, _ = make()
    CloudWatchSyncMetrics.with_namespace("App").with_reporter(reporter)
    CloudWatchSyncMetrics.put_metric(MetricName="ok", Value=1)
    before = reporter.stats
    with pytest.raises(InvalidMetricError) as info:
        CloudWatchSyncMetrics.put_metric(MetricName="m", **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert reporter.stats == before


def test_errors_log_mode_counts_and_drops(caplog: pytest.LogCaptureFixture) -> None:
    reporter, transport = make(errors="log")
    metrics = Metrics("App", reporter)
    metrics.put_value("ok", 1)
    for _ in range(3):
        metrics.put_value("bad", math.inf)
    assert reporter.stats.invalid_dropped == 3
    assert sum("dropped invalid metric call" in r.message for r in caplog.records) == 1
    assert reporter.flush()
    assert [d["MetricName"] for d in transport.datums()] == ["ok"]


def test_monitored_dimension_outside_a_monitored_call() -> None:
    with pytest.raises(CoreStateError, match="monitored_task"):
        CloudWatchSyncMetrics.with_monitored_dimension("a", "b")


def test_monitored_task_times_failures_and_counts_them() -> None:
    reporter, transport = make()
    CloudWatchSyncMetrics.with_namespace("App").with_reporter(reporter)

    @CloudWatchSyncMetrics.monitored_task(metric_name="Job", unit="Seconds")
    def job(fail: bool) -> None:
        time.sleep(0.02)
        if fail:
            raise ValueError("boom")

    job(False)
    with pytest.raises(ValueError, match="boom"):
        job(True)
    assert reporter.flush()
    totals = transport.totals()
    assert totals[("App", "Job", ())]["SampleCount"] == 2
    assert totals[("App", "Job", ())]["Minimum"] >= 0.02
    assert totals[("App", "JobFailures", ())]["Sum"] == 1


def test_timings_longer_than_a_second_are_correct() -> None:
    clock = iter([0.0, 1.75])
    import cloudwatch_metrics_client._timer as timer_module

    reporter, transport = make()
    metrics = Metrics("App", reporter)
    real = timer_module.time.perf_counter
    timer_module.time.perf_counter = lambda: next(clock)  # type: ignore[assignment]
    try:
        with metrics.timer("Slow") as run:
            pass
    finally:
        timer_module.time.perf_counter = real  # type: ignore[assignment]
    assert run.duration == 1750.0
    assert reporter.flush()
    assert transport.datums()[0]["Values"] == [1750.0]


def test_timer_decorates_generators() -> None:
    reporter, transport = make()
    metrics = Metrics("App", reporter)

    @metrics.timer("Gen")
    def gen() -> object:
        yield 1
        yield 2

    assert list(gen()) == [1, 2]
    assert reporter.flush()
    assert transport.totals()[("App", "Gen", ())]["SampleCount"] == 1


def test_per_thread_monitored_dimensions_never_cross() -> None:
    reporter, transport = make()
    CloudWatchSyncMetrics.with_namespace("App").with_reporter(reporter)
    barrier = threading.Barrier(8)

    @CloudWatchSyncMetrics.monitored_task
    def handler(i: int) -> None:
        CloudWatchSyncMetrics.with_monitored_dimension("Worker", str(i))
        barrier.wait()
        CloudWatchSyncMetrics.with_monitored_dimension("Echo", str(i))

    threads = [threading.Thread(target=handler, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reporter.flush()
    dims = sorted(k[2] for k in transport.totals())
    assert dims == sorted((("Echo", str(i)), ("Worker", str(i))) for i in range(8))


def test_exact_totals_from_8_threads() -> None:
    reporter, transport = make(report_interval=0.05)
    metrics = Metrics("App", reporter)
    reporter.run()
    n = 50_000

    def work(i: int) -> None:
        for j in range(n):
            metrics.put_value("v", float(j % 100), dimensions={"T": str(i % 2)})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reporter.stop(timeout=10)
    totals = transport.totals()
    assert sum(t["SampleCount"] for t in totals.values()) == 8 * n
    assert sum(t["Sum"] for t in totals.values()) == 8 * sum(j % 100 for j in range(n))
    stats = reporter.stats
    assert stats.sent == 8 * n and stats.dropped == 0


def test_reporter_survives_failures_and_delivers_once() -> None:
    transport = DryRunTransport(outcomes=[UNAVAILABLE] * 3)
    fast = CoreConfig(retry=RetryPolicy(base_delay=0.02, max_delay=0.1))
    reporter = CloudWatchSyncMetricReporter(transport=transport, config=fast, flush_on_exit=False)
    metrics = Metrics("App", reporter)
    metrics.put_value("v", 1.0, count=7)
    assert reporter.flush(timeout=5)
    stats = reporter.stats
    assert stats.sent == 7 and stats.retried == 3
    assert len(transport.requests) == 1


def test_stop_with_dead_endpoint_returns_within_timeout() -> None:
    transport = DryRunTransport(outcomes=[UNAVAILABLE] * 1000)
    reporter = CloudWatchSyncMetricReporter(transport=transport, flush_on_exit=False)
    Metrics("App", reporter).put_value("v", 1.0, count=3)
    reporter.run()
    started = time.monotonic()
    assert reporter.stop(timeout=0.5) is False
    assert time.monotonic() - started < 2.0
    assert reporter.stats.core.dropped_shutdown == 3
    with pytest.raises(CoreStateError):
        reporter.run()


def test_background_loop_sends_on_its_own() -> None:
    reporter, transport = make(report_interval=0.05)
    Metrics("App", reporter).put_value("v", 1.0)
    reporter.run()
    deadline = time.monotonic() + 5
    while not transport.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert transport.requests
    reporter.stop()


def test_transport_exceptions_never_reach_user_code() -> None:
    class Exploding(DryRunTransport):
        calls = 0

        def send(self, request):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("bug in transport")
            return super().send(request)

    transport = Exploding()
    reporter = CloudWatchSyncMetricReporter(transport=transport, flush_on_exit=False)
    Metrics("App", reporter).put_value("v", 1.0)
    assert reporter.flush(timeout=10)
    assert reporter.stats.background_errors == 1
    assert len(transport.requests) == 1


def test_context_manager_drains() -> None:
    transport = DryRunTransport()
    with CloudWatchSyncMetricReporter(transport=transport, flush_on_exit=False) as reporter:
        Metrics("App", reporter).put_value("v", 2.0)
        reporter.run()
    assert len(transport.requests) == 1


def test_with_client_rejects_unknown_objects() -> None:
    reporter, _ = make()
    CloudWatchSyncMetrics.with_reporter(reporter)
    with pytest.raises(TypeError):
        CloudWatchSyncMetrics.with_client(object())


def test_one_timer_times_concurrent_threads_and_nested_blocks() -> None:
    reporter, transport = make()
    metrics = Metrics("App", reporter)
    latency = metrics.timer("Shared")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(500):
                with latency, latency:
                    pass
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert reporter.flush()
    assert transport.totals()[("App", "Shared", ())]["SampleCount"] == 8 * 500 * 2


def test_monitored_generators_do_not_leak_or_cross_dimensions() -> None:
    reporter, transport = make()
    CloudWatchSyncMetrics.with_namespace("App").with_reporter(reporter)

    @CloudWatchSyncMetrics.monitored_task(metric_name="Gen")
    def gen(tag: str) -> object:
        CloudWatchSyncMetrics.with_monitored_dimension("Tag", tag)
        yield 1
        yield 2

    one, two = gen("one"), gen("two")
    assert next(one) == 1 and next(two) == 1
    with pytest.raises(CoreStateError):  # nothing leaked into the caller's context
        CloudWatchSyncMetrics.with_monitored_dimension("Tag", "caller")
    assert list(one) == [2] and list(two) == [2]
    result: list[object] = []
    third = gen("three")
    next(third)
    worker = threading.Thread(target=lambda: result.extend(third))  # finished elsewhere
    worker.start()
    worker.join()
    assert result == [2]
    assert reporter.flush()
    tags = sorted(k[2] for k in transport.totals() if k[1] == "Gen")
    assert tags == [(("Tag", "one"),), (("Tag", "three"),), (("Tag", "two"),)]


def test_errors_log_covers_monitored_dimensions_and_late_calls() -> None:
    reporter, _transport = make(errors="log")
    CloudWatchSyncMetrics.with_namespace("App").with_reporter(reporter)

    @CloudWatchSyncMetrics.monitored_task
    def handler(attr: object) -> None:
        CloudWatchSyncMetrics.with_monitored_dimension("Attr", attr)  # type: ignore[arg-type]

    for bad in ("", 42, "caf\u00e9", None):
        handler(bad)
    assert reporter.stats.invalid_dropped == 4
    reporter.stop()
    CloudWatchSyncMetrics.put_metric(MetricName="late", Value=1)  # after stop: counted
    assert reporter.stats.invalid_dropped == 5


def test_iso8601_timestamps_and_the_age_bound_match_the_core() -> None:
    reporter, _transport = make()
    metrics = Metrics("App", reporter)
    now = datetime.now(timezone.utc)
    metrics.put_value("iso", 1.0, timestamp=(now - timedelta(hours=1)).isoformat())
    metrics.put_value("isoz", 1.0, timestamp=now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    with pytest.raises(InvalidMetricError, match="older than"):
        metrics.put_value("edge", 1.0, timestamp=now - timedelta(days=14) + timedelta(minutes=2))
    with pytest.raises(InvalidMetricError, match="ISO 8601"):
        metrics.put_value("bad", 1.0, timestamp="yesterday")
    assert reporter.flush()
    assert reporter.stats.sent == 2 and reporter.stats.dropped == 0


def test_stop_never_deadlocks_when_it_interrupts_a_record_call() -> None:
    """stop() from a signal handler that interrupted recording.

    A float subclass runs its ``__float__`` while the value is validated: calling stop()
    there is what a SIGTERM handler interrupting that record call does. Recording holds
    no lock, so stop() completes at once; the interrupted call then finds the reporter
    stopped and raises, recording nothing, and every earlier sample was delivered.
    """
    reporter, _transport = make()
    metrics = Metrics("App", reporter)
    metrics.put_value("v", 1.0)
    results: list[tuple[bool, float]] = []

    class Interrupting(float):
        def __float__(self) -> float:
            started = time.monotonic()
            results.append((reporter.stop(timeout=1.0), time.monotonic() - started))
            return 2.0

    with pytest.raises(CoreStateError):
        metrics.put_value("v", Interrupting(2.0))
    ((stopped, took),) = results
    assert stopped is True and took < 1.5
    stats = reporter.stats
    assert stats.recorded == stats.sent == 1 and stats.buffered == 0 and stats.dropped == 0


def test_hooks_are_process_wide_not_per_reporter() -> None:
    import atexit

    from cloudwatch_metrics_client import cloudwatch

    before = atexit._ncallbacks()  # type: ignore[attr-defined]
    for _ in range(50):
        CloudWatchSyncMetricReporter(transport=DryRunTransport()).stop()
    assert atexit._ncallbacks() == before  # type: ignore[attr-defined]
    assert len(cloudwatch._exit_reporters) < 50


def test_awaiting_is_optional_for_async_put_metric() -> None:
    from cloudwatch_metrics_client.aiocloudwatch import (
        CloudWatchAsyncMetricReporter,
        CloudWatchAsyncMetrics,
    )

    transport = DryRunTransport()
    reporter = CloudWatchAsyncMetricReporter(transport=transport)
    CloudWatchAsyncMetrics.with_namespace("App").with_reporter(reporter)
    CloudWatchAsyncMetrics.put_metric(MetricName="forgot-await", Value=1)  # no await
    assert reporter.stats.recorded == 1


def test_samples_dropped_while_packing_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Drops that happen when a request is packed (not at the call, not an answer from the
    endpoint) are counted and logged too: a metric EMF cannot carry, data that aged past
    ``max_timestamp_age`` while the endpoint failed."""
    import io

    from cwmetrics_core import SendOutcome
    from cwmetrics_transports import EmfTransport

    caplog.set_level(logging.WARNING, logger="cloudwatch_metrics_client")
    emf = CloudWatchSyncMetricReporter(report_interval=None, transport=EmfTransport(io.StringIO()))
    metrics = Metrics("App", emf)
    metrics.put_value("Op", 1, dimensions={"Op": "get"})  # EMF: a member named twice
    metrics.put_value("Ok", 1, dimensions={"Op": "get"})
    assert emf.stop(5)
    assert emf.stats.core.dropped_invalid == 1
    assert any("dropped 1 sample(s) as invalid" in r.getMessage() for r in caplog.records)

    failing = DryRunTransport()
    failing.script([SendOutcome(ok=False, http_status=503, error_code="ServiceUnavailable")] * 50)
    reporter = CloudWatchSyncMetricReporter(
        report_interval=None, transport=failing, config=CoreConfig(max_timestamp_age=1.0)
    )
    Metrics("App", reporter).put_value("Late", 1)
    reporter.flush(timeout=3.0)  # fails, backs off; the datum ages past 1 s meanwhile
    assert reporter.stats.core.dropped_expired == 1
    # The reporter's thread may log it a moment after flush() returned: wait (bounded).
    deadline = time.monotonic() + 5.0
    while not any("older than max_timestamp_age=1s" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the expiry was never logged"
        time.sleep(0.01)
    reporter.stop(1)
