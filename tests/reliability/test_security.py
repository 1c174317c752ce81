"""Security: no secret ever printed, TLS on by default, data goes to the endpoint only.

SigV4 (signed by botocore) is checked, for every shipped signer, against AWS's official
test vectors and botocore's own ``add_auth`` in ``tests/transports/test_sigv4.py``; it is
not repeated here.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cwmetrics_transports import (
    Boto3Transport,
    HttpxTransport,
    InsecureEndpointError,
    Signer,
    StaticSigner,
)
from cwmetrics_transports.testing import LocalCloudWatch

from .conftest import (
    MODES,
    TRANSPORTS,
    Harness,
    Workload,
    assert_accounted,
    fast_config,
    wait_idle,
)

Figures = Callable[[str, object], None]

ACCESS_KEY = "AKIDEXAMPLE"
SECRET = "SECRETSECRETSECRETSECRETSECRETSECRET0042"
TOKEN = "TOKENTOKENTOKENTOKENTOKEN" * 8 + "/Zz=="
#: Loggers switched to DEBUG: ours, the HTTP stacks' and the AWS SDK's.
LOGGERS = ("", "cloudwatch_metrics_client", "cwmetrics", "botocore", "boto3", "urllib3",
           "httpx", "httpcore", "hpack", "asyncio")  # fmt: skip
OURS = ("cloudwatch_metrics_client", "cwmetrics")

#: What CloudWatch says for SignatureDoesNotMatch: the canonical request it expected,
#: which lists the signed headers with their values (the session token among them).
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service "
    "documentation for details.\n\nThe Canonical String for this request should have "
    f"been\n'POST\n/\n\nhost:127.0.0.1\nx-amz-security-token:{TOKEN}\n'"
)


class SpySigner(Signer):
    """Signs with a StaticSigner and keeps every signature and header it produced."""

    def __init__(self) -> None:
        self.inner = StaticSigner(ACCESS_KEY, SECRET, TOKEN)
        self.signatures: list[str] = []

    def _keep(self, added: dict[str, str]) -> dict[str, str]:
        self.signatures.append(added["Authorization"].rpartition("Signature=")[2])
        return added

    def sign(self, method: str, url: str, headers: Any, body: bytes, **kw: Any) -> dict[str, str]:
        return self._keep(self.inner.sign(method, url, headers, body, **kw))

    def __repr__(self) -> str:
        return f"SpySigner({self.inner!r})"


def secret_transport(kind: str, cw: LocalCloudWatch, signatures: list[str]) -> Any:
    """A transport to ``cw`` holding the recognisable credentials; every signature it
    sends is appended to ``signatures``."""
    if kind == "httpx":
        signer = SpySigner()
        signer.signatures = signatures
        return HttpxTransport(region=cw.region, endpoint_url=cw.url, signer=signer, timeout=2)
    import boto3

    session = boto3.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET, aws_session_token=TOKEN,
        region_name=cw.region,
    )  # fmt: skip
    transport = Boto3Transport(endpoint_url=cw.url, region=cw.region, timeout=2, session=session)

    def keep(request: Any, **kwargs: Any) -> None:
        authorization = request.headers["Authorization"]
        if isinstance(authorization, bytes):
            authorization = authorization.decode()
        signatures.append(authorization.rpartition("Signature=")[2])

    transport.client.meta.events.register("before-send.cloudwatch.PutMetricData", keep)
    return transport


@pytest.fixture
def debug_everything(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """DEBUG logging on for every logger that could print a request."""
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
    yield caplog


def _text(record: logging.LogRecord) -> str:
    return f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", TRANSPORTS)
def test_no_credentials_signatures_or_tokens_in_logs_reprs_or_errors(
    local_cloudwatch: LocalCloudWatch, debug_everything: pytest.LogCaptureFixture,
    figures: Figures, kind: str, mode: str,
) -> None:  # fmt: skip
    """With DEBUG logging on everywhere and a recognisable secret key and session token,
    a full reporter lifecycle through the transport (success, a 500, a 403 whose message
    echoes the token as CloudWatch's SignatureDoesNotMatch does, a dropped connection,
    an access-denied drop, shutdown with undelivered data) never puts the secret key,
    the session token or any request signature into our loggers' output, the reprs of
    the reporter, transport, signer and stats, or any outcome or exception text. The
    secret key appears nowhere at all, botocore's own DEBUG output included; what
    botocore prints of tokens and signatures at DEBUG is measured and reported."""
    cw = local_cloudwatch
    ns = f"Rel/Secrets/{mode}/{kind}"
    signatures: list[str] = []
    transport = secret_transport(kind, cw, signatures)
    harness = Harness(
        mode, transport, namespace=ns, shutdown_timeout=0.5,
        config=fast_config(flush_interval=60),  # sends on flush() only: known batches
    )  # fmt: skip
    workload = Workload(ns, series=2)
    texts: list[str] = []
    try:
        harness.start()
        workload.drive(harness, chunks=2, per_chunk=10, pause=0.05)
        assert harness.flush(5)
        # The first retry is the one logged (the next ones are rate-limited).
        cw.fail_next(status=403, code="SignatureDoesNotMatch", message=SIGNATURE_MISMATCH)
        cw.fail_next(status=500)
        cw.drop_next()
        workload.drive(harness, chunks=2, per_chunk=10, pause=0.05)
        assert harness.flush(10)
        texts.append(repr(harness.reporter.core.last_failure))
        cw.fail_next(status=400, code="AccessDeniedException", message="not authorized")
        workload.drive(harness, chunks=1, per_chunk=10, pause=0.0)
        assert harness.flush(10)
        texts.append(repr(harness.reporter.core.last_failure))
        cw.down()
        workload.drive(harness, chunks=1, per_chunk=10, pause=0.0)
        assert not harness.stop()
        stats = harness.stats
        texts += [repr(harness.reporter), str(harness.reporter), repr(transport), repr(stats)]
        texts += [repr(getattr(transport, "signer", None)), repr(harness.metrics)]
    finally:
        cw.up()
        harness.close()
    wait_idle(cw)

    assert stats.core.dropped_rejected == 10 and stats.core.dropped_shutdown == 10
    assert_accounted(cw, stats, workload.recorded, ns)
    assert len(signatures) >= 6 and all(len(s) == 64 for s in signatures)
    records = debug_everything.records
    assert any(r.name.startswith(("botocore", "httpcore", "urllib3")) for r in records)
    ours = "\n".join(_text(r) for r in records if r.name.startswith(OURS))
    assert "SignatureDoesNotMatch" in ours  # the failures were logged...
    haystack = ours + "\n".join(texts)
    for needle in (SECRET, TOKEN, *signatures):  # ...without any secret
        assert needle not in haystack
    everything = debug_everything.text + "\n".join(_text(r) for r in records)
    assert SECRET not in everything
    theirs = "\n".join(_text(r) for r in records if not r.name.startswith(OURS))
    figures("botocore_debug_prints_token", TOKEN in theirs)
    figures("botocore_debug_prints_signature", any(s in theirs for s in signatures))


@pytest.mark.parametrize("kind", ["httpx", "boto3"])
def test_an_echoed_token_is_scrubbed_from_failure_messages(
    local_cloudwatch: LocalCloudWatch, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    """A service (or proxy) error message that repeats the session token or the request
    signature verbatim, on its first line: the failure is logged, the token and the
    signature are not."""
    caplog.set_level(logging.WARNING, logger="cloudwatch_metrics_client")
    cw = local_cloudwatch
    ns = f"Rel/Echo/{kind}"
    signatures: list[str] = []
    harness = Harness("sync", secret_transport(kind, cw, signatures), namespace=ns)
    try:
        workload = Workload(ns, series=2)
        harness.record(lambda m: workload.record(m, 10))
        cw.fail_next(status=500, code="InternalFailure", message=f"token {TOKEN} rejected")
        assert harness.flush(5)
        outcome = harness.reporter.core.last_failure
    finally:
        harness.close()
    assert outcome is not None and outcome.outcome.error_code == "InternalFailure"
    logged = "\n".join(_text(r) for r in caplog.records) + repr(outcome)
    assert "InternalFailure" in logged
    assert TOKEN not in logged


def test_tls_verification_is_on_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Default transports talk HTTPS to the regional endpoint and verify certificates
    and host names (nothing is sent: building the clients does no I/O)."""
    import boto3

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_PROFILE", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    httpx_transport = HttpxTransport(region="eu-west-1", signer=StaticSigner(ACCESS_KEY, SECRET))
    assert httpx_transport.endpoint_url == "https://monitoring.eu-west-1.amazonaws.com"
    assert httpx_transport._verify is True
    context = httpx_transport._blocking_client()._transport._pool._ssl_context  # type: ignore[attr-defined]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    httpx_transport.close()

    session = boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET)
    boto = Boto3Transport(region="eu-west-1", session=session)
    assert boto.client.meta.endpoint_url == "https://monitoring.eu-west-1.amazonaws.com"
    http = boto.client._endpoint.http_session
    assert http._verify not in (False, None)  # True, or the CA bundle to verify with
    ssl_context = http._manager.connection_pool_kw["ssl_context"]
    assert ssl_context.verify_mode is ssl.CERT_REQUIRED
    boto.close()


