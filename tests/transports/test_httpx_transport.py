"""Tests of HttpxTransport (sync and async) and the request signers.

Unit tests use ``httpx.MockTransport``; integration tests go through real sockets to the
strict local CloudWatch (``local_cloudwatch`` fixture).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import json
import logging
import math
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cwmetrics_core import CoreConfig, MetricKey, MetricsCore, PutMetricDataRequest, SendOutcome
from cwmetrics_core import __version__ as core_version
from cwmetrics_transports._errors import (
    CredentialsError,
    InsecureEndpointError,
    MissingDependencyError,
    TransportError,
)
from cwmetrics_transports._httpx import USER_AGENT, HttpxTransport
from cwmetrics_transports._signers import (
    AwsRequestsAuthSigner,
    BotocoreSigner,
    Credentials,
    Signer,
    StaticSigner,
)
from cwmetrics_transports.testing import LocalCloudWatch

NS = "Test/Httpx"
REGION = "us-east-1"
ACCESS_KEY = "AKIDEXAMPLEHTTPX"
SECRET = "SECRETSECRETSECRETSECRETSECRETSECRET0001"
TOKEN = "TOKENTOKENTOKENTOKENTOKENTOKENTOKEN0002"
AMZ_DATE = "20260102T030405Z"
AWS_ENV = (
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLOUDWATCH",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
)  # fmt: skip
MODES = ["sync", "async"]

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def _clean_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No ambient AWS configuration leaks into a test."""
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


# ---------------------------------------------------------------------------- helpers


def _requests(
    series: int = 1,
    values: int = 3,
    *,
    now: float | None = None,
    timestamp: float | None = None,
    config: CoreConfig | None = None,
) -> list[PutMetricDataRequest]:
    now = time.time() if now is None else now
    core = MetricsCore(config, now=now)
    for s in range(series):
        key = MetricKey(NS, "Latency", {"Series": f"s{s}"}, unit="Milliseconds")
        for i in range(values):
            core.record_value(key, i * 1.25 + s, now if timestamp is None else timestamp)
    core.flush(now)
    return [batch.request for batch in core.batches_to_send(now)]


def _one_request(**kwargs: Any) -> PutMetricDataRequest:
    (request,) = _requests(**kwargs)
    return request


def _mock(handler: Handler, *, signer: Signer | None = None, **kwargs: Any) -> HttpxTransport:
    mock = httpx.MockTransport(handler)
    kwargs.setdefault("region", REGION)
    return HttpxTransport(
        signer=signer or StaticSigner(ACCESS_KEY, SECRET, TOKEN),
        client=httpx.AsyncClient(transport=mock),
        sync_client=httpx.Client(transport=mock),
        **kwargs,
    )


def _send(transport: HttpxTransport, request: PutMetricDataRequest, mode: str) -> SendOutcome:
    """One send with ``send`` or, in a fresh event loop, ``asend``."""
    if mode == "sync":
        return transport.send(request)

    async def go() -> SendOutcome:
        return await transport.asend(request)

    return asyncio.run(go())


@contextlib.contextmanager
def _sending(
    transport: HttpxTransport, mode: str
) -> Iterator[Callable[[PutMetricDataRequest], SendOutcome]]:
    """A ``send(request)`` function over ``send`` or over ``asend`` in one event loop."""
    if mode == "sync":
        try:
            yield transport.send
        finally:
            transport.close()
        return
    loop = asyncio.new_event_loop()
    try:
        yield lambda request: loop.run_until_complete(transport.asend(request))
    finally:
        loop.run_until_complete(transport.aclose())
        loop.close()


