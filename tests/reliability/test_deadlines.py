"""``flush(timeout=)`` and ``stop(timeout=)`` return within their timeout against an
endpoint that answers slowly or trickles its answer, with the real httpx and boto3
transports, from both reporters; the send they stop waiting for stays in flight and is
acknowledged once the answer arrives (never lost, never sent twice)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from cloudwatch_metrics_client import Metrics

from ..transports.rawserver import read_request
from .conftest import MODES, TRANSPORTS, Harness, fast_config, make_transport

#: What the caller may take beyond its timeout (thread hand-off, loop scheduling).
SLACK = 0.6
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
    b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
)
FAILURE = (
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/x-amz-json-1.0\r\n"
    b'Content-Length: 43\r\nConnection: close\r\n\r\n{"__type":"InternalFailure","message":"no"}'
)


class HeldEndpoint:
    """A raw PutMetricData endpoint on 127.0.0.1 that holds each answer.

    ``style="slow"``: the whole answer comes after ``release`` is set (at most 8 s).
    ``style="trickle"``: the answer is written one byte per 0.2 s until ``release`` is
    set, then the rest at once. Every request is counted in ``requests``. The answer is
    a 200 unless ``answer`` is set to another (before the first byte goes out).
    """

    def __init__(self, style: str) -> None:
        self.style = style
        self.release = threading.Event()
        self.received = threading.Event()
        self.requests = 0
        self.answered = 0
        self.answer = RESPONSE
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.region = "us-east-1"

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            if read_request(conn, self._closed) is None:
                return
            with self._lock:
                self.requests += 1
            self.received.set()
            if self.style == "slow":
                self.release.wait(8.0)
                conn.sendall(self.answer)
            else:
                answer = self.answer
                for i in range(len(answer)):
                    if self.release.wait(0.2):
                        conn.sendall(answer[i:])
                        break
                    conn.sendall(answer[i : i + 1])
            with self._lock:
                self.answered += 1

    def close(self) -> None:
        self.release.set()
        self._closed.set()
        self._thread.join(5)
        self._sock.close()


@pytest.fixture(params=["slow", "trickle"])
def held(request: pytest.FixtureRequest) -> Iterator[HeldEndpoint]:
    endpoint = HeldEndpoint(request.param)
    yield endpoint
    endpoint.close()


@pytest.fixture
def make_harness(held: HeldEndpoint) -> Iterator[Callable[[str, str], Harness]]:
    made: list[Harness] = []

    def factory(mode: str, kind: str) -> Harness:
        # Per-read timeout far above the hold: only the caller's timeout can end a wait.
        transport = make_transport(kind, held, timeout=30.0)  # type: ignore[arg-type]
        harness = Harness(
            mode, transport, namespace="Rel/Deadline", config=fast_config(flush_interval=3600)
        )
        made.append(harness)
        return harness

    yield factory
    held.release.set()
    for harness in made:
        harness.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def check_invariant(harness: Harness) -> None:
    s = harness.stats
    assert s.recorded == s.sent + s.dropped + s.buffered + s.in_flight


def record(harness: Harness, n: int) -> None:
    def put(metrics: Metrics) -> None:
        for i in range(n):
            metrics.put_value("Latency", float(i))

    harness.record(put)


@pytest.mark.time_limit(40)
@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize("mode", MODES)
def test_flush_returns_within_its_timeout(
    make_harness: Callable[[str, str], Harness], held: HeldEndpoint, mode: str, kind: str
) -> None:
    harness = make_harness(mode, kind)
    record(harness, 50)
    started = time.monotonic()
    assert harness.flush(1.0) is False
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + SLACK, f"flush(timeout=1) took {elapsed:.2f} s ({held.style})"
    wait_until(held.received.is_set)  # under load the send may start late; it does start
    check_invariant(harness)
    assert harness.stats.in_flight == 50
    # The send it stopped waiting for is acknowledged when the answer arrives.
    held.release.set()
    wait_until(lambda: harness.stats.sent == 50)
    check_invariant(harness)
    assert harness.stats.in_flight == 0 and harness.stats.buffered == 0
    assert held.requests == 1  # sent once, not again
    assert harness.flush(5.0) is True


@pytest.mark.time_limit(40)
@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize("mode", MODES)
def test_flush_does_not_wait_for_the_background_send_beyond_its_timeout(
    make_harness: Callable[[str, str], Harness], held: HeldEndpoint, mode: str, kind: str
) -> None:
    """The reporter's own (periodic) send is in progress: a caller's flush() waits for
    it at most its timeout (it used to block on the send lock until the answer)."""
    harness = make_harness(mode, kind).start()
    record(harness, 30)
    assert harness.flush(0.2) is False  # starts the send
    wait_until(held.received.is_set)
    record(harness, 20)
    started = time.monotonic()
    assert harness.flush(1.0) is False
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + SLACK, f"flush(timeout=1) took {elapsed:.2f} s ({held.style})"
    check_invariant(harness)
    held.release.set()
    assert harness.flush(15.0) is True
    assert harness.stats.sent == 50 and held.requests == 2


@pytest.mark.time_limit(40)
@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize("mode", MODES)
def test_stop_returns_within_its_timeout(
    make_harness: Callable[[str, str], Harness], held: HeldEndpoint, mode: str, kind: str
) -> None:
    harness = make_harness(mode, kind).start()
    record(harness, 40)
    started = time.monotonic()
    assert harness.stop(1.0) is False
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + SLACK, f"stop(timeout=1) took {elapsed:.2f} s ({held.style})"
    check_invariant(harness)
    assert harness.stats.in_flight == 40  # in flight, neither dropped nor re-queued
    held.release.set()
    wait_until(lambda: harness.stats.sent == 40)
    check_invariant(harness)
    assert harness.stats.dropped == 0 and held.requests == 1


@pytest.mark.time_limit(40)
@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize("mode", MODES)
def test_a_send_in_flight_at_stop_that_then_fails_is_counted_as_a_shutdown_loss(
    make_harness: Callable[[str, str], Harness], held: HeldEndpoint, mode: str, kind: str
) -> None:
    """stop() returns at its deadline with the request still in flight; when that request
    then fails, its samples are counted in ``dropped_shutdown`` (and logged), not retried
    and not left buffered."""
    held.answer = FAILURE
    harness = make_harness(mode, kind).start()
    record(harness, 40)
    assert harness.flush(0.2) is False
    wait_until(held.received.is_set)
    assert harness.stop(1.0) is False
    assert harness.stats.in_flight == 40
    held.release.set()
    wait_until(lambda: harness.stats.in_flight == 0)
    stats = harness.stats
    check_invariant(harness)
    assert stats.core.dropped_shutdown == 40 and stats.sent == 0 and stats.buffered == 0
    time.sleep(0.3)
    assert held.requests == 1, "a request was sent after stop()"


class _HoldRetryLog(logging.Handler):
    """Holds the reporter's "retrying after backoff" warning until ``go`` is set: the
    failed send has been reported to the core, and the reporter is paused right after."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = threading.Event()
        self.go = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying after backoff" in record.getMessage():
            self.seen.set()
            self.go.wait(10.0)


@pytest.mark.time_limit(40)
@pytest.mark.parametrize("mode", MODES)
def test_a_late_failure_after_stop_is_never_seen_buffered(
    make_harness: Callable[[str, str], Harness], held: HeldEndpoint, mode: str
) -> None:
    """The request in flight when stop() returned fails later: its samples go from in
    flight to ``dropped_shutdown`` in one step; no reader ever sees them buffered (or
    re-queued for a retry that will never come)."""
    if held.style != "slow":
        pytest.skip("one endpoint style is enough")
    held.answer = FAILURE
    hold = _HoldRetryLog()
    logger = logging.getLogger("cloudwatch_metrics_client")
    logger.addHandler(hold)
    try:
        harness = make_harness(mode, "httpx").start()
        record(harness, 40)
        assert harness.flush(0.2) is False
        wait_until(held.received.is_set)
        assert harness.stop(0.5) is False
        held.release.set()
        assert hold.seen.wait(10.0)
        stats = harness.stats  # read while the reporter is held right after the failure
        hold.go.set()
        assert stats.in_flight == 0 and stats.buffered == 0
        assert stats.core.dropped_shutdown == 40
    finally:
        hold.go.set()
        logger.removeHandler(hold)
