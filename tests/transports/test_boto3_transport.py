"""Tests of Boto3Transport, AioBotocoreTransport and the client adapters.

Unit tests use botocore's ``Stubber`` and patched ``put_metric_data`` methods; the
integration tests drive the core through real sockets against the strict
``local_cloudwatch`` endpoint (JSON 1.0, and the query protocol forced through the
service model), checking exact aggregates and that botocore's serialized body is exactly
the size the core measured.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import math
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.session
import pytest
from botocore import exceptions as bex
from botocore.config import Config
from botocore.stub import Stubber

from cwmetrics_core import (
    CoreConfig,
    CoreState,
    Disposition,
    MetricKey,
    MetricsCore,
    PutMetricDataRequest,
    RetryPolicy,
    SendOutcome,
    WireFormat,
    send_flow,
)
from cwmetrics_transports import (
    AioBotocoreTransport,
    AsyncTransport,
    Boto3Transport,
    CredentialsError,
    DryRunTransport,
    InsecureEndpointError,
    MissingDependencyError,
    ToThread,
    Transport,
    TransportError,
    async_transport_for,
    transport_for_client,
)
from cwmetrics_transports._boto3 import outcome_from_exception, wire_format_for_client
from cwmetrics_transports.testing import LocalCloudWatch

NS = "Test/Boto3Transport"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKENvalue0123456789"


@pytest.fixture(autouse=True)
def _isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No AWS_* from the outside, no config files, no instance metadata (no network)."""
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _env_credentials(monkeypatch: pytest.MonkeyPatch, region: str = "us-east-1") -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)


def _client(**kwargs: Any) -> Any:
    return boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        **kwargs,
    )


def _request(
    wire_format: WireFormat = WireFormat.BOTOCORE_JSON, n: int = 3
) -> PutMetricDataRequest:
    now = time.time()
    core = MetricsCore(CoreConfig(wire_format=wire_format), now=now)
    for i in range(n):
        core.record_value(MetricKey(NS, "Latency", {"Host": f"h{i}"}, unit="Milliseconds"), i, now)
    core.flush(now)
    batch = core.next_batch(now)
    assert batch is not None
    return batch.request


def _drain(core: MetricsCore, send: Callable[[PutMetricDataRequest], SendOutcome]) -> list[int]:
    """Close the core and send everything; returns each request's measured body size."""
    core.close(time.time())
    sizes: list[int] = []
    for _ in range(100):
        flow = send_flow(core, time.time())
        batch = next(flow, None)
        while batch is not None:
            sizes.append(len(batch.request.body))
            outcome = send(batch.request)
            assert outcome.ok, outcome
            try:
                batch = flow.send((outcome, time.time()))
            except StopIteration:
                batch = None
        if core.state is CoreState.CLOSED:
            return sizes
    raise AssertionError(f"core did not drain: {core.stats}")


def _capture_bodies(client: Any) -> list[int]:
    """Uncompressed size of every PutMetricData body botocore puts on the wire."""
    sizes: list[int] = []

    def before_send(request: Any, **_: Any) -> None:
        body = request.body
        encoding = request.headers.get("Content-Encoding", b"")
        if encoding in (b"gzip", "gzip"):
            body = gzip.decompress(body)
        sizes.append(len(body))

    client.meta.events.register("before-send.cloudwatch.PutMetricData", before_send)
    return sizes


# ---------------------------------------------------------------------------- unit: send


def test_send_success_with_stubber() -> None:
    client = _client()
    request = _request()
    with Stubber(client) as stub:
        stub.add_response(
            "put_metric_data",
            {"ResponseMetadata": {"HTTPStatusCode": 200}},
            expected_params=request.params,
        )
        outcome = Boto3Transport(client).send(request)
        stub.assert_no_pending_responses()
    assert outcome == SendOutcome(ok=True, http_status=200)


