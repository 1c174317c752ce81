"""CloudWatch is query-compatible: requests and error codes match what botocore does.

* The httpx transport's JSON request carries the same protocol headers as the request
  botocore 1.43 prepares for ``put_metric_data`` (``x-amzn-query-mode: true`` among
  them) and signs the same set of headers.
* A JSON error name (``MissingRequiredParameterException``...) is reported as its
  query code (``MissingParameter``...), with or without ``x-amzn-query-error``, by the
  httpx and boto3 transports, so the core bisects the batch instead of dropping it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from cwmetrics_core import (
    CoreConfig,
    Disposition,
    MetricKey,
    MetricsCore,
    PutMetricDataRequest,
    RetryPolicy,
    WireFormat,
)
from cwmetrics_transports import (
    Boto3Transport,
    HttpxTransport,
    StaticSigner,
    outcome_from_http,
    query_error_code,
)

from .rawserver import RawServer

NS = "Test/QueryCompat"
#: Headers that differ per request or per SDK by design, and the HTTP client's own
#: defaults (httpx adds ``Accept``, ``Accept-Encoding`` and ``Connection``).
VOLATILE = {"user-agent", "x-amz-date", "authorization", "amz-sdk-invocation-id",
            "amz-sdk-request", "content-length", "host", "accept", "accept-encoding",
            "connection"}  # fmt: skip


def _request(wire_format: WireFormat = WireFormat.JSON) -> PutMetricDataRequest:
    now = time.time()
    core = MetricsCore(CoreConfig(wire_format=wire_format), now=now)
    core.record_value(MetricKey(NS, "Latency", {"Op": "get"}, unit="Milliseconds"), 2.5, now)
    core.flush(now)
    batch = core.next_batch(now)
    assert batch is not None
    return batch.request


def _signed(authorization: str) -> list[str]:
    return authorization.split("SignedHeaders=", 1)[1].split(",", 1)[0].split(";")


def test_json_request_headers_match_what_botocore_sends() -> None:
    """Golden test against botocore: the headers of a botocore-prepared PutMetricData
    (JSON protocol) and of ours are the same names and values, volatile ones aside,
    and the same headers are signed."""
    import botocore.session

    session = botocore.session.Session()
    client = session.create_client(
        "cloudwatch", region_name="us-east-1", aws_access_key_id="AKID",
        aws_secret_access_key="SECRET",
    )  # fmt: skip
    assert client.meta.service_model.resolved_protocol == "json"
    prepared: list[Any] = []

    class Captured(Exception):
        pass

    def capture(request: Any, **_: Any) -> Any:
        prepared.append(request)
        raise Captured  # nothing goes on the wire

    client.meta.events.register("before-send.cloudwatch.PutMetricData", capture)
    with pytest.raises(Captured):
        client.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "Latency", "Value": 1.0}])
    theirs = {k.lower(): (v.decode() if isinstance(v, bytes) else v)
              for k, v in prepared[0].headers.items()}  # fmt: skip

    sent: list[httpx.Request] = []
    transport = HttpxTransport(
        region="us-east-1", signer=StaticSigner("AKID", "SECRET"),
        sync_client=httpx.Client(transport=httpx.MockTransport(
            lambda r: sent.append(r) or httpx.Response(200, json={}))),
    )  # fmt: skip
    assert transport.send(_request()).ok
    ours = {k.lower(): v for k, v in sent[0].headers.items()}

    assert theirs["x-amzn-query-mode"] == ours["x-amzn-query-mode"] == "true"
    strip = lambda h: {k: v for k, v in h.items() if k not in VOLATILE}  # noqa: E731
    assert strip(ours) == strip(theirs)
    assert _signed(ours["authorization"]) == _signed(theirs["authorization"])


def test_query_codes_match_botocores_cloudwatch_model() -> None:
    """Every CloudWatch error shape whose JSON name differs from its query code (the
    model's ``awsQueryError`` code) is translated; nothing else is touched."""
    import botocore.session

    model = botocore.session.Session().get_service_model("cloudwatch")
    pairs = {
        shape.name: shape.metadata["error"]["code"]
        for shape in model.error_shapes
        if (shape.metadata.get("error") or {}).get("code")
    }
    assert pairs, "botocore's model lists no query codes: this test proves nothing"
    for json_name, query_code in pairs.items():
        assert query_error_code(json_name) == query_code
        assert query_error_code(query_code) == query_code
    assert query_error_code("Throttling") == "Throttling"


JSON_ERRORS = [
    ("MissingRequiredParameterException", "MissingParameter"),
    ("InvalidParameterCombinationException", "InvalidParameterCombination"),
    ("InvalidParameterValueException", "InvalidParameterValue"),
]


@pytest.mark.parametrize("with_header", [True, False], ids=["query-error-header", "no-header"])
@pytest.mark.parametrize(("json_name", "query_code"), JSON_ERRORS)
@pytest.mark.parametrize("kind", ["httpx", "boto3"])
def test_json_error_names_become_query_codes_and_are_bisected(
    kind: str, json_name: str, query_code: str, with_header: bool
) -> None:
    """A real listener answers 400 with a JSON error (``__type`` ``...#<JSON name>``),
    with the ``x-amzn-query-error: <query code>;Sender`` header or without it: both
    transports report the query code, which the core's policy splits (bisects)."""
    headers = (("x-amzn-query-error", f"{query_code};Sender"),) if with_header else ()
    body = json.dumps(
        {"__type": f"com.amazonaws.cloudwatch#{json_name}", "message": "bad request"}
    ).encode()
    with RawServer("error", error_body=body, error_headers=headers) as server:
        if kind == "httpx":
            transport: Any = HttpxTransport(
                region="us-east-1", endpoint_url=server.url, timeout=5,
                signer=StaticSigner("AKID", "SECRET"),
            )  # fmt: skip
        else:
            import boto3

            session = boto3.Session(aws_access_key_id="AKID", aws_secret_access_key="SECRET")
            transport = Boto3Transport(
                region="us-east-1", endpoint_url=server.url, timeout=5, session=session
            )
        try:
            outcome = transport.send(_request(transport.wire_format))
        finally:
            transport.close()
    assert (outcome.ok, outcome.http_status, outcome.error_code) == (False, 400, query_code)
    assert RetryPolicy().classify(outcome) is Disposition.SPLIT


def test_outcome_from_http_maps_json_names_with_and_without_the_header() -> None:
    body = b'{"__type": "MissingRequiredParameterException", "message": "m"}'
    assert outcome_from_http(400, {}, body).error_code == "MissingParameter"
    assert (
        outcome_from_http(
            400, {"x-amzn-query-error": "MissingRequiredParameterException;Sender"}, body
        ).error_code
        == "MissingParameter"
    )
    assert (
        outcome_from_http(400, {"x-amzn-query-error": "MissingParameter;Sender"}, body).error_code
        == "MissingParameter"
    )