@pytest.mark.parametrize(
    "url", ["http://monitoring.example.com", "http://10.0.0.8:4566", "http://127.0.0.1.nip.io"]
)
def test_plain_http_is_refused_except_to_loopback(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """Plain ``http://`` to anything but loopback raises ``InsecureEndpointError`` when
    the transport is built (explicit argument or environment), for both transports;
    loopback and an explicit ``allow_insecure_http=True`` are accepted."""
    import boto3

    session = boto3.Session(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET)
    signer = StaticSigner(ACCESS_KEY, SECRET)
    with pytest.raises(InsecureEndpointError):
        HttpxTransport(region="us-east-1", endpoint_url=url, signer=signer)
    with pytest.raises(InsecureEndpointError):
        Boto3Transport(region="us-east-1", endpoint_url=url, session=session)
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", url)
    with pytest.raises(InsecureEndpointError):
        HttpxTransport(region="us-east-1", signer=signer)
    with pytest.raises(InsecureEndpointError):
        Boto3Transport(region="us-east-1", session=boto3.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET))  # fmt: skip
    monkeypatch.delenv("AWS_ENDPOINT_URL_CLOUDWATCH")
    assert HttpxTransport(region="us-east-1", endpoint_url=url, signer=signer,
                          allow_insecure_http=True).endpoint_url == url  # fmt: skip
    for loopback in ("http://127.0.0.1:4566", "http://localhost:4566", "http://[::1]:4566"):
        assert HttpxTransport(region="us-east-1", endpoint_url=loopback,
                              signer=signer).endpoint_url == loopback  # fmt: skip
        Boto3Transport(region="us-east-1", endpoint_url=loopback, session=session).close()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", TRANSPORTS)