@pytest.mark.parametrize(
    ("code", "status", "disposition"),
    [
        ("Throttling", 400, Disposition.RETRY),
        ("InvalidParameterValue", 400, Disposition.SPLIT),
        ("InternalServiceError", 500, Disposition.RETRY),
        ("AccessDenied", 403, Disposition.DROP),
    ],
)
def test_client_errors_with_stubber(code: str, status: int, disposition: Disposition) -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error(
            "put_metric_data", service_error_code=code, service_message="nope",
            http_status_code=status,
        )  # fmt: skip
        outcome = Boto3Transport(client).send(_request())
    assert outcome == SendOutcome(ok=False, http_status=status, error_code=code, message="nope")
    assert RetryPolicy().classify(outcome) is disposition


def _raise(exc: BaseException) -> Callable[..., Any]:
    def put_metric_data(**_: Any) -> Any:
        raise exc

    return put_metric_data


URL = "http://127.0.0.1:1"
_EXCEPTIONS: dict[str, tuple[BaseException, str, int | None]] = {
    "endpoint_connection": (bex.EndpointConnectionError(endpoint_url=URL), "NetworkError", None),
    "connection_closed": (bex.ConnectionClosedError(endpoint_url=URL), "NetworkError", None),
    "connect_timeout": (bex.ConnectTimeoutError(endpoint_url=URL), "NetworkError", None),
    "ssl": (bex.SSLError(endpoint_url=URL, error=OSError("bad cert")), "NetworkError", None),
    "read_timeout": (bex.ReadTimeoutError(endpoint_url=URL), "Timeout", None),
    "no_credentials": (bex.NoCredentialsError(), "CredentialsError", None),
    "partial_credentials": (
        bex.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
        "CredentialsError", None),
    "token_retrieval": (bex.TokenRetrievalError(provider="sso", error_msg="x"),
                        "CredentialsError", None),
    "sso_token_load": (bex.SSOTokenLoadError(error_msg="expired"), "CredentialsError", None),
    "credential_retrieval": (
        bex.CredentialRetrievalError(provider="process", error_msg="x"), "CredentialsError", None),
    "param_validation": (bex.ParamValidationError(report="Invalid type"),
                         "InvalidParameterValue", 400),
    "other_botocore": (bex.IncompleteReadError(actual_bytes=1, expected_bytes=2),
                       "NetworkError", None),
    "builtin_timeout": (TimeoutError("slow"), "Timeout", None),
    "builtin_oserror": (ConnectionResetError(104, "reset"), "NetworkError", None),
    "bug": (KeyError("oops"), "ClientException", None),
    "bug_runtime": (RuntimeError("boom"), "ClientException", None),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(_EXCEPTIONS))
