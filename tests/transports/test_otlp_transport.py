"""OtlpTransport against a real OTLP/HTTP receiver on 127.0.0.1 (otlp_receiver.py)."""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.credentials import Credentials

from cloudwatch_metrics_client import (
    CloudWatchAsyncMetricReporter,
    CloudWatchSyncMetricReporter,
    Metrics,
)
from cwmetrics_core import CoreConfig, MetricKey, MetricsCore, OtlpSink, PutValue, send_flow
from cwmetrics_transports import OtlpTransport, TransportError, sink_for
from cwmetrics_transports._otlp import encode_request
from tests.transports.otlp_receiver import (
    KEY_ID,
    REGION,
    SECRET,
    Receiver,
    partial_success,
    points,
    totals,
)

WAIT = 10.0
T0 = 1_700_000_040.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def signed_receiver() -> Iterator[Receiver]:
    r = Receiver(require_signature=True)
    yield r
    r.close()


def invariant(stats: Any) -> None:
    assert math.isclose(
        stats.recorded_samples,
        stats.sent_samples + stats.dropped_samples + stats.buffered_samples
        + stats.in_flight_samples,
        abs_tol=1e-9,
    )


def collector(receiver: Receiver, **kw: Any) -> OtlpTransport:
    return OtlpTransport(receiver.url, sign=False, **kw)


def signed(receiver: Receiver, secret: str = SECRET, **kw: Any) -> OtlpTransport:
    return OtlpTransport(
        receiver.url, REGION, credentials=Credentials(KEY_ID, secret), **kw
    )


def core_with(transport: OtlpTransport) -> MetricsCore:
    core = MetricsCore(CoreConfig(), now=T0)
    core.set_sink(sink_for(transport, core.config.limits))
    return core


def drive(core: MetricsCore, transport: OtlpTransport, now: float = T0) -> list[Any]:
    """One send cycle by hand (send_flow); returns the outcomes."""
    outcomes = []
    flow = send_flow(core, now)
    batch = next(flow, None)
    while batch is not None:
        outcome = transport.send(batch.request)
        outcomes.append(outcome)
        try:
            batch = flow.send((outcome, now))
        except StopIteration:
            batch = None
    return outcomes


def test_sync_reporter_sends_exact_totals_gzipped_with_headers(receiver: Receiver) -> None:
    transport = collector(
        receiver, headers={"Authorization": "Bearer t0k3n"}, resource={"service.name": "svc"}
    )
    expected: dict[tuple[Any, ...], list[float]] = {}
    with CloudWatchSyncMetricReporter(
        report_interval=None, transport=transport, flush_on_exit=False
    ) as reporter:
        metrics = Metrics("App", reporter)
        for i in range(3000):
            op = f"op{i % 3}"
            value = float(i % 977) + 0.25
            metrics.put_value("Latency", value, unit="Milliseconds", dimensions={"Op": op})
            expected.setdefault(("App", "Latency", (("Op", op),)), []).append(value)
        metrics.put_statistic(
            "Size", statistic_values={"SampleCount": 4, "Sum": 10, "Minimum": 1, "Maximum": 4}
        )
        assert reporter.flush(WAIT)
        invariant(reporter.stats.core)
        assert reporter.stats.core.sent_samples == 3004
    headers, body = receiver.raw[0]
    assert headers["content-encoding"] == "gzip" and body[:2] == b"\x1f\x8b"
    assert headers["authorization"] == "Bearer t0k3n"
    assert headers["content-type"] == "application/x-protobuf"
    got = totals(receiver.exports)
    for series, values in expected.items():
        assert got[series]["count"] == len(values)
        assert math.isclose(got[series]["sum"], math.fsum(values), rel_tol=1e-12)
        assert (got[series]["min"], got[series]["max"]) == (min(values), max(values))
    assert got[("App", "Size", ())] == {"count": 4, "sum": 10.0, "min": 1.0, "max": 4.0}
    export = receiver.exports[0]
    rm = export.resource_metrics[0]
    assert rm.resource.attributes[0].key == "service.name"
    assert rm.scope_metrics[0].scope.name == "App"
    kinds = {m.name: (m.WhichOneof("data"), m.unit) for m, _dp in points(export)}
    assert kinds["Latency"] == ("exponential_histogram", "ms")
    assert kinds["Size"] == ("histogram", "1")
    for metric, dp in points(export):
        data = getattr(metric, metric.WhichOneof("data"))
        assert data.aggregation_temporality == 1  # delta
        assert dp.time_unix_nano - dp.start_time_unix_nano == 60 * 10**9


