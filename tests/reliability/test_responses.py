"""Malformed or unexpected answers from the endpoint: classified, logged, never raised.

A tiny stdlib HTTP server (:class:`~tests.reliability.conftest.StubEndpoint`, a real
socket on 127.0.0.1) answers the first request with a scripted raw response (an HTML
error page from a proxy, truncated JSON, an unknown error code, an empty 500, bytes that
are not HTTP...) and accepts everything afterwards. Each answer must become a
``SendOutcome`` (no exception reaches user code or kills the reporter), be logged, and
be retried, split or dropped as the retry policy says, with exact accounting.
"""

from __future__ import annotations

import logging

import pytest

from .conftest import (
    MODES,
    TRANSPORTS,
    Harness,
    StubEndpoint,
    Workload,
    fast_config,
    make_transport,
    raw_response,
)

HTML = b"<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>"


def html(status: int, reason: str) -> bytes:
    """An HTML error page, as a proxy or load balancer sends it."""
    return raw_response(status, reason, HTML, **{"Content-Type": "text/html"})


def aws_json(status: int, reason: str, body: bytes, **headers: str) -> bytes:
    """An AWS JSON 1.0 answer (possibly broken)."""
    return raw_response(status, reason, body, **{"Content-Type": JSON, **headers})


JSON = "application/x-amz-json-1.0"
ISE = "Internal Server Error"

#: name -> (raw response, disposition, {transport: SendOutcome.error_code})
CASES: dict[str, tuple[bytes, str, dict[str, str]]] = {
    "html-502": (html(502, "Bad Gateway"), "retry", {"httpx": "HttpError502", "boto3": "502"}),
    "html-503": (html(503, "Service Unavailable"), "retry",
                 {"httpx": "HttpError503", "boto3": "503"}),
    "html-429": (html(429, "Too Many Requests"), "retry",
                 {"httpx": "HttpError429", "boto3": "429"}),
    "truncated-json-500": (aws_json(500, ISE, b'{"__type": "com.amaz'), "retry",
                           {"httpx": "HttpError500", "boto3": "500"}),
    "empty-500": (raw_response(500, ISE, b""), "retry",
                  {"httpx": "HttpError500", "boto3": "500"}),
    "unknown-code-500": (aws_json(500, ISE, b'{"__type":"BrandNewFailure","message":"new"}'),
                         "retry", {"httpx": "BrandNewFailure", "boto3": "BrandNewFailure"}),
    "unknown-code-400": (aws_json(400, "Bad Request",
                                  b'{"__type":"com.amazonaws.monitoring#BrandNewError",'
                                  b'"message":"something new"}'),
                         "drop", {"httpx": "BrandNewError", "boto3": "BrandNewError"}),
    "html-403": (html(403, "Forbidden"), "drop", {"httpx": "HttpError403", "boto3": "403"}),
    "html-413": (html(413, "Request Entity Too Large"), "split",
                 {"httpx": "HttpError413", "boto3": "413"}),
    "truncated-body-500": (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100\r\n"
                           b'\r\n{"__type"', "retry", {"httpx": "NetworkError", "boto3": "500"}),
    "not-http": (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "retry",
                 {"httpx": "NetworkError", "boto3": "NetworkError"}),
    "bad-gzip-500": (aws_json(500, ISE, b"\x1f\x8b\x08 not gzip", **{"Content-Encoding": "gzip"}),
                     "retry", {"httpx": "MalformedResponse", "boto3": "ClientException"}),
    "html-200": (html(200, "OK"), "trusted", {}),
}  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_answers_are_classified_and_handled_by_policy(
    stub_endpoint: StubEndpoint, caplog: pytest.LogCaptureFixture,
    case: str, kind: str, mode: str,
) -> None:  # fmt: skip
    """Each malformed answer becomes a classified ``SendOutcome`` (the error code shown),
    is logged, and is then handled by the policy: ``retry`` (5xx, 429, network-level
    garbage: delivered exactly once afterwards), ``drop`` (a 4xx the service would not
    accept on resend: counted in ``dropped_rejected``), ``split`` (413: bisected, then
    delivered). ``trusted``: any 2xx counts as delivered, whatever its body (a proxy
    answering 200 would silently swallow the data; documented). Nothing is raised into
    user code and the reporter's loop records no error."""
    caplog.set_level(logging.WARNING, logger="cloudwatch_metrics_client")
    raw, disposition, codes = CASES[case]
    stub_endpoint.script.append(raw)
    ns = f"Rel/Answers/{case}"
    workload = Workload(ns)
    harness = Harness(
        mode, make_transport(kind, stub_endpoint, timeout=2.0), namespace=ns,
        config=fast_config(flush_interval=60),
    )  # fmt: skip
    try:
        harness.record(lambda m: workload.record(m, 80))
        assert harness.flush(10)
        stats = harness.stats
        failure = harness.reporter.core.last_failure
    finally:
        harness.close()

    assert stats.background_errors == 0
    assert stats.recorded == 80 and stats.buffered == 0 and stats.in_flight == 0
    received = stub_endpoint.samples.get(ns, 0.0)
    assert received + stats.dropped == 80 or disposition == "trusted"
    if disposition == "trusted":
        assert failure is None and stats.sent == 80 and received == 0
        return
    assert failure is not None and failure.outcome.error_code == codes[kind]
    messages = "\n".join(r.getMessage() for r in caplog.records)
    if disposition == "retry":
        assert stats.retried == 1 and stats.dropped == 0
        assert f"PutMetricData failed ({codes[kind]}" in messages
    elif disposition == "drop":
        assert stats.core.dropped_rejected == 80 and received == 0
        assert f"PutMetricData rejected ({codes[kind]}" in messages
    else:
        assert disposition == "split"
        assert stats.core.splits == 1 and stats.dropped == 0
    if stats.dropped == 0:
        assert {k: [int(c), int(t)] for k, (c, t) in stub_endpoint.series.items()} == (
            workload.expected
        )