def test_exception_mapping(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    exc, code, status = _EXCEPTIONS[case]
    client = _client()
    monkeypatch.setattr(client, "put_metric_data", _raise(exc))
    outcome = Boto3Transport(client).send(_request())
    assert (outcome.ok, outcome.error_code, outcome.http_status) == (False, code, status)
    assert outcome.message
    assert outcome == outcome_from_exception(exc)


def test_base_exceptions_propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client()
    monkeypatch.setattr(client, "put_metric_data", _raise(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        Boto3Transport(client).send(_request())


def test_real_param_validation_error_is_split() -> None:
    bad: Any = SimpleNamespace(params={"Namespace": NS, "MetricData": [{"MetricName": 5}]})
    outcome = Boto3Transport(_client()).send(bad)
    assert (outcome.error_code, outcome.http_status) == ("InvalidParameterValue", 400)
    assert RetryPolicy().classify(outcome) is Disposition.SPLIT


def test_messages_never_contain_credentials() -> None:
    message = (
        "The request signature we calculated does not match. Credential=AKIAIOSFODNN7EXAMPLE/"
        f"x aws_secret_access_key={SECRET}\n\nThe Canonical String for this request should "
        f"have been\n'POST\n/\nx-amz-security-token:{TOKEN}\n'"
    )
    response: Any = {
        "Error": {"Code": "SignatureDoesNotMatch", "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 403},
    }
    error = bex.ClientError(response, "PutMetricData")
    outcomes = [
        outcome_from_exception(error),
        outcome_from_exception(RuntimeError(f"X-Amz-Security-Token={TOKEN}&Signature=abc")),
        outcome_from_exception(ValueError(f"https://user:{SECRET}@host/ session_token: {TOKEN}")),
        outcome_from_exception(RuntimeError("x" * 5000)),
    ]
    assert outcomes[0].error_code == "SignatureDoesNotMatch"
    assert outcomes[0].http_status == 403
    for outcome in outcomes:
        assert SECRET not in outcome.message and TOKEN not in outcome.message
        assert "AKIAIOSFODNN7EXAMPLE" not in outcome.message
        assert "\n" not in outcome.message and len(outcome.message) <= 512


def test_client_error_without_code_or_status() -> None:
    outcome = outcome_from_exception(bex.ClientError({}, "PutMetricData"))
    assert (outcome.error_code, outcome.http_status) == ("ClientError", None)
    response: Any = {"ResponseMetadata": {"HTTPStatusCode": 413}}
    bare = bex.ClientError(response, "PutMetricData")
    assert outcome_from_exception(bare).error_code == "HttpError413"
    assert RetryPolicy().classify(outcome_from_exception(bare)) is Disposition.SPLIT


# ---------------------------------------------------------------------------- unit: protocol


def _fake_client(**model: Any) -> Any:
    return SimpleNamespace(meta=SimpleNamespace(service_model=SimpleNamespace(**model)))


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"resolved_protocol": "json", "protocol": "smithy-rpc-v2-cbor"}, WireFormat.BOTOCORE_JSON),
        ({"protocol": "query"}, WireFormat.QUERY),  # botocore 1.40 (aioboto3 15.5)
        ({"protocol": "json"}, WireFormat.BOTOCORE_JSON),
        ({"resolved_protocol": "query", "protocol": "query"}, WireFormat.QUERY),
        ({"resolved_protocol": "smithy-rpc-v2-cbor"}, WireFormat.BOTOCORE_JSON),
        ({"resolved_protocol": "rest-xml"}, WireFormat.BOTOCORE_JSON),
        ({}, WireFormat.BOTOCORE_JSON),
    ],
)
def test_protocol_to_wire_format(model: dict[str, str], expected: WireFormat) -> None:
    assert wire_format_for_client(_fake_client(**model)) is expected


def test_real_clients_wire_format(local_cloudwatch: LocalCloudWatch) -> None:
    assert Boto3Transport(_client()).wire_format is WireFormat.BOTOCORE_JSON
    query = local_cloudwatch.boto3_client(protocol="query")
    assert Boto3Transport(query).wire_format is WireFormat.QUERY
    forced = Boto3Transport(_client(), wire_format=WireFormat.QUERY)
    assert forced.wire_format is WireFormat.QUERY


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_serializer_level_size_parity(protocol: str) -> None:
    """botocore's serializer produces exactly the bytes the core measured."""
    import botocore.serialize

    model = _client().meta.service_model.operation_model("PutMetricData")
    serializer = botocore.serialize.create_serializer(protocol, include_validation=True)
    wire = WireFormat.QUERY if protocol == "query" else WireFormat.BOTOCORE_JSON
    request = _big_core_request(wire)
    body = serializer.serialize_to_request(request.params, model)["body"]
    if isinstance(body, dict):  # the query serializer leaves the form to the endpoint
        from urllib.parse import urlencode

        body = urlencode(body, doseq=True)  # what botocore.awsrequest does with it
    body = body.encode() if isinstance(body, str) else body
    assert body == request.body


def _big_core_request(wire: WireFormat) -> PutMetricDataRequest:
    now = time.time()
    core = MetricsCore(CoreConfig(wire_format=wire), now=now)
    rng = random.Random(1)
    for s in range(5):
        key = MetricKey(NS, "Näme/é", {"A b": "c&d=e+f", "S": str(s)}, unit="Bytes/Second",
                        storage_resolution=1 if s % 2 else 60)  # fmt: skip
        for _ in range(40):
            core.record_value(key, rng.choice([1e-100, -2.5e100, 0.1, 3.0, 1e21, 123456.789]), now)
        core.record_statistics(key.with_dimensions({"S": f"stats{s}"}), 4, 10.5, 0.5, 7.25, now)
    core.flush(now)
    batch = core.next_batch(now)
    assert batch is not None
    return batch.request