def test_data_goes_to_the_configured_endpoint_only(
    local_cloudwatch: LocalCloudWatch, monkeypatch: pytest.MonkeyPatch, kind: str, mode: str
) -> None:
    """Every socket the reporter opens (connect and name resolution, watched at the
    ``socket`` module) goes to the configured endpoint, and every request it makes is
    one the endpoint received: requests at the endpoint == acknowledged + failed."""
    cw = local_cloudwatch
    ns = f"Rel/OnlyHere/{mode}/{kind}"
    peers: list[Any] = []
    lookups: list[Any] = []
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def watched_connect(self: socket.socket, address: Any) -> Any:
        peers.append(address[:2] if isinstance(address, tuple) else address)
        return connect(self, address)

    def watched_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(host)
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", watched_connect)
    monkeypatch.setattr(socket, "getaddrinfo", watched_getaddrinfo)
    signatures: list[str] = []
    harness = Harness(mode, secret_transport(kind, cw, signatures), namespace=ns)
    workload = Workload(ns)
    try:
        harness.start()
        cw.fail_next(2, status=503, code="ServiceUnavailable")
        cw.drop_next()
        workload.drive(harness, chunks=6, per_chunk=20, pause=0.05)
        assert harness.flush(10)
        stats = harness.stats
    finally:
        harness.close()
    monkeypatch.undo()
    wait_idle(cw)
    time.sleep(0.05)
    assert peers, "the watch saw no connection: it proves nothing"
    assert set(peers) == {("127.0.0.1", cw.port)}, peers
    assert set(lookups) <= {"127.0.0.1"}, lookups
    assert cw.stats().put_requests == stats.core.requests_sent + stats.core.send_failures
    assert stats.core.send_failures == 3
    assert_accounted(cw, stats, workload.recorded, ns)


# ---------------------------------------------------------------------------- endpoint guard

