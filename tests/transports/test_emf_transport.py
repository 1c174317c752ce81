"""EmfTransport against real listeners on 127.0.0.1 (the agent's TCP and UDP ports), a
captured stdout and text streams, through both reporters."""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from cloudwatch_metrics_client import (
    CloudWatchAsyncMetricReporter,
    CloudWatchSyncMetricReporter,
    Metrics,
)
from cwmetrics_core import CoreConfig, EmfSink, MetricsCore, RetryPolicy, WireFormat
from cwmetrics_transports import (
    DryRunTransport,
    EmfTransport,
    InvalidEndpointError,
    ToThread,
    sink_for,
)
from tests.transports.emf_spec import check_document, documents, totals

WAIT = 10.0  # every wait below is bounded by this


class Agent:
    """A stand-in for the CloudWatch agent's EMF TCP listener: collects complete lines."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.cond = threading.Condition()
        self.port = 0
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.start()

    def start(self) -> None:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen()
        srv.settimeout(0.05)
        self.port = srv.getsockname()[1]
        self._srv = srv
        self._stop = threading.Event()
        thread = threading.Thread(target=self._serve, args=(srv, self._stop), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _serve(self, srv: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            self._conns.append(conn)
            reader = threading.Thread(target=self._read, args=(conn,), daemon=True)
            reader.start()
            self._threads.append(reader)
        srv.close()

    def _read(self, conn: socket.socket) -> None:
        buf = b""
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            *lines, buf = buf.split(b"\n")
            with self.cond:
                self.lines.extend(line for line in lines if line)
                self.cond.notify_all()

    def stop(self) -> None:
        """The agent goes away: listener and every connection closed."""
        self._stop.set()
        for thread in self._threads[:1]:
            thread.join(WAIT)
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._conns = []
        self._threads = []

    def samples(self) -> float:
        with self.cond:
            docs = [check_document(line) for line in self.lines]
        return sum(v["SampleCount"] for v in totals(docs).values())

    def wait_samples(self, n: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self._count() >= n, WAIT)

    def _count(self) -> float:
        docs = [check_document(x) for x in self.lines]
        return sum(v["SampleCount"] for v in totals(docs).values())


@pytest.fixture
def agent() -> Iterator[Agent]:
    a = Agent()
    yield a
    a.stop()


def fast_retry() -> CoreConfig:
    return CoreConfig(retry=RetryPolicy(base_delay=0.01, max_delay=0.05, jitter=0.0))


def assert_invariant(stats: Any) -> None:
    assert math.isclose(
        stats.recorded_samples,
        stats.sent_samples + stats.dropped_samples + stats.buffered_samples
        + stats.in_flight_samples,
        abs_tol=1e-9,
    )


def record(metrics: Metrics, n: int, name: str = "Latency") -> dict[tuple[Any, ...], float]:
    expected: dict[tuple[Any, ...], float] = {}
    for i in range(n):
        op = f"op{i % 7}"
        metrics.put_value(name, float(i % 13), unit="Milliseconds", dimensions={"Op": op})
        series = ("App", name, (("Op", op),))
        expected[series] = expected.get(series, 0.0) + 1
    return expected


def test_tcp_agent_receives_valid_documents_with_exact_totals(agent: Agent) -> None:
    transport = EmfTransport(f"tcp://127.0.0.1:{agent.port}", log_group="/app/emf")
    with CloudWatchSyncMetricReporter(
        report_interval=None, transport=transport, flush_on_exit=False
    ) as reporter:
        metrics = Metrics("App", reporter)
        expected = record(metrics, 2000)
        metrics.put_value("Errors", 1, unit="Count", dimensions={"Op": "op0"})
        assert reporter.flush(WAIT)
        assert agent.wait_samples(2001)
        assert_invariant(reporter.stats.core)
    with agent.cond:
        docs = documents(b"\n".join(agent.lines) + b"\n")
    got = totals(docs)
    for series, n in expected.items():
        assert got[series]["SampleCount"] == n
    # Latency and Errors for Op=op0 share one document
    assert any(
        {m["Name"] for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]} == {"Latency", "Errors"}
        for d in docs
    )
    assert all(d["_aws"]["LogGroupName"] == "/app/emf" for d in docs)


def test_tcp_agent_going_away_and_coming_back_loses_nothing(agent: Agent) -> None:
    transport = EmfTransport(
        f"tcp://127.0.0.1:{agent.port}", timeout=1.0, reconnect_backoff=(0.01, 0.05)
    )
    reporter = CloudWatchSyncMetricReporter(
        report_interval=None, transport=transport, config=fast_retry(), flush_on_exit=False
    )
    try:
        metrics = Metrics("App", reporter)
        first = record(metrics, 300)
        assert reporter.flush(WAIT)
        assert agent.wait_samples(300)

        agent.stop()
        second = record(metrics, 500)
        # Keep flushing (bounded) until the outage shows as a failed, retried send.
        for _ in range(50):
            reporter.flush(0.1)
            if reporter.stats.core.send_failures:
                break
        assert reporter.stats.core.send_failures >= 1
        assert reporter.stats.core.sent_samples == 300  # nothing written into the void
        assert_invariant(reporter.stats.core)

        agent.start()  # same port
        assert reporter.flush(WAIT)
        assert agent.wait_samples(800)
        stats = reporter.stats.core
        assert stats.sent_samples == 800 and stats.dropped_samples == 0
        assert_invariant(stats)
    finally:
        reporter.stop(WAIT)
    got = totals([check_document(line) for line in agent.lines])
    for series in set(first) | set(second):
        assert got[series]["SampleCount"] == first.get(series, 0) + second.get(series, 0)


def test_tcp_connect_failures_back_off_without_blocking() -> None:
    with socket.socket() as probe:  # a free port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = EmfTransport(f"tcp://127.0.0.1:{port}", reconnect_backoff=(30.0, 60.0))
    core = MetricsCore(CoreConfig(), now=1.0)
    core.set_sink(sink_for(transport, core.config.limits))
    from cwmetrics_core import MetricKey

    core.record_value(MetricKey("App", "X"), 1.0, 1_700_000_000.0)
    core.flush(2.0)
    batch = core.next_batch(2.0)
    assert batch is not None
    first = transport.send(batch.request)
    second = transport.send(batch.request)  # inside the 30 s pause: no connect attempted
    assert not first.ok and first.error_code == "NetworkError" and "connect" in first.message
    assert not second.ok and "next attempt in" in second.message
    transport.close()


def test_udp_agent_gets_one_document_per_datagram() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.settimeout(WAIT)
        port = srv.getsockname()[1]
        transport = EmfTransport(f"udp://127.0.0.1:{port}", max_document_bytes=1024)
        with CloudWatchSyncMetricReporter(
            report_interval=None, transport=transport, flush_on_exit=False
        ) as reporter:
            metrics = Metrics("App", reporter)
            for i in range(400):
                metrics.put_value("Size", i * 1.25, unit="Bytes")
            assert reporter.flush(WAIT)
            assert_invariant(reporter.stats.core)
            docs: list[dict[str, Any]] = []
            while sum(v["SampleCount"] for v in totals(docs).values()) < 400:
                datagram = srv.recv(65536)
                assert datagram.endswith(b"\n") and datagram.count(b"\n") == 1
                docs.append(check_document(datagram[:-1], max_bytes=1024))
    assert len(docs) > 1
    [(_series, got)] = totals(docs).items()
    assert got["SampleCount"] == 400 and got["Sum"] == pytest.approx(1.25 * 399 * 400 / 2)


def test_udp_documents_fit_a_datagram_by_default() -> None:
    transport = EmfTransport("udp://127.0.0.1:25888")
    assert transport.make_sink(CoreConfig().limits).max_document_bytes == 65_506
    tcp = EmfTransport("tcp://127.0.0.1:25888")
    assert tcp.make_sink(CoreConfig().limits).max_document_bytes == 262_118


def test_stdout_is_the_default_and_read_at_each_send(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_EMF_AGENT_ENDPOINT", raising=False)
    transport = EmfTransport()
    assert transport.target == "stdout"
    with CloudWatchSyncMetricReporter(
        report_interval=None, transport=transport, flush_on_exit=False
    ) as reporter:
        metrics = Metrics("App", reporter, dimensions={"Stage": "test"})
        metrics.put_value("Requests", 1, unit="Count")
        metrics.put_value("Requests", 1, unit="Count")
        assert reporter.flush(WAIT)
    [doc] = documents(capsys.readouterr().out)
    assert doc["Stage"] == "test"
    assert doc["Requests"] == [1, 1]  # repeating is shorter than a Values/Counts object


def test_agent_endpoint_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_EMF_AGENT_ENDPOINT", "udp://127.0.0.1:25888")
    assert EmfTransport().target == "udp://127.0.0.1:25888"
    monkeypatch.setenv("AWS_EMF_AGENT_ENDPOINT", "http://127.0.0.1:25888")
    with pytest.raises(InvalidEndpointError, match="AWS_EMF_AGENT_ENDPOINT"):
        EmfTransport()
    assert EmfTransport("stdout").target == "stdout"  # an explicit target wins


@pytest.mark.parametrize(
    "target", ["tcp://127.0.0.1", "udp://:25888", "tcp://h:0", "file:///x", 42]
)
def test_bad_targets_are_rejected_clearly(target: Any) -> None:
    with pytest.raises(InvalidEndpointError, match="target"):
        EmfTransport(target)


def test_a_stream_target_and_the_async_reporter() -> None:
    stream = io.StringIO()

    async def main() -> None:
        reporter = CloudWatchAsyncMetricReporter(
            report_interval=None, transport=EmfTransport(stream)
        )
        metrics = Metrics("App", reporter)
        record(metrics, 100)
        assert await reporter.flush(WAIT)
        assert_invariant(reporter.stats.core)
        await reporter.stop(WAIT)

    asyncio.run(main())
    assert sum(v["SampleCount"] for v in totals(documents(stream.getvalue())).values()) == 100


def test_async_reporter_over_tcp(agent: Agent) -> None:
    async def main() -> None:
        reporter = CloudWatchAsyncMetricReporter(
            report_interval=None, transport=EmfTransport(f"tcp://127.0.0.1:{agent.port}")
        )
        metrics = Metrics("App", reporter)
        record(metrics, 700)
        assert await reporter.flush(WAIT)
        await reporter.stop(WAIT)

    asyncio.run(main())
    assert agent.wait_samples(700)


def test_the_transport_declares_its_sink_through_wrappers() -> None:
    limits = CoreConfig().limits
    assert isinstance(sink_for(EmfTransport("stdout"), limits), EmfSink)
    assert isinstance(sink_for(ToThread(EmfTransport("stdout")), limits), EmfSink)
    assert isinstance(sink_for(DryRunTransport(wire_format=WireFormat.EMF), limits), EmfSink)
    assert sink_for(DryRunTransport(), limits).wire_format is WireFormat.JSON


def test_a_putmetricdata_request_is_refused_not_written() -> None:
    stream = io.StringIO()
    with CloudWatchSyncMetricReporter(
        report_interval=None, transport=DryRunTransport(), flush_on_exit=False
    ) as reporter:
        Metrics("App", reporter).put_value("X", 1.0)
        reporter.flush(WAIT)
        request = reporter.transport.requests[0]  # type: ignore[attr-defined]
    outcome = EmfTransport(stream).send(request)
    assert not outcome.ok and outcome.error_code == "InvalidParameterValue"
    assert stream.getvalue() == ""