# ---------------------------------------------------------------------------- unit: default client


def test_default_client_has_retries_turned_down(monkeypatch: pytest.MonkeyPatch) -> None:
    _env_credentials(monkeypatch)
    transport = Boto3Transport()
    config = transport.client.meta.config
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert (config.connect_timeout, config.read_timeout) == (5.0, 20.0)
    assert config.max_pool_connections == 10
    custom = Boto3Transport(max_attempts=3, timeout=2, max_pool_connections=4,
                            config=Config(read_timeout=7))  # fmt: skip
    config = custom.client.meta.config
    assert config.retries == {"total_max_attempts": 3, "mode": "standard"}
    assert (config.connect_timeout, config.read_timeout, config.max_pool_connections) == (2, 7, 4)
    with pytest.raises(ValueError, match="max_attempts"):
        Boto3Transport(max_attempts=0)
    with pytest.raises(ValueError, match="timeout"):
        Boto3Transport(timeout=0)
    with pytest.raises(ValueError, match="max_pool_connections"):
        Boto3Transport(max_pool_connections=0)


def test_env_driven_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    import cwmetrics_transports._boto3  # noqa: F401  (imported before the env is set)

    _env_credentials(monkeypatch, region="eu-west-3")
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", "http://127.0.0.1:4566")
    transport = Boto3Transport()
    assert transport.client.meta.region_name == "eu-west-3"
    assert transport.client.meta.endpoint_url == "http://127.0.0.1:4566"
    assert transport.wire_format is WireFormat.BOTOCORE_JSON
    assert "testing" not in repr(transport)
    monkeypatch.delenv("AWS_ENDPOINT_URL_CLOUDWATCH")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4567")
    assert Boto3Transport().client.meta.endpoint_url == "http://localhost:4567"
    explicit = Boto3Transport(region="ap-south-1", endpoint_url="http://127.0.0.1:9/")
    assert explicit.client.meta.region_name == "ap-south-1"
    assert explicit.client.meta.endpoint_url == "http://127.0.0.1:9"
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert Boto3Transport().client.meta.endpoint_url == "https://monitoring.eu-west-3.amazonaws.com"


def test_sessions_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    session = boto3.Session(
        aws_access_key_id="a", aws_secret_access_key="b", region_name="sa-east-1"
    )
    assert Boto3Transport(session=session).client.meta.region_name == "sa-east-1"
    core_session = botocore.session.get_session()
    core_session.set_credentials("a", "b")
    transport = Boto3Transport(session=core_session, region="ca-central-1")
    assert transport.client.meta.region_name == "ca-central-1"


def test_construction_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with pytest.raises(TransportError, match="region"):
        Boto3Transport()
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(InsecureEndpointError):
        Boto3Transport(endpoint_url="http://monitoring.example.com")
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", "http://monitoring.example.com")
    with pytest.raises(InsecureEndpointError):
        Boto3Transport()
    assert Boto3Transport(allow_insecure_http=True).client.meta.endpoint_url.startswith("http:")
    monkeypatch.delenv("AWS_ENDPOINT_URL_CLOUDWATCH")
    monkeypatch.setenv("AWS_PROFILE", "missing")
    with pytest.raises(TransportError, match="missing"):
        Boto3Transport()
    monkeypatch.delenv("AWS_PROFILE")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CredentialsError):
        Boto3Transport()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    with pytest.raises(CredentialsError, match="no AWS credentials"):
        Boto3Transport()


def test_missing_dependencies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(MissingDependencyError, match=r"cloudwatch-metrics-client\[boto3\]"):
        Boto3Transport()
    monkeypatch.setitem(sys.modules, "aiobotocore.session", None)
    with pytest.raises(MissingDependencyError, match="aiobotocore"):
        asyncio.run(AioBotocoreTransport.create())