#: URLs the guard must refuse: each is read differently by urllib.parse, urllib3 (under
#: botocore) or httpx, hides a host in userinfo, or names loopback in a spelling that
#: resolvers disagree on. ``{port}`` is a real listener's port; ``evil.invalid`` can
#: never resolve (RFC 2606), and the watch below proves it is never even looked up.
REFUSED_URLS = [
    "http://evil.invalid\\@127.0.0.1:{port}/",  # urllib3: evil.invalid; urlsplit: loopback
    "http://127.0.0.1:{port}\\@evil.invalid/",
    "http://evil.invalid@127.0.0.1:{port}/",
    "http://127.0.0.1:{port}@evil.invalid/",
    "http://user:secret@127.0.0.1:{port}/",
    "http://evil.invalid#@127.0.0.1:{port}/",
    "http://evil.invalid?@127.0.0.1:{port}/",
    "http://127.0.0.1 .evil.invalid:{port}/",
    "http://127.0.0.1\t:{port}/",
    "http://127.0.0.1:{port}/\r\nHost: evil.invalid",
    " http://127.0.0.1:{port}/",
    "http://127.0.0.1%2f@evil.invalid:{port}/",
    "http://127.0.0.1%2eevil.invalid:{port}/",
    "http://127.0.0.1.evil.invalid:{port}/",
    "http://localhost.evil.invalid:{port}/",
    "http://127.1:{port}/",
    "http://0x7f.0.0.1:{port}/",
    "http://2130706433:{port}/",
    "http://127.000.000.001:{port}/",
    "http://[::ffff:127.0.0.1]:{port}/",
    "http://[evil.invalid]:{port}/",
    "http://127.0.0.1:{port}:80/",
    "http://127.0.0.1:99999/",
    "http://\uff4cocalhost:{port}/",  # fullwidth l: NFKC-normalised to localhost by some
    "ftp://127.0.0.1:{port}/",
]
#: Spellings the guard accepts; each must reach the listener on 127.0.0.1 and nothing else.
ACCEPTED_URLS = [
    "http://127.0.0.1:{port}",
    "HTTP://127.0.0.1:{port}/",
    "http://LocalHost:{port}/",
    "http://127.0.0.1:{port}/prefix/",
]
GUARDED = ("httpx", "boto3", "aiobotocore")


