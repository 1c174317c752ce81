"""Golden tests: our encoders against botocore's own serializers for the same datums."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

import botocore.session
import pytest
from botocore.serialize import create_serializer

from cwmetrics_core import MetricKey, MetricsCore, PutMetricDataRequest, WireFormat
from cwmetrics_core._wire import PUT_METRIC_DATA_FORMATS

from .conftest import T0, make_core

_MODEL = botocore.session.get_session().get_service_model("cloudwatch")
_OP = _MODEL.operation_model("PutMetricData")


def botocore_body(params: dict[str, Any], protocol: str) -> bytes:
    request = create_serializer(protocol, include_validation=True).serialize_to_request(
        params, _OP
    )
    payload = request["body"]
    if isinstance(payload, dict):  # the query protocol: botocore urlencodes the dict later
        return urlencode(list(payload.items()), doseq=True).encode()
    assert isinstance(payload, bytes)
    return payload


def sample_request(fmt: WireFormat) -> PutMetricDataRequest:
    core: MetricsCore = make_core(wire_format=fmt)
    keys = [
        MetricKey("App/Svc", "Latency", {"Op": "get", "Host": "a b+c/d"}, "Milliseconds"),
        MetricKey("App/Svc", "Caf\u00e9 \"quoted\" \\ name", {}, "Count/Second", 1),
        MetricKey("App/Svc", "Size", {"z": "snow & ice=1%"}, "Bytes"),
    ]
    for i, v in enumerate([0.1, 12.5, 1e-100, 1e100, -0.0, 3.0, 123456789.123, 2.0**-360]):
        core.record_value(keys[i % 2], v, T0 + i, count=1 + (i % 3))
    for v in range(160):
        core.record_value(keys[2], float(v), T0)
    core.record_statistics(keys[0], 5, 1e20, -3.5, 1e25, T0 + 61)
    core.flush(T0 + 100)
    batch = core.next_batch(T0 + 100)
    assert batch is not None
    return batch.request


@pytest.mark.parametrize(
    ("fmt", "protocol"),
    [(WireFormat.BOTOCORE_JSON, "json"), (WireFormat.QUERY, "query")],
)
def test_byte_identical_to_botocore(fmt: WireFormat, protocol: str) -> None:
    request = sample_request(fmt)
    assert request.body == botocore_body(request.params, protocol)


def test_compact_json_decodes_to_the_same_document() -> None:
    request = sample_request(WireFormat.JSON)
    ours = json.loads(request.body)
    theirs = json.loads(botocore_body(request.params, "json"))
    assert ours == theirs
    assert len(request.body) < len(botocore_body(request.params, "json"))
    assert request.headers["X-Amz-Target"] == "GraniteServiceVersion20100801.PutMetricData"
    assert request.headers["Content-Type"] == "application/x-amz-json-1.0"


def test_query_body_parses_to_botocore_params() -> None:
    request = sample_request(WireFormat.QUERY)
    fields = dict(parse_qsl(request.body.decode()))
    assert fields["Action"] == "PutMetricData"
    assert fields["Namespace"] == "App/Svc"
    assert fields["MetricData.member.1.Dimensions.member.1.Value"] == "a b+c/d"
    assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")


@pytest.mark.parametrize("fmt", PUT_METRIC_DATA_FORMATS)
def test_bodies_are_ascii_so_length_is_bytes(fmt: WireFormat) -> None:
    request = sample_request(fmt)
    assert request.body.decode("ascii")


def test_params_pass_botocore_validation() -> None:
    from botocore.validate import ParamValidator

    request = sample_request(WireFormat.JSON)
    report = ParamValidator().validate(request.params, _OP.input_shape)
    assert not report.has_errors(), report.generate_report()


def test_form_quoting_matches_urllib() -> None:
    from urllib.parse import quote_plus as reference

    from cwmetrics_core._wire import quote_plus

    for text in ["a b+c/d", "snow & ice=1%", "Caf\u00e9 \u2603", "~._-AZaz09", "\x00\x7f", ""]:
        assert quote_plus(text) == reference(text)