def test_importing_transports_does_not_import_the_sdks() -> None:
    code = (
        "import sys, cwmetrics_transports, cwmetrics_transports._boto3; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'aiobotocore', 'aioboto3', 'aiohttp')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_close_only_closes_owned_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    _env_credentials(monkeypatch)
    closed: list[str] = []
    users = _client()
    monkeypatch.setattr(users, "close", lambda: closed.append("user"))
    with Boto3Transport(users):
        pass
    owned = Boto3Transport()
    monkeypatch.setattr(owned.client, "close", lambda: closed.append("owned"))
    owned.close()
    owned.close()
    assert closed == ["owned"]


def test_constructor_type_errors() -> None:
    with pytest.raises(TypeError, match="cannot be combined"):
        Boto3Transport(_client(), region="us-east-1")
    with pytest.raises(TypeError, match="boto3"):
        Boto3Transport(object())
    with pytest.raises(TypeError, match="AioBotocoreTransport"):
        Boto3Transport(_AsyncFake())
    with pytest.raises(TypeError, match="Boto3Transport"):
        AioBotocoreTransport(_client())
    with pytest.raises(TypeError, match="expected"):
        AioBotocoreTransport(object())


# ---------------------------------------------------------------------------- unit: adapters


class _AsyncFake:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def put_metric_data(self, **params: Any) -> dict[str, Any]:
        self.calls.append(params)
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}


class _SyncFake:
    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def put_metric_data(self, **params: Any) -> dict[str, Any]:
        self.threads.append(threading.current_thread())
        return {"ResponseMetadata": {"HTTPStatusCode": 200}}