class _Watch:
    """Records every ``socket.connect`` and ``getaddrinfo`` while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.peers: list[Any] = []
        self.lookups: list[Any] = []
        connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

        def watched_connect(sock: socket.socket, address: Any) -> Any:
            self.peers.append(address[:2] if isinstance(address, tuple) else address)
            return connect(sock, address)

        def watched_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            self.lookups.append(host)
            return getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", watched_connect)
        monkeypatch.setattr(socket, "getaddrinfo", watched_getaddrinfo)


@pytest.fixture
def aws_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """Empty AWS config/credentials files, keys in the environment, no endpoint set."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE",
                 "AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                 "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY",
                 "all_proxy"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config"
    config.write_text("[default]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return config


def _build(kind: str, endpoint_url: str | None) -> Any:
    """A transport of ``kind`` from the standard configuration (+ ``endpoint_url``)."""
    import asyncio

    from cwmetrics_transports import AioBotocoreTransport

    if kind == "httpx":
        return HttpxTransport(endpoint_url=endpoint_url, timeout=2)
    if kind == "boto3":
        return Boto3Transport(endpoint_url=endpoint_url, timeout=2)

    async def create() -> Any:
        transport = await AioBotocoreTransport.create(endpoint_url=endpoint_url, timeout=2)
        await transport.aclose()
        return transport

    return asyncio.run(create())


@pytest.mark.parametrize("kind", GUARDED)
@pytest.mark.parametrize("template", REFUSED_URLS)
def test_tricky_endpoint_urls_are_refused_before_any_connection(
    monkeypatch: pytest.MonkeyPatch, aws_files: Any, kind: str, template: str
) -> None:
    """Each URL of the table is refused with ``InvalidEndpointError`` (a ``ValueError``;
    ``InsecureEndpointError`` is one) when the transport is built: nothing is resolved
    or connected to, so a host hidden from the guard is never contacted."""
    from cwmetrics_transports import InvalidEndpointError

    with socket.socket() as probe:  # a real free port, though nothing may connect to it
        probe.bind(("127.0.0.1", 0))
        url = template.format(port=probe.getsockname()[1])
        watch = _Watch(monkeypatch)
        with pytest.raises(InvalidEndpointError) as raised:
            _build(kind, url)
        monkeypatch.undo()
    assert (watch.peers, watch.lookups) == ([], [])
    assert isinstance(raised.value, ValueError)
    assert "endpoint_url=" in str(raised.value)
    assert "secret" not in str(raised.value)  # userinfo is redacted


@pytest.mark.parametrize(
    ("kind", "mode"),
    [("httpx", "sync"), ("httpx", "async"), ("boto3", "sync"), ("aiobotocore", "async")],
)
@pytest.mark.parametrize("template", ACCEPTED_URLS)
def test_accepted_endpoint_spellings_connect_exactly_where_judged(
    monkeypatch: pytest.MonkeyPatch, aws_files: Any, kind: str, template: str, mode: str
) -> None:
    """Every spelling the guard accepts as loopback reaches the real listener on
    127.0.0.1 (the request arrives there, at the URL's path), and no socket of the send
    goes anywhere else."""
    import asyncio

    from tests.transports.rawserver import RawServer

    with RawServer("ok") as server:
        url = template.format(port=server.port)
        watch = _Watch(monkeypatch)
        if kind == "aiobotocore":
            from cwmetrics_transports import AioBotocoreTransport

            async def send_aio() -> Any:
                transport = await AioBotocoreTransport.create(endpoint_url=url, timeout=5)
                try:
                    return await transport.asend(_core_request(transport.wire_format))
                finally:
                    await transport.aclose()

            outcome = asyncio.run(send_aio())
        else:
            transport = HttpxTransport(endpoint_url=url, timeout=5) if kind == "httpx" else (
                Boto3Transport(endpoint_url=url, timeout=5))  # fmt: skip
            request = _core_request(transport.wire_format)
            if mode == "sync":
                outcome = transport.send(request)
                transport.close()
            else:

                async def send_async() -> Any:
                    try:
                        return await transport.asend(request)
                    finally:
                        await transport.aclose()

                outcome = asyncio.run(send_async())
        monkeypatch.undo()
    assert outcome.ok, outcome
    assert len(server.received) == 1
    expected_path = "/prefix" if "/prefix" in template else "/"  # trailing "/" dropped
    assert server.received[0].target == expected_path
    assert watch.peers and all(
        peer[1] == server.port and peer[0] in ("127.0.0.1", "::1") for peer in watch.peers
    ), watch.peers
    names = {h.decode() if isinstance(h, bytes) else str(h) for h in watch.lookups}
    assert {n.lower() for n in names} <= {"127.0.0.1", "localhost"}, watch.lookups


def _core_request(wire_format: Any) -> Any:
    from cwmetrics_core import CoreConfig, MetricKey, MetricsCore

    now = time.time()
    core = MetricsCore(CoreConfig(wire_format=wire_format), now=now)
    core.record_value(MetricKey("Rel/Guard", "Latency", unit="Milliseconds"), 1.0, now)
    core.flush(now)
    batch = core.next_batch(now)
    assert batch is not None
    return batch.request


#: Where an endpoint can come from, and the words the error must use to name it.
SOURCES = {
    "argument": "endpoint_url=",
    "AWS_ENDPOINT_URL": "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_CLOUDWATCH": "AWS_ENDPOINT_URL_CLOUDWATCH",
    "profile": "config file",
    "services": "config file",
}


def _configure(source: str, url: str, monkeypatch: pytest.MonkeyPatch, config: Any) -> str | None:
    """Put ``url`` where ``source`` says; returns the endpoint_url argument to pass."""
    if source == "argument":
        return url
    if source.startswith("AWS_"):
        monkeypatch.setenv(source, url)
    elif source == "profile":
        config.write_text(f"[default]\nregion = us-east-1\nendpoint_url = {url}\n")
    else:
        config.write_text(
            "[default]\nregion = us-east-1\nservices = local\n"
            f"[services local]\ncloudwatch =\n  endpoint_url = {url}\n"
        )
    return None


@pytest.mark.parametrize("kind", GUARDED)
@pytest.mark.parametrize("source", list(SOURCES))
def test_every_endpoint_source_is_judged_and_named(
    monkeypatch: pytest.MonkeyPatch, aws_files: Any, kind: str, source: str
) -> None:
    """The issue's URL (``http://evil.invalid\\@127.0.0.1/``: loopback to urllib.parse,
    ``evil.invalid`` to urllib3) and a plain-HTTP remote host are refused whether they
    come from the argument, ``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_CLOUDWATCH``, the
    profile's ``endpoint_url`` or its ``[services]`` section, and the error names that
    source; nothing is connected to."""
    from cwmetrics_transports import InvalidEndpointError

    for url, error in (
        ("http://evil.invalid\\@127.0.0.1/", InvalidEndpointError),
        ("http://evil.invalid/", InsecureEndpointError),
    ):
        with monkeypatch.context() as patch:
            argument = _configure(source, url, patch, aws_files)
            watch = _Watch(patch)
            with pytest.raises(error) as raised:
                _build(kind, argument)
        assert (watch.peers, watch.lookups) == ([], [])
        assert SOURCES[source] in str(raised.value), str(raised.value)