class _Capture:
    """A MockTransport handler that records requests and answers ``response``."""

    def __init__(self, response: Callable[[], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self._response = response or (lambda: httpx.Response(200, json={}))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self._response()


def _verify_signature(sent: httpx.Request, credentials: Credentials, region: str = REGION) -> None:
    """Recompute the signature of a sent request with botocore's own ``add_auth``."""
    from unittest import mock

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    amz_date = sent.headers["X-Amz-Date"]
    auth = sent.headers["Authorization"]
    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
    headers = {name: sent.headers[name] for name in signed if name != "x-amz-date"}
    aws_request = AWSRequest("POST", str(sent.url), headers=headers, data=sent.content)
    now = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    boto_credentials = BotoCredentials(
        credentials.access_key, credentials.secret_key, credentials.token
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=now):
        SigV4Auth(boto_credentials, "monitoring", region).add_auth(aws_request)
    assert auth == aws_request.headers["Authorization"]


# ---------------------------------------------------------------------------- request shape


@pytest.mark.parametrize("mode", MODES)
def test_request_shape_and_signature(mode: str) -> None:
    capture = _Capture()
    transport = _mock(capture)
    request = _one_request()
    assert _send(transport, request, mode) == SendOutcome(ok=True, http_status=200)
    (sent,) = capture.requests
    assert sent.method == "POST"
    assert str(sent.url) == "https://monitoring.us-east-1.amazonaws.com/"
    assert sent.headers["Host"] == "monitoring.us-east-1.amazonaws.com"
    assert sent.headers["X-Amz-Target"] == "GraniteServiceVersion20100801.PutMetricData"
    assert sent.headers["Content-Type"] == "application/x-amz-json-1.0"
    assert sent.headers["User-Agent"] == USER_AGENT == f"cloudwatch-metrics-client/{core_version}"
    assert "Content-Encoding" not in sent.headers
    assert sent.content == request.body
    assert json.loads(sent.content)["Namespace"] == NS
    assert sent.headers["X-Amz-Security-Token"] == TOKEN
    auth = sent.headers["Authorization"]
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert "/us-east-1/monitoring/aws4_request" in auth
    # The default signs what botocore signs: every protocol header, not User-Agent.
    signed = "content-type;host;x-amz-date;x-amz-security-token;x-amz-target;x-amzn-query-mode"
    assert f"SignedHeaders={signed}," in auth
    sent_at = dt.datetime.strptime(sent.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    assert abs(sent_at.replace(tzinfo=dt.timezone.utc).timestamp() - time.time()) < 60
    _verify_signature(sent, Credentials(ACCESS_KEY, SECRET, TOKEN))


@pytest.mark.parametrize("mode", MODES)
def test_gzip_round_trip_signs_compressed_bytes(mode: str) -> None:
    capture = _Capture()
    transport = _mock(capture)
    request = _one_request(series=6, values=150)
    assert len(request.body) > 4096
    assert _send(transport, request, mode).ok
    (sent,) = capture.requests
    assert sent.headers["Content-Encoding"] == "gzip"
    assert len(sent.content) < len(request.body)
    assert gzip.decompress(sent.content) == request.body
    assert "content-encoding;content-type;host" in sent.headers["Authorization"]
    _verify_signature(sent, Credentials(ACCESS_KEY, SECRET, TOKEN))


class _ThreadNoting(Signer):
    """A signer of your own (not one of ours): signs with StaticSigner, notes the thread."""

    def __init__(self) -> None:
        self.inner = StaticSigner(ACCESS_KEY, SECRET)
        self.threads: list[int] = []

    def sign(self, method: str, url: str, headers: Any, body: bytes, **kw: Any) -> dict[str, str]:
        self.threads.append(threading.get_ident())
        return self.inner.sign(method, url, headers, body, **kw)


class _NotingStatic(StaticSigner):
    """One of our signers, noting the thread it signs in."""

    threads: list[int]

    def _sign_with(self, *args: Any) -> dict[str, str]:
        self.threads.append(threading.get_ident())
        return super()._sign_with(*args)


@pytest.mark.parametrize("ours", [True, False])
def test_compressed_bodies_are_prepared_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch, ours: bool
) -> None:
    # Our signers: every compressed body is compressed, built and signed in a worker
    # thread (about 0.7 ms of CPU per 1000-datum request kept off the loop). A signer of
    # your own is awaited on the loop; only bodies of 128 KiB or more are compressed off it.
    from cwmetrics_transports import _httpx

    gzip_threads: list[int] = []
    real_gzip = _httpx._gzip

    def spy(body: bytes) -> bytes:
        gzip_threads.append(threading.get_ident())
        return real_gzip(body)

    monkeypatch.setattr(_httpx, "_gzip", spy)
    signer: Any = _NotingStatic(ACCESS_KEY, SECRET) if ours else _ThreadNoting()
    signer.threads = []
    capture = _Capture()
    transport = _mock(capture, signer=signer)
    plain = _one_request(series=1, values=10)
    small, large = _one_request(series=6, values=150), _one_request(series=300, values=150)
    assert len(plain.body) <= 4096 < len(small.body) < 128 * 1024 <= len(large.body)

    async def go() -> int:
        for request in (plain, small, large):
            assert (await transport.asend(request)).ok
        return threading.get_ident()

    loop = asyncio.run(go())
    assert len(gzip_threads) == 2 and len(signer.threads) == 3
    assert signer.threads[0] == loop  # an uncompressed body: nothing worth a thread hop
    if ours:
        assert loop not in (*gzip_threads, *signer.threads[1:])
    else:
        assert gzip_threads[0] == loop != gzip_threads[1]
        assert signer.threads[1:] == [loop, loop]
    assert gzip.decompress(capture.requests[2].content) == large.body
    for sent in capture.requests:
        _verify_signature(sent, Credentials(ACCESS_KEY, SECRET))


@pytest.mark.parametrize(
    ("threshold", "size", "compressed"),
    [(None, 5000, False), (0, 1, True), (100, 100, False), (100, 101, True)],
)
def test_gzip_threshold_semantics(threshold: int | None, size: int, compressed: bool) -> None:
    capture = _Capture()
    transport = _mock(capture, gzip_threshold=threshold)
    request = _one_request()
    request.body = b" " * (size - 2) + b"{}"
    assert transport.send(request).ok
    assert ("Content-Encoding" in capture.requests[0].headers) is compressed


def test_endpoint_with_path_and_port_is_signed_as_sent() -> None:
    capture = _Capture()
    transport = _mock(capture, endpoint_url="https://proxy.example:8443/cloudwatch/")
    assert transport.send(_one_request()).ok
    (sent,) = capture.requests
    assert str(sent.url) == "https://proxy.example:8443/cloudwatch"
    assert sent.headers["Host"] == "proxy.example:8443"
    _verify_signature(sent, Credentials(ACCESS_KEY, SECRET, TOKEN))


# ---------------------------------------------------------------------------- error mapping

_EXCEPTIONS: list[tuple[Exception, str]] = [
    (httpx.ConnectError("[Errno 111] Connection refused"), "NetworkError"),
    (httpx.ConnectTimeout("timed out"), "NetworkError"),
    (httpx.ReadTimeout("timed out"), "Timeout"),
    (httpx.WriteTimeout("timed out"), "Timeout"),
    (httpx.PoolTimeout("timed out"), "Timeout"),
    (httpx.RemoteProtocolError("Server disconnected without sending a response."), "NetworkError"),
    (httpx.ReadError("connection reset by peer"), "NetworkError"),
    (httpx.WriteError("broken pipe"), "NetworkError"),
    (httpx.ProxyError("proxy said no"), "NetworkError"),
    (httpx.DecodingError("bad gzip"), "MalformedResponse"),
    (RuntimeError(f"bug mentioning {SECRET}"), "TransportError"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("exc", "code"), _EXCEPTIONS, ids=[type(e).__name__ for e, _ in _EXCEPTIONS]
)
def test_exceptions_become_outcomes(exc: Exception, code: str, mode: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    outcome = _send(_mock(handler), _one_request(), mode)
    assert (outcome.ok, outcome.http_status, outcome.error_code) == (False, None, code)
    assert SECRET not in outcome.message
    if code != "TransportError":
        assert type(exc).__name__ in outcome.message


@pytest.mark.parametrize("mode", MODES)
def test_cancellation_propagates(mode: str) -> None:
    if mode == "sync":

        def interrupt(request: httpx.Request) -> httpx.Response:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            _mock(interrupt).send(_one_request())
        return

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        raise AssertionError("not reached")

    async def go() -> None:
        transport = _mock(slow)  # type: ignore[arg-type]
        task = asyncio.create_task(transport.asend(_one_request()))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())


_QUERY_ERROR = {"x-amzn-query-error": "Throttling;Sender"}
_XML_ERROR = (
    b'<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error>'
    b"<Type>Sender</Type><Code>InvalidParameterValue</Code><Message>bad value</Message>"
    b"</Error><RequestId>r1</RequestId></ErrorResponse>"
)
_ANSWERS: dict[str, tuple[int, dict[str, str], bytes, SendOutcome]] = {
    "ok": (200, {}, b"{}", SendOutcome(ok=True, http_status=200)),
    "ok_empty": (200, {}, b"", SendOutcome(ok=True, http_status=200)),
    "json_type": (
        400, {}, b'{"__type":"com.amazonaws.cloudwatch#InvalidParameterValue","message":"no"}',
        SendOutcome(False, 400, "InvalidParameterValue", "no"),
    ),
    "json_type_and_query_header": (
        400, _QUERY_ERROR,
        b'{"__type":"com.amazon.coral.availability#ThrottlingException","message":"Rate"}',
        SendOutcome(False, 400, "Throttling", "Rate"),
    ),
    "query_header_only": (400, _QUERY_ERROR, b"", SendOutcome(False, 400, "Throttling", "")),
    "xml": (400, {"Content-Type": "text/xml"}, _XML_ERROR,
            SendOutcome(False, 400, "InvalidParameterValue", "bad value")),
    "html_502": (
        502, {"Content-Type": "text/html"},
        b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        SendOutcome(False, 502, "HttpError502", ""),
    ),
    "truncated_json": (500, {}, b'{"__type":"InternalSe', SendOutcome(False, 500, "HttpError500")),
    "unknown_code": (
        400, {}, b'{"__type":"BrandNewError","message":"?"}',
        SendOutcome(False, 400, "BrandNewError", "?"),
    ),
    "service_unavailable": (
        503, {}, b'{"__type":"ServiceUnavailable","message":"try later"}',
        SendOutcome(False, 503, "ServiceUnavailable", "try later"),
    ),
    "gzipped_error_body": (
        403, {"Content-Encoding": "gzip"},
        gzip.compress(b'{"__type":"AccessDeniedException","message":"denied"}'),
        SendOutcome(False, 403, "AccessDeniedException", "denied"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(_ANSWERS))
def test_http_answers_become_outcomes(case: str, mode: str) -> None:
    status, headers, body, expected = _ANSWERS[case]
    capture = _Capture(lambda: httpx.Response(status, headers=headers, content=body))
    assert _send(_mock(capture), _one_request(), mode) == expected


@pytest.mark.parametrize("mode", MODES)
def test_echoed_token_and_signature_are_scrubbed(mode: str) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        message = (
            "The request signature we calculated does not match. Canonical request: "
            f"x-amz-security-token:{request.headers['X-Amz-Security-Token']} "
            f"got {request.headers['Authorization']}"
        )
        return httpx.Response(403, json={"__type": "SignatureDoesNotMatch", "message": message})

    outcome = _send(_mock(echo), _one_request(), mode)
    assert outcome.error_code == "SignatureDoesNotMatch"
    assert TOKEN not in outcome.message
    assert "Signature=<redacted>" in outcome.message
    assert "x-amz-security-token:<redacted>" in outcome.message


# ---------------------------------------------------------------------------- construction


def test_http_refused_for_non_loopback_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = StaticSigner(ACCESS_KEY, SECRET)
    with pytest.raises(InsecureEndpointError):
        HttpxTransport(region=REGION, endpoint_url="http://monitoring.example.com", signer=signer)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", "http://10.0.0.8:4566")
    with pytest.raises(InsecureEndpointError):
        HttpxTransport(region=REGION, signer=signer)
    allowed = HttpxTransport(region=REGION, signer=signer, allow_insecure_http=True)
    assert allowed.endpoint_url == "http://10.0.0.8:4566"
    for url in ("http://127.0.0.1:4566", "http://localhost:1", "http://[::1]:80"):
        assert HttpxTransport(region=REGION, endpoint_url=url, signer=signer).endpoint_url == url
    with pytest.raises(TransportError):
        HttpxTransport(region=REGION, endpoint_url="ftp://x", signer=signer)


def test_endpoint_and_region_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    signer = StaticSigner(ACCESS_KEY, SECRET)

    def build(**kwargs: Any) -> HttpxTransport:
        return HttpxTransport(signer=kwargs.pop("signer", signer), **kwargs)

    with pytest.raises(TransportError, match="no AWS region"):
        build()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    t = build()
    assert (t.region, t.endpoint_url) == ("eu-west-1", "https://monitoring.eu-west-1.amazonaws.com")
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert build().region == "eu-central-1"
    assert build(signer=StaticSigner(ACCESS_KEY, SECRET, region="ap-south-1")).region == (
        "ap-south-1"
    )
    assert build(region="cn-north-1").endpoint_url == (
        "https://monitoring.cn-north-1.amazonaws.com.cn"
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://generic.example")
    assert build().endpoint_url == "https://generic.example"
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", "https://cw.example/")
    assert build().endpoint_url == "https://cw.example"
    assert build(endpoint_url="https://explicit.example").endpoint_url == (
        "https://explicit.example"
    )
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert build().endpoint_url == "https://monitoring.eu-central-1.amazonaws.com"
    with pytest.raises(TransportError, match="region"):
        build(region="evil.example.com/x")


def test_region_from_botocore_profile(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    config = tmp_path / "config"
    config.write_text("[default]\nregion = sa-east-1\n[profile other]\nregion = af-south-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    signer = StaticSigner(ACCESS_KEY, SECRET)
    assert HttpxTransport(signer=signer).region == "sa-east-1"
    import botocore.session

    other = BotocoreSigner(botocore.session.Session(profile="other"))
    assert HttpxTransport(signer=other).region == "af-south-1"


def test_environment_is_read_in_the_constructor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    signer = StaticSigner()
    transport = HttpxTransport(signer=signer)
    monkeypatch.setenv("AWS_REGION", "us-east-2")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "changed")
    assert transport.region == "us-west-2"
    assert signer.credentials() == Credentials(ACCESS_KEY, SECRET, TOKEN)
    assert signer.source == "environment"


def test_static_signer_requires_credentials() -> None:
    with pytest.raises(CredentialsError, match="AWS_ACCESS_KEY_ID"):
        StaticSigner()
    with pytest.raises(CredentialsError, match="both"):
        StaticSigner(access_key=ACCESS_KEY)


def test_default_signer(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(HttpxTransport(region=REGION).signer, BotocoreSigner)
    monkeypatch.setitem(sys.modules, "botocore", None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    # botocore signs every request: without it each signer names the extra to install.
    for build in (
        lambda: HttpxTransport(region=REGION),
        StaticSigner,
        BotocoreSigner,
    ):
        with pytest.raises(MissingDependencyError, match=r"botocore.*\[httpx\]"):
            build()


def test_missing_httpx_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(MissingDependencyError, match=r"cloudwatch-metrics-client\[httpx\]"):
        HttpxTransport(region=REGION, signer=StaticSigner(ACCESS_KEY, SECRET))


def test_importing_the_package_does_not_import_httpx_or_botocore() -> None:
    code = (
        "import sys, cwmetrics_transports, cwmetrics_transports._httpx, "
        "cwmetrics_transports._signers; "
        "print(sorted(m for m in ('httpx', 'botocore', 'aws_requests_auth') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "[]"


_FIRST_SEND_IMPORTS = """
import asyncio, http.server, sys, threading, time
from cwmetrics_core import MetricKey, MetricsCore
from cwmetrics_transports import HttpxTransport, StaticSigner

class Answer(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
threading.Thread(target=server.serve_forever, daemon=True).start()
now = time.time()
core = MetricsCore(now=now)
core.record_value(MetricKey("Test/Httpx", "Cold"), 1.0, now)
core.flush(now)
request = core.next_batch(now).request
transport = HttpxTransport(
    region="us-east-1", endpoint_url=f"http://127.0.0.1:{server.server_port}",
    signer=StaticSigner("AKIDCOLD", "SECRETCOLD"),
)
loaded = []
loop_thread = threading.get_ident()
sys.addaudithook(
    lambda event, args: event == "import" and threading.get_ident() == loop_thread
    and loaded.append(args[0])
)

async def main():
    return await transport.asend(request)

outcome = asyncio.run(main())
assert outcome.ok, outcome
# Failed lookups (an optional module that is not installed) import nothing.
print(sorted({name for name in loaded if name in sys.modules}))
"""


def test_first_async_send_imports_nothing_on_the_event_loop() -> None:
    # The first send of a fresh process: httpcore imports its asyncio backend (anyio,
    # ~30 ms of CPU) at its first request; the transport has it imported beforehand in
    # the worker thread that builds the client, so the event loop is not stalled.
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_SEND_IMPORTS],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_pool_settings_and_client_ownership() -> None:
    transport = HttpxTransport(region=REGION, signer=StaticSigner(ACCESS_KEY, SECRET))
    client = transport._blocking_client()
    pool = client._transport._pool  # type: ignore[attr-defined]
    assert pool._keepalive_expiry == 120.0
    assert pool._max_connections == 10
    assert client.timeout.read == 10.0
    transport.close()
    assert client.is_closed
    assert transport.send(_one_request()).error_code == "TransportClosed"

    mine = httpx.Client(transport=httpx.MockTransport(_Capture()))
    borrowed = HttpxTransport(
        region=REGION, signer=StaticSigner(ACCESS_KEY, SECRET), sync_client=mine
    )
    assert borrowed.send(_one_request()).ok
    borrowed.close()
    borrowed.close()
    assert not mine.is_closed
    mine.close()

    async def go() -> None:
        t = HttpxTransport(region=REGION, signer=StaticSigner(ACCESS_KEY, SECRET))
        async_client = await t._async_client()
        async with t:
            pass
        assert async_client.is_closed
        assert (await t.asend(_one_request())).error_code == "TransportClosed"

    asyncio.run(go())


# ---------------------------------------------------------------------------- signers


class _FakeSession:
    """Stands in for a botocore session: ``get_credentials()`` as scripted."""

    def __init__(self, credentials: Any = None, error: Exception | None = None) -> None:
        self.credentials = credentials
        self.error = error
        self.threads: list[int] = []

    def get_credentials(self) -> Any:
        self.threads.append(threading.get_ident())
        if self.error is not None:
            raise self.error
        return self.credentials

    def get_config_variable(self, name: str) -> Any:
        return None


def _refreshable(expires_in: float, refreshed: list[int], new_key: str = "AKIDREFRESHED") -> Any:
    from botocore.credentials import RefreshableCredentials

    def now() -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def refresh() -> dict[str, str]:
        refreshed.append(threading.get_ident())
        expiry = now() + dt.timedelta(hours=1)
        return {
            "access_key": new_key,
            "secret_key": SECRET,
            "token": TOKEN,
            "expiry_time": expiry.isoformat(),
        }

    return RefreshableCredentials(
        ACCESS_KEY, SECRET, TOKEN, now() + dt.timedelta(seconds=expires_in), refresh,
        "test", time_fetcher=now,
    )  # fmt: skip


def test_botocore_refresh_runs_in_a_worker_thread() -> None:
    refreshed: list[int] = []
    session = _FakeSession(_refreshable(60, refreshed))  # inside the 15 min advisory window
    capture = _Capture()
    transport = _mock(capture, signer=BotocoreSigner(session))  # type: ignore[arg-type]
    request = _one_request()

    async def go() -> tuple[int, list[SendOutcome]]:
        loop_thread = threading.get_ident()
        outcomes = [await transport.asend(request) for _ in range(3)]
        await transport.aclose()
        return loop_thread, outcomes

    loop_thread, outcomes = asyncio.run(go())
    assert all(o.ok for o in outcomes)
    assert len(refreshed) == 1  # refreshed once, then the frozen copy is reused
    assert refreshed[0] != loop_thread
    assert session.threads and all(t != loop_thread for t in session.threads)
    assert len(session.threads) == 1
    auths = [r.headers["Authorization"] for r in capture.requests]
    assert all("Credential=AKIDREFRESHED/" in a for a in auths)


def test_botocore_sync_path_refreshes_in_the_calling_thread() -> None:
    refreshed: list[int] = []
    signer = BotocoreSigner(_FakeSession(_refreshable(60, refreshed)))  # type: ignore[arg-type]
    assert signer.credentials().access_key == "AKIDREFRESHED"
    assert signer.credentials().access_key == "AKIDREFRESHED"
    assert refreshed == [threading.get_ident()]


def test_botocore_static_credentials_resolved_once() -> None:
    from botocore.credentials import Credentials as BotoCredentials

    session = _FakeSession(BotoCredentials(ACCESS_KEY, SECRET, TOKEN, method="env"))
    signer = BotocoreSigner(session)  # type: ignore[arg-type]

    async def go() -> list[Credentials]:
        return [await signer.acredentials() for _ in range(3)]

    assert asyncio.run(go()) == [Credentials(ACCESS_KEY, SECRET, TOKEN)] * 3
    assert len(session.threads) == 1
    assert "env" in repr(signer)


@pytest.mark.parametrize("mode", MODES)
def test_credential_failures_become_outcomes(mode: str) -> None:
    from botocore.exceptions import CredentialRetrievalError

    failing = [
        _FakeSession(None),
        _FakeSession(error=CredentialRetrievalError(provider="sso", error_msg=f"out: {SECRET}")),
        _FakeSession(error=RuntimeError(SECRET)),
    ]
    for session in failing:
        transport = _mock(_Capture(), signer=BotocoreSigner(session))  # type: ignore[arg-type]
        outcome = _send(transport, _one_request(), mode)
        assert (outcome.ok, outcome.error_code, outcome.http_status) == (
            False, "CredentialsError", None,
        )  # fmt: skip
        assert SECRET not in outcome.message
    assert (
        "'sso'"
        in _send(
            _mock(_Capture(), signer=BotocoreSigner(failing[1])),  # type: ignore[arg-type]
            _one_request(),
            mode,
        ).message
    )


@pytest.mark.parametrize("token", [TOKEN, None])
def test_all_signers_produce_the_same_authorization(token: str | None) -> None:
    from botocore.credentials import Credentials as BotoCredentials

    url = "https://monitoring.us-east-1.amazonaws.com/"
    body = _one_request().body
    headers = {
        "Host": "monitoring.us-east-1.amazonaws.com",
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
        "User-Agent": USER_AGENT,
    }
    signers: list[Signer] = [
        StaticSigner(ACCESS_KEY, SECRET, token, signed_headers=()),
        BotocoreSigner(
            _FakeSession(BotoCredentials(ACCESS_KEY, SECRET, token)),  # type: ignore[arg-type]
            signed_headers=(),
        ),
        StaticSigner(ACCESS_KEY, SECRET, token, signed_headers=["host"]),
    ]
    results = [
        s.sign("POST", url, headers, body, region=REGION, service="monitoring", amz_date=AMZ_DATE)
        for s in signers
    ]
    assert results[0] == results[1] == results[2]
    expected_signed = "host;x-amz-date;x-amz-security-token" if token else "host;x-amz-date"
    assert f"SignedHeaders={expected_signed}," in results[0]["Authorization"]
    assert results[0]["X-Amz-Date"] == AMZ_DATE
    assert results[0].get("X-Amz-Security-Token") == token

    async def asign(signer: Signer) -> dict[str, str]:
        return await signer.asign(
            "POST", url, headers, body, region=REGION, service="monitoring", amz_date=AMZ_DATE
        )

    assert [asyncio.run(asign(s)) for s in signers] == results


def test_default_signed_headers_match_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    url = "https://monitoring.us-east-1.amazonaws.com/"
    body = gzip.compress(_one_request().body)
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
        "Content-Encoding": "gzip",
        "User-Agent": USER_AGENT,
    }
    fixed = dt.datetime.strptime(AMZ_DATE, "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: fixed)
    aws_request = AWSRequest("POST", url, data=body, headers=dict(headers))
    botocore.auth.SigV4Auth(
        BotoCredentials(ACCESS_KEY, SECRET, TOKEN), "monitoring", REGION
    ).add_auth(aws_request)
    ours = StaticSigner(ACCESS_KEY, SECRET, TOKEN).sign(
        "POST", url, {"Host": "monitoring.us-east-1.amazonaws.com", **headers}, body,
        region=REGION, service="monitoring", amz_date=AMZ_DATE,
    )  # fmt: skip
    assert ours["Authorization"] == aws_request.headers["Authorization"]


@pytest.mark.parametrize("mode", MODES)
def test_request_time_comes_from_the_injected_clock(mode: str) -> None:
    pinned = dt.datetime.strptime(AMZ_DATE, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    capture = _Capture()
    transport = _mock(capture, clock=lambda: pinned.timestamp() + 0.75)
    assert _send(transport, _one_request(series=6, values=150), mode).ok
    (sent,) = capture.requests
    assert sent.headers["X-Amz-Date"] == AMZ_DATE
    assert f"Credential={ACCESS_KEY}/{AMZ_DATE[:8]}/" in sent.headers["Authorization"]
    _verify_signature(sent, Credentials(ACCESS_KEY, SECRET, TOKEN))


def test_aws_requests_auth_signer_still_signs_through_the_transport() -> None:
    capture = _Capture()
    with pytest.warns(DeprecationWarning, match="StaticSigner"):
        signer = AwsRequestsAuthSigner(ACCESS_KEY, SECRET, TOKEN)
    assert _mock(capture, signer=signer).send(_one_request()).ok
    (sent,) = capture.requests
    assert "x-amz-content-sha256" not in sent.headers
    _verify_signature(sent, Credentials(ACCESS_KEY, SECRET, TOKEN))


def test_reprs_hide_secrets() -> None:
    from botocore.credentials import Credentials as BotoCredentials

    with pytest.warns(DeprecationWarning):
        alias = AwsRequestsAuthSigner(ACCESS_KEY, SECRET, TOKEN)
    signers: list[Signer] = [
        StaticSigner(ACCESS_KEY, SECRET, TOKEN),
        alias,
        BotocoreSigner(_FakeSession(BotoCredentials(ACCESS_KEY, SECRET, TOKEN))),  # type: ignore[arg-type]
    ]
    asyncio.run(signers[2].acredentials())  # type: ignore[attr-defined]
    for signer in signers:
        transport = HttpxTransport(region=REGION, signer=signer)
        for text in (repr(signer), str(signer), repr(transport), str(transport)):
            assert SECRET not in text and TOKEN not in text


# ---------------------------------------------------------------------------- integration


def _series_key(s: int) -> MetricKey:
    return MetricKey(NS, "Latency", {"Series": f"s{s}"}, unit="Milliseconds")


def _drain(core: MetricsCore, transport: HttpxTransport, mode: str) -> list[SendOutcome]:
    """Drain everything due through ``send_flow`` with ``send`` or ``asend``."""
    from cwmetrics_core import send_flow

    outcomes: list[SendOutcome] = []

    async def adrain() -> None:
        flow = send_flow(core, time.time())
        batch = next(flow, None)
        try:
            while batch is not None:
                outcomes.append(await transport.asend(batch.request))
                try:
                    batch = flow.send((outcomes[-1], time.time()))
                except StopIteration:
                    batch = None
        finally:
            flow.close()
        await transport.aclose()

    if mode == "async":
        asyncio.run(adrain())
        return outcomes
    flow = send_flow(core, time.time())
    batch = next(flow, None)
    try:
        while batch is not None:
            outcomes.append(transport.send(batch.request))
            try:
                batch = flow.send((outcomes[-1], time.time()))
            except StopIteration:
                batch = None
    finally:
        flow.close()
    transport.close()
    return outcomes


def _local(cw: LocalCloudWatch, **kwargs: Any) -> HttpxTransport:
    kwargs.setdefault("signer", StaticSigner("testing", "testing"))
    return HttpxTransport(region=cw.region, endpoint_url=cw.url, **kwargs)


@pytest.mark.parametrize("mode", MODES)
def test_round_trip_exact_statistics(local_cloudwatch: LocalCloudWatch, mode: str) -> None:
    now = time.time()
    core = MetricsCore(now=now)
    expected: dict[int, list[float]] = {}
    for s in range(4):
        values = [((i * 7 + s) % 40) * 0.25 for i in range(300)]  # repeats -> Counts
        expected[s] = values
        for v in values:
            core.record_value(_series_key(s), v, now)
    stat_key = MetricKey(NS, "Payload", {"Series": "stats"}, unit="Bytes")
    core.record_statistics(stat_key, 10, 55.5, 0.5, 12.0, now)
    core.record_statistics(stat_key, 5, 20.0, 0.25, 8.0, now)
    core.flush(now)
    outcomes = _drain(core, _local(local_cloudwatch), mode)
    assert outcomes and all(o.ok for o in outcomes)
    assert core.stats.sent_samples == 4 * 300 + 15

    client = local_cloudwatch.boto3_client()
    window = {
        "StartTime": dt.datetime.fromtimestamp(now - 3600, dt.timezone.utc),
        "EndTime": dt.datetime.fromtimestamp(now + 3600, dt.timezone.utc),
        "Period": 7200,
        "Statistics": ["SampleCount", "Sum", "Minimum", "Maximum"],
    }
    for s, values in expected.items():
        (point,) = client.get_metric_statistics(
            Namespace=NS, MetricName="Latency",
            Dimensions=[{"Name": "Series", "Value": f"s{s}"}], **window,
        )["Datapoints"]  # fmt: skip
        want = (len(values), math.fsum(values), min(values), max(values))
        assert (point["SampleCount"], point["Sum"], point["Minimum"], point["Maximum"]) == want
        recorded = local_cloudwatch.series_stats(NS, "Latency", {"Series": f"s{s}"})
        assert (recorded.sample_count, recorded.sum, recorded.minimum, recorded.maximum) == want
        assert Counter(recorded.values) == Counter(
            {v: float(c) for v, c in Counter(values).items()}
        )
    (point,) = client.get_metric_statistics(
        Namespace=NS, MetricName="Payload",
        Dimensions=[{"Name": "Series", "Value": "stats"}], **window,
    )["Datapoints"]  # fmt: skip
    assert (point["SampleCount"], point["Sum"], point["Minimum"], point["Maximum"]) == (
        15.0, 75.5, 0.25, 12.0,
    )  # fmt: skip
    puts = local_cloudwatch.accepted_puts()
    assert {p.protocol for p in puts} == {"json"}


@pytest.mark.parametrize("mode", MODES)
def test_large_body_goes_gzipped(local_cloudwatch: LocalCloudWatch, mode: str) -> None:
    requests = _requests(series=20, values=150)
    assert len(requests) == 1 and len(requests[0].body) > 4096
    with _sending(_local(local_cloudwatch), mode) as send:
        assert send(requests[0]) == SendOutcome(ok=True, http_status=200)
    (entry,) = local_cloudwatch.request_log()
    assert entry.compressed and entry.raw_bytes == len(requests[0].body)
    assert entry.wire_bytes < entry.raw_bytes
    assert local_cloudwatch.stats().datums_accepted == 20


@pytest.mark.parametrize("mode", MODES)
def test_strict_endpoint_rejection(local_cloudwatch: LocalCloudWatch, mode: str) -> None:
    config = CoreConfig(max_timestamp_age=30 * 86400.0)
    request = _one_request(timestamp=time.time() - 21 * 86400, config=config)
    with _sending(_local(local_cloudwatch), mode) as send:
        outcome = send(request)
    assert (outcome.ok, outcome.http_status, outcome.error_code) == (
        False, 400, "InvalidParameterValue",
    )  # fmt: skip
    assert outcome.message


_FAULTS: dict[str, tuple[Callable[[LocalCloudWatch], None], int | None, str]] = {
    "503": (lambda cw: cw.fail_next(status=503, code="ServiceUnavailable"), 503,
            "ServiceUnavailable"),
    "throttling": (lambda cw: cw.fail_next(status=400, code="Throttling"), 400, "Throttling"),
    "internal": (lambda cw: cw.fail_next(), 500, "InternalServiceError"),
    "dropped": (lambda cw: cw.drop_next(), None, "NetworkError"),
    "slow": (lambda cw: cw.slow_down(0.6, count=1), None, "Timeout"),
    "down": (lambda cw: cw.down(), None, "NetworkError"),
}  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", sorted(_FAULTS))
def test_faults(local_cloudwatch: LocalCloudWatch, fault: str, mode: str) -> None:
    inject, status, code = _FAULTS[fault]
    inject(local_cloudwatch)
    with _sending(_local(local_cloudwatch, timeout=0.25), mode) as send:
        outcome = send(_one_request())
        assert (outcome.ok, outcome.http_status, outcome.error_code) == (False, status, code)
        local_cloudwatch.up()
        # The transport recovers: the next send on the same object succeeds.
        again = send(_one_request())
        assert again.ok, again


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "botocore", "cwmetrics", "urllib3"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


class _Spy(Signer):
    """Delegates to a signer and keeps every signature it produced."""

    def __init__(self, inner: Signer) -> None:
        self.inner = inner
        self.signatures: list[str] = []

    def _keep(self, added: dict[str, str]) -> dict[str, str]:
        self.signatures.append(added["Authorization"].rpartition("Signature=")[2])
        return added

    def sign(self, method: str, url: str, headers: Any, body: bytes, **kw: Any) -> dict[str, str]:
        return self._keep(self.inner.sign(method, url, headers, body, **kw))

    async def asign(
        self, method: str, url: str, headers: Any, body: bytes, **kw: Any
    ) -> dict[str, str]:
        return self._keep(await self.inner.asign(method, url, headers, body, **kw))

    def __repr__(self) -> str:
        return f"_Spy({self.inner!r})"


def test_no_secrets_in_logs_reprs_or_outcomes(
    local_cloudwatch: LocalCloudWatch,
    debug_logs: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import botocore.session

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    signers: list[Signer] = [
        StaticSigner(),
        BotocoreSigner(botocore.session.Session()),
        StaticSigner(signed_headers=()),
    ]
    texts: list[str] = []
    spies: list[_Spy] = []
    for signer in signers:
        spy = _Spy(signer)
        spies.append(spy)
        for mode in MODES:
            local_cloudwatch.up()
            transport = _local(local_cloudwatch, signer=spy, timeout=2.0)
            texts += [repr(signer), str(signer), repr(transport)]
            with _sending(transport, mode) as send:
                outcomes = [send(_one_request())]
                local_cloudwatch.fail_next(status=403, code="AccessDenied")
                outcomes.append(send(_one_request()))
                local_cloudwatch.drop_next()
                outcomes.append(send(_one_request()))
                local_cloudwatch.down()
                outcomes.append(send(_one_request()))
            assert [o.error_code for o in outcomes] == [
                None, "AccessDenied", "NetworkError", "NetworkError",
            ]  # fmt: skip
            texts += [repr(o) for o in outcomes]
    local_cloudwatch.up()
    signatures = [sig for spy in spies for sig in spy.signatures]
    assert len(signatures) == 3 * 2 * 4 and all(len(s) == 64 for s in signatures)
    logs = debug_logs.text + "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text}" for r in debug_logs.records
    )
    assert any(r.name.startswith("httpcore") for r in debug_logs.records)  # DEBUG was on
    assert "PutMetricData namespace=" in logs
    haystack = logs + "\n".join(texts)
    for needle in (SECRET, TOKEN, *signatures):
        assert needle not in haystack


def test_async_client_follows_the_event_loop(local_cloudwatch: LocalCloudWatch) -> None:
    """A second ``asyncio.run`` gets a fresh pool: connections never cross event loops."""
    transport = _local(local_cloudwatch)
    first = _send(transport, _one_request(), "async")
    first_client = transport._client
    second = _send(transport, _one_request(), "async")
    assert first.ok and second.ok
    assert transport._client is not first_client
    asyncio.run(transport.aclose())