def test_every_signature_verifies_with_botocore(signed_receiver: Receiver) -> None:
    transport = signed(signed_receiver)
    with CloudWatchSyncMetricReporter(
        report_interval=None, transport=transport, flush_on_exit=False
    ) as reporter:
        metrics = Metrics("App", reporter)
        for i in range(50):
            metrics.put_value("Latency", float(i), dimensions={"Op": "get"})
        assert reporter.flush(WAIT)
    assert signed_receiver.bad_signatures == 0 and len(signed_receiver.exports) == 1
    headers, _body = signed_receiver.raw[0]
    assert "/us-west-2/monitoring/aws4_request" in headers["authorization"]


def test_a_wrong_secret_is_refused_and_counted(signed_receiver: Receiver) -> None:
    transport = signed(signed_receiver, secret="not-the-secret")
    core = core_with(transport)
    core.record(PutValue(MetricKey("App", "m"), 1.0, T0))
    core.flush(T0)
    (outcome,) = drive(core, transport)
    assert outcome.http_status == 403 and not outcome.ok
    assert signed_receiver.bad_signatures == 1
    assert core.stats.dropped_rejected == 1
    invariant(core.stats)


def test_async_reporter_signed(signed_receiver: Receiver) -> None:
    async def main() -> None:
        transport = signed(signed_receiver)
        reporter = CloudWatchAsyncMetricReporter(report_interval=None, transport=transport)
        metrics = Metrics("App", reporter)
        for i in range(200):
            metrics.put_value("Latency", float(i), dimensions={"Op": "get"})
        assert await reporter.flush(WAIT)
        invariant(reporter.stats.core)
        await reporter.stop(WAIT)
        await transport.aclose()

    asyncio.run(main())
    assert signed_receiver.bad_signatures == 0
    assert totals(signed_receiver.exports)[("App", "Latency", (("Op", "get"),))]["count"] == 200


