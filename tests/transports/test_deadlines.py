"""Every send ends within the transport's ``timeout`` (total seconds), whatever the peer
does: answers late, trickles the status line and headers, or trickles the body.

Real raw-socket listeners on 127.0.0.1 misbehave (tests/transports/rawserver.py); each
transport (httpx sync and async, boto3, aiobotocore) must return a retryable ``Timeout``
outcome within ``timeout`` plus a small slack, never raise, and be usable again after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cwmetrics_core import (
    CoreConfig,
    Disposition,
    MetricKey,
    MetricsCore,
    PutMetricDataRequest,
    RetryPolicy,
    SendOutcome,
    WireFormat,
)
from cwmetrics_transports import AioBotocoreTransport, Boto3Transport, HttpxTransport, StaticSigner

from .rawserver import RawServer

TIMEOUT = 1.0
#: Allowed beyond TIMEOUT: thread start-up and socket scheduling on a loaded 2-core box.
SLACK = 1.0
KINDS = ("httpx-sync", "httpx-async", "boto3", "aiobotocore")
BEHAVIOURS = ("late", "trickle_head", "trickle_body")


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY",
                 "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def _request(wire_format: WireFormat = WireFormat.JSON) -> PutMetricDataRequest:
    now = time.time()
    core = MetricsCore(CoreConfig(wire_format=wire_format), now=now)
    core.record_value(MetricKey("Test/Deadline", "Latency", unit="Milliseconds"), 1.5, now)
    core.flush(now)
    batch = core.next_batch(now)
    assert batch is not None
    return batch.request


Sender = tuple[Callable[[], SendOutcome], Callable[[], None]]


def _sender(kind: str, url: str, timeout: float) -> Sender:
    """``(send, close)`` for a transport of ``kind`` to ``url``."""
    if kind.startswith("httpx"):
        transport = HttpxTransport(
            region="us-east-1", endpoint_url=url, signer=StaticSigner("AKID", "SECRET"),
            timeout=timeout,
        )  # fmt: skip
        if kind == "httpx-sync":
            return lambda: transport.send(_request()), transport.close
        loop = asyncio.new_event_loop()

        def aclose() -> None:
            loop.run_until_complete(transport.aclose())
            loop.close()

        return lambda: loop.run_until_complete(transport.asend(_request())), aclose
    if kind == "boto3":
        boto = Boto3Transport(region="us-east-1", endpoint_url=url, timeout=timeout)
        request = _request(boto.wire_format)
        return lambda: boto.send(request), boto.close
    loop = asyncio.new_event_loop()
    aio = loop.run_until_complete(
        AioBotocoreTransport.create(region="us-east-1", endpoint_url=url, timeout=timeout)
    )
    request = _request(aio.wire_format)

    def close() -> None:
        loop.run_until_complete(aio.aclose())
        loop.close()

    return lambda: loop.run_until_complete(aio.asend(request)), close


@pytest.fixture
def server_for() -> Iterator[Callable[[str], RawServer]]:
    servers: list[RawServer] = []

    def make(behaviour: str) -> RawServer:
        servers.append(RawServer(behaviour))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_send_ends_within_its_total_timeout(
    server_for: Callable[[str], RawServer], kind: str, behaviour: str
) -> None:
    """A peer that answers after 8 s, trickles its status line and headers, or trickles
    its body one byte per 0.2 s (so no single read ever times out): the send returns a
    retryable ``Timeout`` within ``timeout`` + 1 s, and raises nothing."""
    server = server_for(behaviour)
    send, close = _sender(kind, server.url, TIMEOUT)
    try:
        started = time.monotonic()
        outcome = send()
        elapsed = time.monotonic() - started
        # Before close(): the expired send itself must have closed its connection.
        watch_close = behaviour.startswith("trickle") and kind != "boto3"
        closed = server.peer_closed.wait(3) if watch_close else None
    finally:
        close()
    assert server.received, "the request never reached the listener"
    assert not outcome.ok
    assert outcome.error_code == "Timeout", outcome
    assert RetryPolicy().classify(outcome) is Disposition.RETRY
    assert elapsed < TIMEOUT + SLACK, f"{kind} took {elapsed:.2f} s against a {TIMEOUT} s timeout"
    if watch_close:
        # The expired connection was closed, not left to the trickler. (boto3's abandoned
        # worker reads on until the peer finishes: see docs/transports/boto3.md.)
        assert closed, "the trickling connection was left open"


@pytest.mark.parametrize("kind", KINDS)
def test_a_transport_sends_again_after_an_expired_send(
    server_for: Callable[[str], RawServer], kind: str
) -> None:
    """After a send expired against a trickling peer, the same transport delivers to a
    healthy endpoint: the deadline is per send, and nothing stays wedged."""
    bad, good = server_for("trickle_head"), server_for("ok")
    send_bad, close_bad = _sender(kind, bad.url, TIMEOUT)
    try:
        assert send_bad().error_code == "Timeout"
        assert send_bad().error_code == "Timeout"
    finally:
        close_bad()
    send_good, close_good = _sender(kind, good.url, TIMEOUT)
    try:
        assert send_good().ok
    finally:
        close_good()


def test_httpx_sync_deadline_spans_pooled_connection_reuse(
    server_for: Callable[[str], RawServer],
) -> None:
    """The sync deadline is per send: a pooled connection reused by later sends gets a
    fresh budget (a long-lived transport does not start timing out)."""
    server = server_for("ok")
    transport = HttpxTransport(
        region="us-east-1", endpoint_url=server.url, signer=StaticSigner("AKID", "SECRET"),
        timeout=0.5,
    )  # fmt: skip
    try:
        for _ in range(3):
            assert transport.send(_request()).ok
            time.sleep(0.3)  # spacing, not synchronisation: 3 x 0.3 s > one 0.5 s budget
    finally:
        transport.close()
    assert len(server.received) == 3
