"""Shared machinery of the reliability suite: real sockets, exact accounting.

Every scenario drives a real reporter (the sync one with its thread, or the async one with
its task on an event loop) through a real transport (httpx + SigV4, or boto3) to the
strict local CloudWatch (``local_cloudwatch`` fixture), then checks the accounting
identity of the whole pipeline::

    samples stored by the endpoint - duplicates + samples the reporter dropped == recorded

``duplicates`` is zero except where the endpoint applied a request whose answer was lost
(an ambiguous failure, see docs/reliability.md); those tests measure it exactly.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, TypeVar

import pytest

from cloudwatch_metrics_client import (
    CloudWatchAsyncMetricReporter,
    CloudWatchAsyncMetrics,
    CloudWatchSyncMetricReporter,
    CloudWatchSyncMetrics,
    Metrics,
    ReporterStats,
)
from cwmetrics_core import CoreConfig, RetryPolicy
from cwmetrics_transports import Boto3Transport, HttpxTransport, StaticSigner
from cwmetrics_transports.testing import LocalCloudWatch, SeriesKey

T = TypeVar("T")

#: The two reporters: the thread-driven sync one and the task-driven async one.
MODES = ("sync", "async")
#: The two transports that speak to a real socket from both reporters.
TRANSPORTS = ("httpx", "boto3")
#: Per-test wall-clock limit (seconds) unless a test says otherwise with
#: ``@pytest.mark.time_limit(seconds)``.
DEFAULT_TIME_LIMIT = 60.0
#: Credentials the local endpoint accepts (it does not check signatures).
FAKE_KEY = ("testing", "testing")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "time_limit(seconds): fail the test if it runs longer than this"
    )


#: Figures measured by the tests (events/s, peak memory, faults injected...), printed in
#: the terminal summary so docs/reliability.md can quote the command that produced them.
FIGURES: dict[str, object] = {}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.write_sep("-", "reliability figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[[str, object], None]:
    """``figures(name, value)``: report a measured figure under this test's name."""

    def note(name: str, value: object) -> None:
        FIGURES[f"{request.node.name} {name}"] = value

    return note


class TimeLimitExceeded(Exception):
    """Raised in the main thread when a test overruns its time limit."""


@pytest.fixture(autouse=True)
def time_limit(request: pytest.FixtureRequest) -> Iterator[None]:
    """Bound every test in wall-clock time (SIGALRM in the main thread)."""
    marker = request.node.get_closest_marker("time_limit")
    seconds = float(marker.args[0]) if marker else DEFAULT_TIME_LIMIT

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TimeLimitExceeded(f"test exceeded its {seconds:g} s time limit")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def fresh_facades() -> Iterator[None]:
    """Each test starts with unconfigured class-level facades."""
    CloudWatchSyncMetrics._reset_default()
    CloudWatchAsyncMetrics._reset_default()
    yield
    CloudWatchSyncMetrics._reset_default()
    CloudWatchAsyncMetrics._reset_default()


# ----------------------------------------------------------------------------- config


def fast_retry(seed: int = 0) -> RetryPolicy:
    """Backoff scaled down for tests (seeded jitter): 0.05 s, throttling 0.1 s, cap 0.5 s."""
    return RetryPolicy(
        base_delay=0.05, throttle_base_delay=0.1, max_delay=0.5, rng=random.Random(seed).random
    )


def fast_config(seed: int = 0, **overrides: Any) -> CoreConfig:
    """A CoreConfig flushing every 50 ms with :func:`fast_retry`."""
    overrides.setdefault("flush_interval", 0.05)
    return CoreConfig(retry=fast_retry(seed), **overrides)


def min_backoff(policy: RetryPolicy, failures: int, *, throttled: bool) -> float:
    """The shortest pause ``policy`` can choose after ``failures`` failures in a row."""
    base = policy.throttle_base_delay if throttled else policy.base_delay
    nominal = min(policy.max_delay, base * policy.multiplier ** (failures - 1))
    return nominal * (1.0 - policy.jitter)


def max_attempts_within(policy: RetryPolicy, window: float, *, throttled: bool) -> int:
    """Most attempts the backoff schedule allows inside ``window`` seconds of failures."""
    attempts, elapsed = 1, 0.0
    while True:
        elapsed += min_backoff(policy, attempts, throttled=throttled)
        if elapsed > window:
            return attempts
        attempts += 1