def test_transport_for_client_table() -> None:
    dry = DryRunTransport()
    boto = Boto3Transport(_client())
    threaded = ToThread(boto)
    for transport in (dry, boto, threaded):
        assert transport_for_client(transport) is transport
    assert isinstance(transport_for_client(_client()), Boto3Transport)
    core_client = botocore.session.get_session().create_client(
        "cloudwatch", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    assert isinstance(transport_for_client(core_client), Boto3Transport)
    assert isinstance(transport_for_client(_SyncFake()), Boto3Transport)
    assert isinstance(transport_for_client(_AsyncFake()), AioBotocoreTransport)

    async def aio() -> None:
        from aiobotocore.session import get_session  # type: ignore[import-untyped,unused-ignore]

        session = get_session()
        context = session.create_client(
            "cloudwatch", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
        )
        with pytest.raises(TypeError, match="async with"):
            transport_for_client(context)
        async with context as client:
            transport = transport_for_client(client)
            assert isinstance(transport, AioBotocoreTransport)
            assert transport.wire_format is WireFormat.BOTOCORE_JSON
            assert async_transport_for(client).client is client  # type: ignore[attr-defined]

    asyncio.run(aio())
    for bad, hint in [(object(), "boto3"), (boto3.Session(region_name="x"), "session"),
                      ("cloudwatch", "Transport"), (None, "aiobotocore")]:  # fmt: skip
        with pytest.raises(TypeError, match=hint):
            transport_for_client(bad)
        with pytest.raises(TypeError, match=hint):
            async_transport_for(bad)


def test_async_transport_for_wraps_sync_in_a_thread() -> None:
    dry = DryRunTransport()
    assert async_transport_for(dry) is dry  # both sync and async
    boto = Boto3Transport(_client())
    wrapped = async_transport_for(boto)
    assert isinstance(wrapped, ToThread) and wrapped.inner is boto
    assert wrapped.wire_format is WireFormat.BOTOCORE_JSON
    fake = _SyncFake()
    transport = async_transport_for(fake)
    assert isinstance(transport, ToThread) and isinstance(transport.inner, Boto3Transport)
    outcome = asyncio.run(transport.asend(_request()))
    assert outcome == SendOutcome(ok=True, http_status=200)
    assert fake.threads and fake.threads[0] is not threading.main_thread()
    aio = _AsyncFake()
    async_transport = async_transport_for(aio)
    assert isinstance(async_transport, AioBotocoreTransport)
    assert asyncio.run(async_transport.asend(_request())).ok and aio.calls


def test_aio_transport_maps_errors_and_lets_cancellation_through() -> None:
    class Failing:
        def __init__(self, exc: BaseException) -> None:
            self.exc = exc

        async def put_metric_data(self, **_: Any) -> Any:
            raise self.exc

    async def main() -> None:
        for exc, code in [(bex.EndpointConnectionError(endpoint_url=URL), "NetworkError"),
                          (asyncio.TimeoutError(), "Timeout"),
                          (bex.NoCredentialsError(), "CredentialsError")]:  # fmt: skip
            outcome = await AioBotocoreTransport(Failing(exc)).asend(_request())
            assert outcome.error_code == code
        with pytest.raises(asyncio.CancelledError):
            await AioBotocoreTransport(Failing(asyncio.CancelledError())).asend(_request())

    asyncio.run(main())


# ---------------------------------------------------------------------------- integration


def _now_dt() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _get_statistics(client: Any, name: str, dimensions: dict[str, str]) -> dict[str, float]:
    now = _now_dt()
    (point,) = client.get_metric_statistics(
        Namespace=NS, MetricName=name,
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        StartTime=now - dt.timedelta(hours=1), EndTime=now + dt.timedelta(hours=1),
        Period=7200, Statistics=["SampleCount", "Sum", "Minimum", "Maximum"],
    )["Datapoints"]  # fmt: skip
    return {k: point[k] for k in ("SampleCount", "Sum", "Minimum", "Maximum")}


Expected = dict[tuple[str, tuple[tuple[str, str], ...]], list[Fraction]]


def _record_mixed(core: MetricsCore, now: float) -> Expected:
    """Record values (with repeats) and statistic sets over several series.

    Returns:
        ``(metric name, dimensions) -> [count, sum, min, max]`` as exact fractions.
    """
    rng = random.Random(11)
    expected: Expected = {}
    for s in range(12):
        dims = {"Host": f"host-{s}", "Az": f"az-{s % 3}"}
        key = MetricKey(NS, f"lat{s % 4}", dims, unit="Milliseconds")
        values = [rng.randrange(0, 4000) / 8 for _ in range(rng.randrange(1, 400))]
        for v in values:
            core.record_value(key, v, now)
        expected[(key.name, key.dimensions)] = [
            Fraction(len(values)), sum(map(Fraction, values), Fraction(0)),
            Fraction(min(values)), Fraction(max(values)),
        ]  # fmt: skip
        if s % 3 == 0:
            set_key = MetricKey(NS, f"set{s}", dims, unit="Milliseconds")
            core.record_statistics(set_key, 3.0, 7.5, 0.5, 4.0, now)
            core.record_statistics(set_key, 2.0, 1.0, 0.25, 0.75, now)
            expected[(set_key.name, set_key.dimensions)] = [
                Fraction(5),
                Fraction(8.5),
                Fraction(0.25),
                Fraction(4),
            ]
    return expected


def _assert_matches(server: LocalCloudWatch, expected: Expected, client: Any) -> None:
    series = server.series()
    assert len(series) == len(expected)
    for (name, dims), (count, total, low, high) in expected.items():
        got = series[(NS, name, dims)]
        assert (got.sample_count, got.sum, got.minimum, got.maximum) == (
            float(count), float(total), float(low), float(high))  # fmt: skip
        point = _get_statistics(client, name, dict(dims))
        assert point == {"SampleCount": float(count), "Sum": float(total),
                         "Minimum": float(low), "Maximum": float(high)}  # fmt: skip
    stats = server.stats()
    assert stats.put_rejected_total == 0 and not stats.put_faulted


def test_core_with_default_boto3_client_from_env(
    local_cloudwatch: LocalCloudWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in local_cloudwatch.env().items():
        monkeypatch.setenv(name, value)
    transport = Boto3Transport()
    assert transport.client.meta.endpoint_url == local_cloudwatch.url
    captured = _capture_bodies(transport.client)
    now = time.time()
    core = MetricsCore(CoreConfig(wire_format=transport.wire_format), now=now)
    expected = _record_mixed(core, now)
    with transport:
        measured = _drain(core, transport.send)
    assert captured == measured
    assert [e.raw_bytes for e in local_cloudwatch.request_log()] == measured
    _assert_matches(local_cloudwatch, expected, local_cloudwatch.boto3_client())


def test_core_with_aiobotocore_client(local_cloudwatch: LocalCloudWatch) -> None:
    from aiobotocore.session import get_session  # type: ignore[import-untyped,unused-ignore]

    expected: Expected = {}

    async def main() -> list[tuple[int, int]]:
        session = get_session()
        async with session.create_client(
            "cloudwatch", endpoint_url=local_cloudwatch.url, region_name=local_cloudwatch.region,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        ) as client:  # fmt: skip
            transport = transport_for_client(client)
            assert isinstance(transport, AioBotocoreTransport)
            captured = _capture_bodies(client)
            now = time.time()
            core = MetricsCore(CoreConfig(wire_format=transport.wire_format), now=now)
            nonlocal expected
            expected = _record_mixed(core, now)
            core.close(now)
            measured: list[int] = []
            flow = send_flow(core, now)
            batch = next(flow, None)
            while batch is not None:
                measured.append(len(batch.request.body))
                outcome = await transport.asend(batch.request)
                assert outcome == SendOutcome(ok=True, http_status=200)
                try:
                    batch = flow.send((outcome, time.time()))
                except StopIteration:
                    batch = None
            await transport.aclose()  # not ours: the client stays usable
            await client.list_metrics(Namespace=NS)
            assert core.state is CoreState.CLOSED
            return list(zip(captured, measured, strict=True))

    pairs = asyncio.run(main())
    assert pairs and all(a == b for a, b in pairs)
    _assert_matches(local_cloudwatch, expected, local_cloudwatch.boto3_client())


def test_aiobotocore_create_owns_a_client_with_retries_turned_down(
    local_cloudwatch: LocalCloudWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in local_cloudwatch.env().items():
        monkeypatch.setenv(name, value)

    async def main() -> None:
        transport = await AioBotocoreTransport.create(timeout=3)
        assert transport.client.meta.config.retries == {"total_max_attempts": 1, "mode": "standard"}
        assert transport.client.meta.endpoint_url == local_cloudwatch.url
        assert "owns_client=True" in repr(transport)
        local_cloudwatch.fail_next(1, status=503, code="ServiceUnavailable")
        outcome = await transport.asend(_request())
        assert (outcome.error_code, outcome.http_status) == ("ServiceUnavailable", 503)
        assert local_cloudwatch.stats().put_requests == 1  # no hidden SDK retry
        assert (await transport.asend(_request())).ok
        await transport.aclose()
        await transport.aclose()
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        with pytest.raises(CredentialsError):
            await AioBotocoreTransport.create()
        with pytest.raises(InsecureEndpointError):
            await AioBotocoreTransport.create(endpoint_url="http://example.com")

    asyncio.run(main())


@pytest.mark.parametrize(("code", "status"), [("Throttling", 400), ("InternalServiceError", 500)])
def test_default_client_makes_exactly_one_attempt(
    code: str, status: int, local_cloudwatch: LocalCloudWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in local_cloudwatch.env().items():
        monkeypatch.setenv(name, value)
    local_cloudwatch.fail_next(3, status=status, code=code)
    outcome = Boto3Transport().send(_request())
    assert (outcome.error_code, outcome.http_status) == (code, status)
    assert local_cloudwatch.stats().put_requests == 1


def test_real_network_failures(local_cloudwatch: LocalCloudWatch) -> None:
    transport = Boto3Transport(local_cloudwatch.boto3_client(
        config=Config(retries={"total_max_attempts": 1}, read_timeout=0.2)))  # fmt: skip
    local_cloudwatch.slow_down(0.5, count=1)
    assert transport.send(_request()).error_code == "Timeout"
    local_cloudwatch.clear_faults()
    local_cloudwatch.drop_next(1)
    assert transport.send(_request()).error_code == "NetworkError"
    local_cloudwatch.down()
    try:
        outcome = transport.send(_request())
    finally:
        local_cloudwatch.up()
    assert (outcome.error_code, outcome.http_status) == ("NetworkError", None)
    assert transport.send(_request()).ok
    # The endpoint logs the slowed request when it answers: wait, so the next test's
    # freshly reset record does not receive it.
    deadline = time.monotonic() + 5
    while not any(e.fault == "delay" for e in local_cloudwatch.request_log()):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _record_big_series(core: MetricsCore, now: float, count: int, tag: str) -> None:
    """``count`` series with 30 long dimensions and 150 distinct values each."""
    dims = {f"dimension-{d:02d}": f"{tag}-{d}-" + "v" * 220 for d in range(29)}
    for s in range(count):
        key = MetricKey(NS, "BigMetric", {**dims, "series": f"{tag}-{s}"}, unit="Microseconds")
        for v in range(150):
            core.record_value(key, s + v * 1.000001, now)


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_one_megabyte_batches_accepted(protocol: str, local_cloudwatch: LocalCloudWatch) -> None:
    client = local_cloudwatch.boto3_client(
        protocol=protocol,  # type: ignore[arg-type]
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )
    transport = Boto3Transport(client)
    assert transport.wire_format is (
        WireFormat.QUERY if protocol == "query" else WireFormat.BOTOCORE_JSON
    )
    captured = _capture_bodies(client)
    now = time.time()
    core = MetricsCore(CoreConfig(wire_format=transport.wire_format), now=now)
    series = 340 if protocol == "json" else 210  # about three / two full requests
    _record_big_series(core, now, series, protocol)
    measured = _drain(core, transport.send)
    assert captured == measured
    assert 980_000 < max(measured) <= 1_000_000  # the core's limit: 1 MB, under the 1 MiB
    log = local_cloudwatch.request_log()
    assert [e.raw_bytes for e in log] == measured and all(e.compressed for e in log)
    assert {e.protocol for e in log} == {protocol}
    stats = local_cloudwatch.stats()
    assert stats.put_rejected_total == 0 and stats.datums_accepted == series
    assert core.stats.sent_samples == series * 150 and core.stats.splits == 0


def test_end_to_end_100k_values_over_3000_series(
    local_cloudwatch: LocalCloudWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in local_cloudwatch.env().items():
        monkeypatch.setenv(name, value)
    rng = random.Random(2024)
    now = time.time()
    transport = Boto3Transport()
    sample: float
    core = MetricsCore(CoreConfig(wire_format=transport.wire_format), now=now)
    keys = [MetricKey(NS, f"e2e{i % 7}", {"Service": f"svc-{i % 40}", "Host": f"host-{i:04d}"},
                      unit="Milliseconds") for i in range(3000)]  # fmt: skip
    expected: dict[MetricKey, list[float]] = {}
    for i in range(100_000):
        key = keys[i] if i < 3000 else keys[rng.randrange(3000)]
        sample = rng.randrange(0, 1 << 20) / 64  # sums stay exact in binary floating point
        core.record_value(key, sample, now)
        expected.setdefault(key, []).append(sample)
    with transport:
        _drain(core, transport.send)
    assert core.stats.sent_samples == 100_000 and core.stats.dropped_samples == 0
    stats = local_cloudwatch.stats()
    assert stats.put_rejected_total == 0 and not stats.put_faulted
    series = local_cloudwatch.series()
    assert len(series) == 3000
    for key, values in expected.items():
        got = series[(NS, key.name, key.dimensions)]
        assert (got.sample_count, got.sum, got.minimum, got.maximum) == (
            len(values), math.fsum(values), min(values), max(values))  # fmt: skip
    reader = local_cloudwatch.boto3_client()
    for key in random.Random(5).sample(keys, 20):
        values = expected[key]
        assert _get_statistics(reader, key.name, dict(key.dimensions)) == {
            "SampleCount": len(values), "Sum": math.fsum(values),
            "Minimum": min(values), "Maximum": max(values)}  # fmt: skip


def test_transports_are_the_base_classes() -> None:
    assert issubclass(Boto3Transport, Transport)
    assert issubclass(AioBotocoreTransport, AsyncTransport)
    assert Boto3Transport.__doc__ and AioBotocoreTransport.create.__doc__