def test_partial_success_is_dropped_counted_and_logged(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    transport = collector(receiver)
    receiver.script.append((200, {}, partial_success(1, "point 3: bad timestamp")))
    core = core_with(transport)
    for i in range(4):
        core.record(PutValue(MetricKey("App", f"m{i}"), 1.0, T0, count=2.0))
    core.flush(T0)
    with caplog.at_level(logging.WARNING, logger="cwmetrics_transports.otlp"):
        (outcome,) = drive(core, transport)
    assert outcome.ok and outcome.rejected_samples == 2.0
    stats = core.stats
    assert (stats.sent_samples, stats.dropped_rejected) == (6.0, 2.0)
    assert core.next_batch(T0) is None  # never resent
    invariant(stats)
    assert "1 of 4 data points rejected" in caplog.text
    assert "bad timestamp" in caplog.text


def test_429_waits_at_least_retry_after_then_delivers(receiver: Receiver) -> None:
    transport = collector(receiver)
    receiver.script.append((429, {"Retry-After": "42"}, b"slow down"))
    core = core_with(transport)
    core.record(PutValue(MetricKey("App", "m"), 1.0, T0))
    core.flush(T0)
    (outcome,) = drive(core, transport)
    assert (outcome.http_status, outcome.error_code, outcome.retry_after) == (
        429, "Throttling", 42.0,
    )
    deadline = core.next_deadline()
    assert deadline is not None and deadline >= T0 + 42.0
    assert drive(core, transport, T0 + 41.0) == []
    (outcome,) = drive(core, transport, T0 + 42.0)
    assert outcome.ok and core.stats.sent_samples == 1
    assert len(receiver.exports) == 1


def test_503_is_retried(receiver: Receiver) -> None:
    transport = collector(receiver)
    receiver.script.append((503, {}, b""))
    core = core_with(transport)
    core.record(PutValue(MetricKey("App", "m"), 1.0, T0))
    core.flush(T0)
    (outcome,) = drive(core, transport)
    assert outcome.error_code == "ServiceUnavailable"
    assert core.stats.retries == 1 and core.stats.buffered_samples == 1


def test_400_is_bisected_like_putmetricdata(receiver: Receiver) -> None:
    transport = collector(receiver)
    receiver.script.extend([(400, {}, b"bad"), (200, {}, b""), (400, {}, b"bad")])
    core = core_with(transport)
    for i in range(4):
        core.record(PutValue(MetricKey("App", f"m{i}"), 1.0, T0))
    core.flush(T0)
    outcomes = drive(core, transport)
    # 4 rejected -> halves: [m0 m1] ok, [m2 m3] rejected -> [m2] ok, [m3] ok
    assert [o.http_status for o in outcomes][:3] == [400, 200, 400]
    stats = core.stats
    assert stats.splits >= 2 and stats.sent_samples == 4
    invariant(stats)


def test_every_send_is_bounded_by_the_timeout() -> None:
    """A receiver that accepts and never answers: sync and async sends end in time."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        transport = OtlpTransport(f"http://127.0.0.1:{port}/v1/metrics", sign=False, timeout=0.5)
        core = core_with(transport)
        core.record(PutValue(MetricKey("App", "m"), 1.0, T0))
        core.flush(T0)
        batch = core.next_batch(T0)
        assert batch is not None
        started = time.monotonic()
        outcome = transport.send(batch.request)
        assert outcome.error_code == "Timeout" and time.monotonic() - started < 3.0

        async def main() -> Any:
            started = time.monotonic()
            result = await transport.asend(batch.request)
            await transport.aclose()
            return result, time.monotonic() - started

        outcome, took = asyncio.run(main())
        assert outcome.error_code == "Timeout" and took < 3.0
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        srv.close()


def test_encoded_size_stays_under_the_packed_bound(receiver: Receiver) -> None:
    transport = collector(receiver)
    core = core_with(transport)
    for i in range(2200):
        key = MetricKey("App", f"metric-{i}", {"Host": f"h{i % 7}", "Op": "x" * (i % 50 + 1)})
        for v in range(i % 9 + 1):
            core.record(PutValue(key, float(v) * 1.5 - 3, T0))
    core.flush(T0)
    seen = 0
    while (batch := core.next_batch(T0)) is not None:
        body = encode_request(batch.request)  # type: ignore[arg-type]
        assert len(body) <= batch.request.size_bound <= 1_000_000  # type: ignore[attr-defined]
        seen += len(batch.request.points)  # type: ignore[attr-defined]
        core.ack(batch, T0)
    assert seen == 2200


def test_default_endpoint_is_cloudwatchs_for_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    transport = OtlpTransport(region="eu-west-1", credentials=Credentials("a", "b"))
    assert transport.endpoint_url == "https://monitoring.eu-west-1.amazonaws.com/v1/metrics"
    assert isinstance(sink_for(transport, CoreConfig().limits), OtlpSink)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert OtlpTransport().endpoint_url.startswith("https://monitoring.ap-south-1.")
    assert OtlpTransport("http://127.0.0.1:4318", sign=False).endpoint_url == (
        "http://127.0.0.1:4318/v1/metrics"
    )


def test_no_region_and_no_endpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(TransportError, match="no AWS region"):
        OtlpTransport()


class SlowCredentials:
    """Credentials whose refresh blocks until released (an IMDS/STS call that hangs)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def refresh_needed(self) -> bool:
        return True

    def get_frozen_credentials(self) -> Any:
        self.release.wait(WAIT)
        return Credentials(KEY_ID, SECRET).get_frozen_credentials()


def test_a_hanging_credential_refresh_is_bounded_by_the_timeout(receiver: Receiver) -> None:
    slow = SlowCredentials()
    transport = OtlpTransport(receiver.url, REGION, credentials=slow, timeout=0.5)
    core = core_with(transport)
    core.record(PutValue(MetricKey("App", "m"), 1.0, T0))
    core.flush(T0)
    batch = core.next_batch(T0)
    assert batch is not None
    try:
        started = time.monotonic()
        outcome = transport.send(batch.request)
        assert outcome.error_code == "Timeout" and time.monotonic() - started < 3.0
        assert "credentials" in outcome.message
    finally:
        slow.release.set()
    core.failed(batch, T0, outcome)
    assert core.stats.retries == 1


def test_percentiles_from_the_received_histogram_are_within_the_bound(
    receiver: Receiver,
) -> None:
    """End to end: the decoded protobuf's buckets give every percentile within
    sqrt(base) - 1 of the exact percentile of what was recorded."""
    import random

    transport = collector(receiver)
    core = core_with(transport)
    rng = random.Random(3)
    values = [round(rng.lognormvariate(3, 1.2), 3) for _ in range(5000)]
    key = MetricKey("App", "Latency", unit="Milliseconds")
    for v in values:
        core.record(PutValue(key, v, T0))
    core.flush(T0)
    (outcome,) = drive(core, transport)
    assert outcome.ok
    ((_metric, dp),) = list(points(receiver.exports[0]))
    assert (dp.count, dp.min, dp.max) == (5000, min(values), max(values))
    base = 2.0 ** (2.0**-dp.scale)
    bound = math.sqrt(base) - 1
    ordered = sorted(values)
    for q in (0.05, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999):
        rank = max(1, math.ceil(q * dp.count))
        seen = dp.zero_count
        for i, c in enumerate(dp.positive.bucket_counts):
            seen += c
            if seen >= rank:
                index = dp.positive.offset + i
                break
        estimate = min(max(math.sqrt(base**index * base ** (index + 1)), dp.min), dp.max)
        exact = ordered[rank - 1]
        assert abs(estimate - exact) <= bound * exact * (1 + 1e-9), (q, exact, estimate)