# ----------------------------------------------------------------------------- transports


def make_transport(kind: str, cw: LocalCloudWatch | StubEndpoint, *, timeout: float = 2.0) -> Any:
    """A real transport to ``cw``: ``"httpx"`` (SigV4 over httpx) or ``"boto3"``.

    Both are built the way a user builds them. ``timeout`` is the total seconds for one
    send; the default leaves room for a loaded machine (a send that expires may still be
    applied, which would break exactly-once assertions). Tests about slow answers pass a
    small one so the answer turns into a ``Timeout`` quickly.
    """
    if kind == "httpx":
        return HttpxTransport(
            region=cw.region, endpoint_url=cw.url, signer=StaticSigner(*FAKE_KEY), timeout=timeout
        )
    if kind == "boto3":
        import boto3

        session = boto3.Session(
            aws_access_key_id=FAKE_KEY[0], aws_secret_access_key=FAKE_KEY[1], region_name=cw.region
        )
        return Boto3Transport(
            endpoint_url=cw.url, region=cw.region, timeout=timeout, session=session
        )
    raise ValueError(kind)


# ----------------------------------------------------------------------------- harness


class LoopThread:
    """An asyncio event loop running in a helper thread, driven from the test thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop and wait at most ``timeout`` seconds for its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self.loop.close()


class Harness:
    """One reporter with a blocking, mode-independent API for the test thread.

    ``mode="sync"``: a :class:`CloudWatchSyncMetricReporter` (its own flush thread).
    ``mode="async"``: a :class:`CloudWatchAsyncMetricReporter` whose task runs on an event
    loop in a helper thread; recording happens on that loop, as in an asyncio service.
    """

    def __init__(
        self,
        mode: str,
        transport: Any,
        *,
        namespace: str,
        config: CoreConfig | None = None,
        shutdown_timeout: float = 5.0,
        **kwargs: Any,
    ) -> None:
        self.mode = mode
        self.transport = transport
        config = config if config is not None else fast_config()
        common: dict[str, Any] = {
            "transport": transport,
            "config": config,
            "shutdown_timeout": shutdown_timeout,
            **kwargs,
        }
        self.loop: LoopThread | None = None
        self.reporter: CloudWatchSyncMetricReporter | CloudWatchAsyncMetricReporter
        if mode == "sync":
            self.reporter = CloudWatchSyncMetricReporter(
                config.flush_interval, flush_on_exit=False, **common
            )
        elif mode == "async":
            self.loop = LoopThread()
            self.reporter = CloudWatchAsyncMetricReporter(config.flush_interval, **common)
        else:
            raise ValueError(mode)
        self.metrics = Metrics(namespace, self.reporter)
        self.stopped = False

    def _async(self) -> tuple[LoopThread, CloudWatchAsyncMetricReporter]:
        assert self.loop is not None
        assert isinstance(self.reporter, CloudWatchAsyncMetricReporter)
        return self.loop, self.reporter

    def start(self) -> Harness:
        """Start periodic reporting."""
        if self.mode == "sync":
            assert isinstance(self.reporter, CloudWatchSyncMetricReporter)
            self.reporter.run()
        else:
            loop, reporter = self._async()
            loop.run(reporter.run(), 5.0)
        return self

    def record(self, fn: Callable[[Metrics], None]) -> None:
        """Call ``fn(metrics)`` where the application would: test thread or event loop."""
        if self.mode == "sync":
            fn(self.metrics)
            return

        async def call() -> None:
            fn(self.metrics)

        self._async()[0].run(call(), 30.0)

    def flush(self, timeout: float = 10.0) -> bool:
        """``reporter.flush(timeout)``; True when everything was acknowledged."""
        if self.mode == "sync":
            assert isinstance(self.reporter, CloudWatchSyncMetricReporter)
            return self.reporter.flush(timeout)
        loop, reporter = self._async()
        return loop.run(reporter.flush(timeout), timeout + 5.0)

    def stop(self, timeout: float | None = None) -> bool:
        """``reporter.stop(timeout)`` (``close()``/``aclose()``)."""
        self.stopped = True
        if self.mode == "sync":
            assert isinstance(self.reporter, CloudWatchSyncMetricReporter)
            return self.reporter.stop(timeout)
        loop, reporter = self._async()
        budget = reporter.shutdown_timeout if timeout is None else timeout
        return loop.run(reporter.stop(timeout), budget + 5.0)

    @property
    def stats(self) -> ReporterStats:
        """The reporter's counters."""
        return self.reporter.stats

    def close(self) -> None:
        """Stop the reporter (if still running), close the transport and the loop."""
        try:
            if not self.stopped:
                self.stop(2.0)
        finally:
            if self.loop is not None:
                aclose = getattr(self.transport, "aclose", None)
                if aclose is not None:
                    self.loop.run(aclose(), 5.0)
                self.loop.close()
            close = getattr(self.transport, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> Harness:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@pytest.fixture
def harness_factory(local_cloudwatch: LocalCloudWatch) -> Iterator[Callable[..., Harness]]:
    """Build :class:`Harness` objects on ``local_cloudwatch``; all are closed afterwards."""
    made: list[Harness] = []

    def factory(
        mode: str, kind: str, *, namespace: str, timeout: float = 2.0, **kwargs: Any
    ) -> Harness:
        harness = Harness(
            mode, make_transport(kind, local_cloudwatch, timeout=timeout),
            namespace=namespace, **kwargs,
        )  # fmt: skip
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        harness.close()


# ----------------------------------------------------------------------------- workload


@dataclass
class Workload:
    """Integer observations spread over a few series, with their exact expected totals.

    Values are small integers so every Sum is exact, and counts are whole numbers
    (moto truncates fractional counts).
    """

    namespace: str
    name: str = "Latency"
    series: int = 8
    recorded: int = 0
    expected: dict[SeriesKey, list[int]] = field(default_factory=dict)

    def record(self, metrics: Metrics, n: int) -> None:
        """Record ``n`` more observations through ``metrics.put_value``."""
        for i in range(self.recorded, self.recorded + n):
            label = f"s{i % self.series}"
            value = (i * 7) % 41
            metrics.put_value(self.name, value, unit="Milliseconds", dimensions={"Series": label})
            totals = self.expected.setdefault(
                (self.namespace, self.name, (("Series", label),)), [0, 0]
            )
            totals[0] += 1
            totals[1] += value
        self.recorded += n

    def drive(self, harness: Harness, *, chunks: int, per_chunk: int, pause: float) -> None:
        """Record in ``chunks`` spaced by ``pause`` seconds, so many reports happen."""
        for _ in range(chunks):
            harness.record(lambda m: self.record(m, per_chunk))
            time.sleep(pause)


# ----------------------------------------------------------------------------- accounting


def wait_idle(cw: LocalCloudWatch, timeout: float = 5.0) -> None:
    """Wait until the endpoint has finished every request it is handling (e.g. one it
    is delaying after the client gave up), so its records are final."""
    deadline = time.monotonic() + timeout
    while cw.in_flight:
        assert time.monotonic() < deadline, "the endpoint is still handling requests"
        time.sleep(0.01)


def stored_samples(cw: LocalCloudWatch, namespace: str) -> float:
    """Samples the endpoint accepted in ``namespace`` (exact SampleCount sum)."""
    return math.fsum(s.sample_count for k, s in cw.series().items() if k[0] == namespace)


def assert_exactly_once(cw: LocalCloudWatch, workload: Workload) -> None:
    """Every series of ``workload`` is stored with exactly its SampleCount and Sum."""
    stored = {k: s for k, s in cw.series().items() if k[0] == workload.namespace}
    assert set(stored) == set(workload.expected)
    for key, (count, total) in workload.expected.items():
        assert (stored[key].sample_count, stored[key].sum) == (count, total), key


def assert_accounted(
    cw: LocalCloudWatch, stats: ReporterStats, recorded: float, namespace: str,
    *, duplicates: float = 0.0,
) -> None:  # fmt: skip
    """stored - duplicates + dropped == recorded, and nothing is left in the reporter."""
    assert stats.recorded == recorded
    assert stats.buffered == 0 and stats.in_flight == 0
    assert stored_samples(cw, namespace) - duplicates + stats.dropped == recorded
    assert stats.recorded == stats.sent + stats.dropped + stats.buffered + stats.in_flight


def duplicated_samples(cw: LocalCloudWatch, fault: str, namespace: str) -> float:
    """Samples in requests the endpoint applied although the client saw a failure.

    ``fault`` is the request log's fault name: ``"drop_after_apply"`` (answer never
    sent) or ``"delay"`` (answer sent after the client's timeout).
    """
    arrivals = {e.received_at for e in cw.request_log() if e.fault == fault and e.applied}
    return math.fsum(
        sum(c for d in put.datums for c in d.counts)
        + sum(d.statistic_values.sample_count for d in put.datums if d.statistic_values)
        for put in cw.accepted_puts()
        if put.received_at in arrivals and put.namespace == namespace
    )


# ----------------------------------------------------------------------------- stub endpoint


def raw_response(status: int, reason: str, body: bytes, **headers: str) -> bytes:
    """A raw HTTP/1.1 response; ``Connection: close`` so no client reuses the socket."""
    fields = {"Content-Length": str(len(body)), **headers, "Connection": "close"}
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return head.encode() + b"\r\n" + body


def request_samples(body: dict[str, Any]) -> float:
    """Samples carried by a decoded PutMetricData JSON body."""
    total = 0.0
    for datum in body.get("MetricData", []):
        if "StatisticValues" in datum:
            total += datum["StatisticValues"]["SampleCount"]
        elif "Values" in datum:
            total += math.fsum(datum.get("Counts") or [1.0] * len(datum["Values"]))
        else:
            total += 1.0
    return total


class StubEndpoint:
    """A minimal PutMetricData endpoint on 127.0.0.1 (stdlib ``http.server``).

    It answers each request with the next scripted raw HTTP response (anything at all:
    an HTML error page, truncated JSON, bytes that are not HTTP) and then closes the
    connection; once the script is used up it answers ``200 {}`` and counts the samples
    of the (JSON 1.0, possibly gzipped) body it accepted. No validation and no storage
    beyond counters, so it ingests millions of samples per second.

    ``reject``, if set, sees every decoded body first and may return a raw response to
    refuse it with (a content rule of the test's choosing).
    """

    def __init__(self) -> None:
        self.script: deque[bytes] = deque()
        self.reject: Callable[[dict[str, Any]], bytes | None] | None = None
        self.lock = threading.Lock()
        self.samples: dict[str, float] = {}
        #: (namespace, metric name, sorted dimension pairs) -> [SampleCount, Sum]
        self.series: dict[SeriesKey, list[float]] = {}
        self.requests = 0
        self.accepted = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with endpoint.lock:
                    endpoint.requests += 1
                    raw = endpoint.script.popleft() if endpoint.script else None
                if raw is not None:
                    self.wfile.write(raw)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if self.headers.get("Content-Encoding", "").lower() == "gzip":
                    body = gzip.decompress(body)
                decoded = json.loads(body)
                refusal = endpoint.reject(decoded) if endpoint.reject else None
                if refusal is not None:
                    self.wfile.write(refusal)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                with endpoint.lock:
                    endpoint.accepted += 1
                    endpoint.count(decoded)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.region = "us-east-1"

    def count(self, body: dict[str, Any]) -> None:
        """Add an accepted request's samples to the counters (lock held)."""
        ns = body["Namespace"]
        self.samples[ns] = self.samples.get(ns, 0.0) + request_samples(body)
        for datum in body["MetricData"]:
            dims = tuple(sorted((d["Name"], d["Value"]) for d in datum.get("Dimensions", [])))
            totals = self.series.setdefault((ns, datum["MetricName"], dims), [0.0, 0.0])
            if "StatisticValues" in datum:
                totals[0] += datum["StatisticValues"]["SampleCount"]
                totals[1] += datum["StatisticValues"]["Sum"]
            elif "Values" in datum:
                counts = datum.get("Counts") or [1.0] * len(datum["Values"])
                totals[0] += math.fsum(counts)
                totals[1] += sum(v * c for v, c in zip(datum["Values"], counts, strict=True))

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)


@pytest.fixture
def stub_endpoint() -> Iterator[StubEndpoint]:
    """A fresh :class:`StubEndpoint` for one test."""
    stub = StubEndpoint()
    yield stub
    stub.close()
