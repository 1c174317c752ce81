"""Faults survived: every scenario goes through real sockets to the strict local CloudWatch.

Each test proves one guarantee of docs/reliability.md and checks the accounting identity
``stored - duplicates + dropped == recorded`` exactly (see conftest.py). The reporters are
parametrized (``sync``: thread driver, ``async``: asyncio driver) and so are the
transports (``httpx``: HttpxTransport + SigV4; ``boto3``: Boto3Transport, run through a
worker thread by the async reporter).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cloudwatch_metrics_client import CloudWatchAsyncMetricReporter, Metrics, ReporterStats
from cwmetrics_transports.testing import LocalCloudWatch

from .conftest import (
    MODES,
    TRANSPORTS,
    Harness,
    StubEndpoint,
    Workload,
    assert_accounted,
    assert_exactly_once,
    duplicated_samples,
    fast_config,
    fast_retry,
    make_transport,
    max_attempts_within,
    min_backoff,
    raw_response,
    wait_idle,
)

REPO = Path(__file__).resolve().parents[2]
HarnessFactory = Callable[..., Harness]
Figures = Callable[[str, object], None]
CODES = {500: "InternalServiceError", 503: "ServiceUnavailable"}


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=TRANSPORTS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("status", sorted(CODES))
def test_random_5xx_then_recovery_delivers_everything_exactly_once(
    local_cloudwatch: LocalCloudWatch, harness_factory: HarnessFactory,
    figures: Figures, mode: str, kind: str, status: int,
) -> None:  # fmt: skip
    """30 % of requests answered 5xx while recording: each failed request is retried with
    backoff, and after recovery every series arrives exactly once (exact SampleCount and
    Sum per series, no duplicates, nothing dropped)."""
    cw = local_cloudwatch
    ns = f"Rel/Random{status}/{mode}/{kind}"
    workload = Workload(ns)
    harness = harness_factory(mode, kind, namespace=ns, config=fast_config(seed=status)).start()
    cw.fail_randomly(0.3, seed=3, status=status, code=CODES[status])
    workload.drive(harness, chunks=16, per_chunk=40, pause=0.05)
    cw.clear_faults()
    assert harness.flush(10)
    stats = harness.stats
    wait_idle(cw)

    server = cw.stats()
    faulted = server.put_faulted.get(CODES[status], 0)
    assert faulted >= 1, "the fault never fired: the scenario proved nothing"
    # Every failure the reporter saw is one the endpoint injected, and every request the
    # reporter made reached the endpoint: nothing was sent anywhere else.
    assert stats.core.send_failures == faulted == stats.retried
    assert server.put_requests == stats.core.requests_sent + stats.core.send_failures
    assert_exactly_once(cw, workload)
    assert_accounted(cw, stats, workload.recorded, ns)
    assert stats.dropped == 0
    figures("recorded/faulted/requests", f"{workload.recorded}/{faulted}/{server.put_requests}")


def test_throttling_pauses_sending_with_backoff_then_delivers_once(
    local_cloudwatch: LocalCloudWatch, harness_factory: HarnessFactory, figures: Figures,
    mode: str, kind: str,
) -> None:  # fmt: skip
    """400 Throttling for a 1.5 s window: the reporter pauses all sending with exponential
    backoff and jitter (never a tight loop: the number of requests in the window is within
    what the schedule allows, and each gap is at least the shortest backoff), resumes
    after the window and delivers everything exactly once."""
    cw = local_cloudwatch
    ns = f"Rel/Throttle/{mode}/{kind}"
    policy = fast_retry()
    window = 1.5
    workload = Workload(ns)
    harness = harness_factory(mode, kind, namespace=ns, config=fast_config()).start()
    cw.fail_for(window, status=400, code="Throttling")
    started = time.monotonic()
    while time.monotonic() - started < window + 0.2:
        workload.drive(harness, chunks=1, per_chunk=25, pause=0.05)
    assert harness.flush(10)
    stats = harness.stats
    wait_idle(cw)

    log = [e for e in cw.request_log() if e.operation == "PutMetricData"]
    throttled = [e for e in log if e.error_code == "Throttling"]
    allowed = max_attempts_within(policy, window + 0.1, throttled=True)
    assert 3 <= len(throttled) <= allowed, (len(throttled), allowed)
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(throttled)]
    for failures, gap in enumerate(gaps, 1):
        assert gap >= min_backoff(policy, failures, throttled=True) - 0.01, (failures, gaps)
    # Sending resumes promptly once the window is over (within one capped backoff).
    first_ok = next(e for e in log if e.status == 200)
    assert first_ok.received_at - throttled[-1].received_at <= policy.max_delay + 1.0
    assert stats.core.send_failures == len(throttled)
    assert_exactly_once(cw, workload)
    assert_accounted(cw, stats, workload.recorded, ns)
    figures("throttled/allowed", f"{len(throttled)}/{allowed}")
    figures("gaps_s", [round(g, 3) for g in gaps])


def test_endpoint_down_then_up_delivers_everything_once(
    local_cloudwatch: LocalCloudWatch, harness_factory: HarnessFactory, mode: str, kind: str,
) -> None:  # fmt: skip
    """Connection refused while the endpoint is down (pooled connections included):
    sends fail as NetworkError and back off; once it is up again everything recorded
    before, during and after the outage arrives exactly once."""
    cw = local_cloudwatch
    ns = f"Rel/Down/{mode}/{kind}"
    workload = Workload(ns)
    harness = harness_factory(mode, kind, namespace=ns).start()
    workload.drive(harness, chunks=2, per_chunk=40, pause=0.05)
    assert harness.flush(5)  # the transport now holds a pooled connection
    cw.down()
    workload.drive(harness, chunks=10, per_chunk=40, pause=0.05)
    during = harness.stats
    assert during.core.send_failures >= 1 and during.sent < workload.recorded
    cw.up()
    workload.drive(harness, chunks=2, per_chunk=40, pause=0.05)
    assert harness.flush(10)
    stats = harness.stats
    wait_idle(cw)
    assert cw.stats().put_requests == stats.core.requests_sent  # refused ones never arrived
    assert_exactly_once(cw, workload)
    assert_accounted(cw, stats, workload.recorded, ns)


def test_slow_answers_beyond_the_timeout_are_retried_at_least_once(
    local_cloudwatch: LocalCloudWatch, harness_factory: HarnessFactory, figures: Figures,
    mode: str, kind: str,
) -> None:  # fmt: skip
    """Answers slower than the transport timeout (2 s vs 1 s) become ``Timeout`` and
    are retried. The endpoint applied those requests anyway, so this is the ambiguous
    case: delivery is at-least-once, and the duplication is exactly the samples of the
    timed-out requests (measured), nothing else is lost or doubled. (The 1 s timeout
    leaves room for a loaded machine: an undelayed request that timed out too would
    duplicate samples this test does not count.)"""
    cw = local_cloudwatch
    ns = f"Rel/Slow/{mode}/{kind}"
    workload = Workload(ns)
    harness = harness_factory(mode, kind, namespace=ns, timeout=1.0).start()
    cw.slow_down(2.0, count=2)
    workload.drive(harness, chunks=8, per_chunk=40, pause=0.05)
    assert harness.flush(10)
    stats = harness.stats
    wait_idle(cw)

    server = cw.stats()
    assert server.delayed == 2
    assert stats.core.send_failures >= 2
    duplicates = duplicated_samples(cw, "delay", ns)
    # Bounded: at most the timed-out requests (each at most everything recorded).
    assert 0 < duplicates <= server.delayed * workload.recorded
    assert_accounted(cw, stats, workload.recorded, ns, duplicates=duplicates)
    stored = {k: s for k, s in cw.series().items() if k[0] == ns}
    extra = math.fsum(stored[k].sample_count - c for k, (c, _) in workload.expected.items())
    assert extra == duplicates  # every series has at least its samples, no more than dup
    figures("recorded/duplicated", f"{workload.recorded}/{duplicates:g}")


def test_connection_dropped_before_apply_is_never_double_counted(
    local_cloudwatch: LocalCloudWatch, harness_factory: HarnessFactory, mode: str, kind: str,
) -> None:  # fmt: skip
    """A connection closed before the endpoint applied the request is retried and the
    data stored exactly once: no double counting when nothing was applied."""
    cw = local_cloudwatch
    ns = f"Rel/DropBefore/{mode}/{kind}"
    workload = Workload(ns)
    harness = harness_factory(mode, kind, namespace=ns).start()
    cw.drop_next(2, after_apply=False)
    workload.drive(harness, chunks=8, per_chunk=40, pause=0.05)
    assert harness.flush(10)
    stats = harness.stats
    wait_idle(cw)
    assert cw.stats().dropped_before_apply == 2
    assert stats.core.send_failures == 2
    assert_exactly_once(cw, workload)
    assert_accounted(cw, stats, workload.recorded, ns)


def test_connection_dropped_after_apply_duplicates_only_that_request(
    local_cloudwatch: LocalCloudWatch, harness_factory: HarnessFactory, figures: Figures,
    mode: str, kind: str,
) -> None:  # fmt: skip
    """A connection closed after the endpoint applied the request is indistinguishable,
    for the client, from one closed before: it is retried (at-least-once). The
    duplication is bounded by, and equal to, the samples of the requests whose answer
    was lost; everything else is exact."""
    cw = local_cloudwatch
    ns = f"Rel/DropAfter/{mode}/{kind}"
    workload = Workload(ns)
    harness = harness_factory(mode, kind, namespace=ns).start()
    cw.drop_next(2, after_apply=True)
    workload.drive(harness, chunks=8, per_chunk=40, pause=0.05)
    assert harness.flush(10)
    stats = harness.stats
    wait_idle(cw)
    server = cw.stats()
    assert server.dropped_after_apply == 2
    duplicates = duplicated_samples(cw, "drop_after_apply", ns)
    assert 0 < duplicates <= server.dropped_after_apply * workload.recorded
    assert_accounted(cw, stats, workload.recorded, ns, duplicates=duplicates)
    figures("recorded/duplicated", f"{workload.recorded}/{duplicates:g}")


def test_outage_longer_than_the_buffer_keeps_memory_bounded(
    local_cloudwatch: LocalCloudWatch, harness_factory: HarnessFactory, figures: Figures,
    mode: str, kind: str,
) -> None:  # fmt: skip
    """An outage that outlasts a small buffer (``max_buffered_datums=50``): the buffer
    never holds more than 50 datums, the overflow is counted in ``dropped_overflow``,
    10 000 record calls neither block nor raise (< 2 s in total), and reporting resumes
    on recovery with exact accounting."""
    cw = local_cloudwatch
    ns = f"Rel/Overflow/{mode}/{kind}"
    limit = 50
    harness = harness_factory(
        mode, kind, namespace=ns, config=fast_config(max_buffered_datums=limit)
    ).start()
    cw.down()
    elapsed: list[float] = []
    peak = 0

    def burst(metrics: Metrics, start: int) -> None:
        began = time.perf_counter()
        for i in range(start, start + 500):
            metrics.put_value("Burst", i % 100, dimensions={"Shard": f"k{i % 400}"})
        elapsed.append(time.perf_counter() - began)

    for chunk in range(20):
        harness.record(lambda m, c=chunk: burst(m, c * 500))
        peak = max(peak, harness.stats.core.buffered_datums)
        time.sleep(0.01)
    outage = harness.stats
    assert sum(elapsed) < 2.0, f"10 000 records took {sum(elapsed):.2f} s during the outage"
    assert peak <= limit and outage.core.buffered_datums <= limit
    assert outage.recorded == 10_000
    assert outage.core.dropped_overflow > 0
    assert outage.core.send_failures >= 1

    cw.up()
    after = Workload(ns, name="AfterOutage", series=4)
    assert harness.flush(10)  # what the buffer kept goes out first
    after.drive(harness, chunks=3, per_chunk=40, pause=0.05)
    assert harness.flush(10)
    stats = harness.stats
    wait_idle(cw)
    assert stats.dropped == stats.core.dropped_overflow
    assert_accounted(cw, stats, 10_000 + after.recorded, ns)
    stored_after = {k: s for k, s in cw.series().items() if k[1] == "AfterOutage"}
    assert {k: (s.sample_count, s.sum) for k, s in stored_after.items()} == {
        k: (c, t) for k, (c, t) in after.expected.items()
    }
    figures("record_10000_s", round(sum(elapsed), 3))
    figures("peak_buffered_datums", peak)
    figures("dropped_overflow", stats.core.dropped_overflow)


def test_rejected_datums_named_by_the_service_are_dropped_alone_and_logged(
    local_cloudwatch: LocalCloudWatch, harness_factory: HarnessFactory,
    caplog: pytest.LogCaptureFixture, figures: Figures, mode: str, kind: str,
) -> None:  # fmt: skip
    """A batch the service rejects as invalid (here: timestamps the endpoint, its clock
    two days ahead, sees as more than 14 days old, which pass our own validation). The
    rejection names the datum (``MetricData.member.N``), so exactly that datum is
    dropped and the rest resent: one failed request per bad datum, the bad samples
    counted in ``dropped_invalid``, the reason in the log, every good datum stored once."""
    caplog.set_level(logging.WARNING, logger="cloudwatch_metrics_client")
    cw = local_cloudwatch
    cw.clock = lambda: time.time() + 2 * 86400
    ns = f"Rel/Invalid/{mode}/{kind}"
    good = Workload(ns, name="Fresh", series=12)
    old = time.time() - 13 * 86400
    harness = harness_factory(mode, kind, namespace=ns, config=fast_config(flush_interval=60))

    def record(metrics: Metrics) -> None:
        good.record(metrics, 240)
        for i in range(30):
            metrics.put_value("Stale", i % 3, dimensions={"Series": f"old{i % 3}"}, timestamp=old)

    harness.record(record)
    assert harness.flush(10)
    stats = harness.stats
    wait_idle(cw)
    assert stats.core.dropped_invalid == 30
    assert stats.core.send_failures == 3  # one per bad datum: no collateral drops
    assert stats.dropped == stats.core.dropped_invalid
    assert_exactly_once(cw, good)
    assert_accounted(cw, stats, 240 + 30, ns)
    assert cw.stats().put_rejected == {"InvalidParameterValue": 3}
    messages = [r.getMessage() for r in caplog.records if r.name == "cloudwatch_metrics_client"]
    assert any(
        "InvalidParameterValue" in m and "past two weeks" in m and "dropped" in m for m in messages
    ), messages
    figures("rejected/requests", f"{stats.core.send_failures}/{cw.stats().put_requests}")


_NO_CULPRIT = raw_response(
    400, "Bad Request",
    b'{"__type":"InvalidParameterValue","message":"One or more timestamps are out of range."}',
    **{"Content-Type": "application/x-amz-json-1.0"},
)  # fmt: skip


def test_rejections_that_name_no_datum_are_bisected(
    stub_endpoint: StubEndpoint, caplog: pytest.LogCaptureFixture, figures: Figures, mode: str,
    kind: str,
) -> None:  # fmt: skip
    """When the service rejects a batch without saying which datum is bad, the batch
    is bisected until each bad datum is alone; only those are dropped
    (``dropped_invalid``), every good datum arrives exactly once, and the log names the
    reason."""
    caplog.set_level(logging.WARNING, logger="cloudwatch_metrics_client")

    def reject(body: dict[str, Any]) -> bytes | None:
        stale = any(d["MetricName"] == "Stale" for d in body["MetricData"])
        return _NO_CULPRIT if stale else None

    stub_endpoint.reject = reject
    ns = f"Rel/Bisect/{mode}"
    good = Workload(ns, name="Fresh", series=12)
    harness = Harness(
        mode, make_transport(kind, stub_endpoint, timeout=2.0), namespace=ns,
        config=fast_config(flush_interval=60),
    )  # fmt: skip
    try:

        def record(metrics: Metrics) -> None:
            good.record(metrics, 240)
            for i in range(30):
                metrics.put_value("Stale", i % 3, dimensions={"Series": f"old{i % 3}"})

        harness.record(record)
        assert harness.flush(10)
        stats = harness.stats
    finally:
        harness.close()
    assert stats.core.dropped_invalid == 30 and stats.dropped == 30
    assert stats.core.splits >= 2
    assert stub_endpoint.samples == {ns: 240}
    assert {k: [int(c), int(t)] for k, (c, t) in stub_endpoint.series.items()} == good.expected
    messages = [r.getMessage() for r in caplog.records]
    assert any("InvalidParameterValue" in m and "out of range" in m for m in messages)
    figures("splits/requests", f"{stats.core.splits}/{stub_endpoint.requests}")


def test_stop_while_the_endpoint_is_down_is_bounded_and_reports_losses(
    local_cloudwatch: LocalCloudWatch, harness_factory: HarnessFactory,
    caplog: pytest.LogCaptureFixture, figures: Figures, mode: str, kind: str,
) -> None:  # fmt: skip
    """``stop()``/``aclose()`` with the endpoint down returns within its timeout (1 s
    here, plus 1 s of scheduling slack on a loaded machine), counts what it could not deliver in
    ``dropped_shutdown`` and says so in a warning; nothing is sent afterwards."""
    caplog.set_level(logging.WARNING, logger="cloudwatch_metrics_client")
    cw = local_cloudwatch
    ns = f"Rel/StopDown/{mode}/{kind}"
    workload = Workload(ns)
    # A send timeout below the 1 s shutdown budget: no abandoned send may outlive stop().
    harness = harness_factory(mode, kind, namespace=ns, shutdown_timeout=1.0, timeout=0.3).start()
    cw.down()
    workload.drive(harness, chunks=3, per_chunk=100, pause=0.02)
    started = time.monotonic()
    delivered = harness.stop()
    elapsed = time.monotonic() - started
    stats = harness.stats
    assert not delivered
    assert elapsed < 1.0 + 1.0, f"stop() took {elapsed:.2f} s with a 1 s budget"
    # A request started just before the deadline is not cancelled (it may have been
    # applied): it stays in flight until its own 0.3 s send timeout, then its samples are
    # counted as shutdown losses too. Wait for that (bounded), never for the endpoint.
    settle_by = time.monotonic() + 0.3 + 2.0
    while harness.stats.in_flight and time.monotonic() < settle_by:
        time.sleep(0.02)
    stats = harness.stats
    assert stats.core.dropped_shutdown == workload.recorded == stats.dropped
    assert stats.buffered == 0 and stats.in_flight == 0
    assert any("undelivered" in r.getMessage() for r in caplog.records)
    cw.up()
    time.sleep(0.2)
    assert cw.stats().put_requests == 0
    assert_accounted(cw, stats, workload.recorded, ns)
    figures("stop_s", round(elapsed, 3))


_EXIT_SCRIPT = textwrap.dedent(
    """
    import logging, sys, time
    from cloudwatch_metrics_client.cloudwatch import (
        CloudWatchSyncMetricReporter, CloudWatchSyncMetrics)

    logging.basicConfig()  # the library's loggers have a NullHandler: the app shows them

    url, kind = sys.argv[1], sys.argv[2]
    if kind == "httpx":
        from cwmetrics_transports import HttpxTransport, StaticSigner
        transport = HttpxTransport(region="us-east-1", endpoint_url=url,
                                   signer=StaticSigner("testing", "testing"), timeout=0.3)
    else:
        import boto3
        from cwmetrics_transports import Boto3Transport
        session = boto3.Session(aws_access_key_id="testing",
                                aws_secret_access_key="testing", region_name="us-east-1")
        transport = Boto3Transport(endpoint_url=url, region="us-east-1", timeout=0.3,
                                   session=session)
    reporter = CloudWatchSyncMetricReporter(report_interval=60, transport=transport,
                                            shutdown_timeout=1.0)
    CloudWatchSyncMetrics.with_namespace("Rel/Exit").with_reporter(reporter)
    reporter.run()
    for i in range(250):
        CloudWatchSyncMetrics.put_metric(MetricName="Exit", Value=i % 10, Unit="Count")
    print("EXITING", repr(time.monotonic()), flush=True)
    # No stop(): the interpreter exits and the atexit hook has to deal with it.
    """
)


@pytest.mark.parametrize("transport_kind", TRANSPORTS)
def test_process_exit_while_down_is_bounded_and_reports_losses(
    local_cloudwatch: LocalCloudWatch, figures: Figures, transport_kind: str
) -> None:
    """A process that records with the sync facade and exits without ``stop()`` while
    the endpoint is down: the atexit hook gives up after ``shutdown_timeout`` (1 s, plus
    margin) and the undelivered count is printed (warning on stderr)."""
    cw = local_cloudwatch
    cw.down()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    completed = subprocess.run(
        [sys.executable, "-c", _EXIT_SCRIPT, cw.url, transport_kind],
        capture_output=True, text=True, timeout=30, cwd=REPO, env=env, check=False,
    )  # fmt: skip
    ended = time.monotonic()
    assert completed.returncode == 0, completed.stderr
    marker = next(line for line in completed.stdout.splitlines() if line.startswith("EXITING"))
    exit_took = ended - float(marker.split()[1])
    assert exit_took < 1.0 + 1.5, f"exit took {exit_took:.2f} s with shutdown_timeout=1"
    assert "stopped with 250 sample(s) undelivered" in completed.stderr, completed.stderr
    assert "Traceback" not in completed.stderr
    figures("exit_s", round(exit_took, 3))


@pytest.mark.parametrize("transport_kind", TRANSPORTS)
@pytest.mark.parametrize("applied", [False, True], ids=["not-applied", "applied"])
def test_cancelled_flush_leaves_the_send_in_flight(
    local_cloudwatch: LocalCloudWatch, transport_kind: str, applied: bool
) -> None:
    """Cancelling the task awaiting ``flush()`` in the middle of a slow send cancels
    only its wait: the request stays in flight and is acknowledged (or failed and
    retried) when the endpoint answers, so it arrives exactly once either way, also
    when the endpoint applied it (no duplicate: the send was never abandoned)."""
    cw = local_cloudwatch
    ns = f"Rel/Cancel/{transport_kind}/{applied}"
    workload = Workload(ns)
    transport = make_transport(transport_kind, cw, timeout=5.0)

    async def main() -> tuple[ReporterStats, ReporterStats]:
        reporter = CloudWatchAsyncMetricReporter(
            60, transport=transport, config=fast_config(flush_interval=60)
        )
        workload.record(Metrics(ns, reporter), 200)
        if not applied:
            cw.fail_next(1)  # the endpoint will answer 500: nothing applied
        cw.slow_down(1.0, count=1)
        task = asyncio.create_task(reporter.flush(timeout=10))
        for _ in range(500):
            if cw.in_flight:
                break
            await asyncio.sleep(0.01)
        assert cw.in_flight, "the request never reached the endpoint"
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled()
        cancelled = reporter.stats
        assert await reporter.flush(timeout=10)
        await reporter.stop()
        aclose = getattr(transport, "aclose", None)
        if aclose is not None:
            await aclose()
        return cancelled, reporter.stats

    try:
        cancelled, stats = asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        close = getattr(transport, "close", None)
        if close is not None:
            close()
    assert cancelled.in_flight == 200 and cancelled.buffered == 0 and cancelled.sent == 0
    assert cancelled.dropped == 0
    wait_idle(cw)
    assert_accounted(cw, stats, 200, ns)  # stored == recorded: no duplicate
    assert_exactly_once(cw, workload)
