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


def _split_series_requests(fmt: WireFormat) -> list[PutMetricDataRequest]:
    """Series with several datums' worth of values (split at 150), in two periods, with
    counts of 1.0 only and mixed counts, one value each, and no dimensions / several."""
    core: MetricsCore = make_core(wire_format=fmt)
    many = MetricKey("App/Svc", "Many", {"Op": "get", "Host": "h 1"}, "Milliseconds")
    ones = MetricKey("App/Svc", "Ones", {}, "Count", 1)
    single = MetricKey("App/Svc", "Single", {"S": "s1"})
    for v in range(400):  # 400 distinct values, some seen twice, in the current period
        core.record_value(many, v / 7, T0 + 60, count=2.0 if v % 3 == 0 else 1.0)
    for v in range(170):  # an older period of the same series (recorded after it)
        core.record_value(many, -v * 1e15, T0)
    for v in range(301):
        core.record_value(ones, v + 0.5, T0)
    core.record_value(single, 1e-7, T0, count=0.25)
    core.flush(T0 + 200)
    return [batch.request for batch in core.batches_to_send(T0 + 200)]


@pytest.mark.parametrize(
    ("fmt", "protocol"),
    [(WireFormat.BOTOCORE_JSON, "json"), (WireFormat.QUERY, "query"), (WireFormat.JSON, "")],
)
def test_split_series_encode_exactly(fmt: WireFormat, protocol: str) -> None:
    requests = _split_series_requests(fmt)
    datums = [d for request in requests for d in request.datums]
    # 400 + 170 values -> 3 + 2 datums (the period left first comes first); 301 -> 3
    # datums; one single value.
    assert [(d.key.name, len(d.values or ())) for d in datums] == [
        ("Many", 150), ("Many", 150), ("Many", 100), ("Many", 150), ("Many", 20),
        ("Ones", 150), ("Ones", 150), ("Ones", 1), ("Single", 1),
    ]  # fmt: skip
    # Values in the order they were first recorded, each once, with its count.
    assert [v for d in datums[:3] for v in d.values or ()] == [v / 7 for v in range(400)]
    assert [c for d in datums[:3] for c in d.counts or ()] == [
        2.0 if v % 3 == 0 else 1.0 for v in range(400)
    ]
    assert [v for d in datums[3:5] for v in d.values or ()] == [-v * 1e15 for v in range(170)]
    assert all(d.counts is None for d in datums[5:8])  # all ones: no Counts
    assert datums[8].counts == (0.25,)
    for request in requests:
        assert request.size == len(request.body)
        if protocol:
            assert request.body == botocore_body(request.params, protocol)
        else:
            assert json.loads(request.body) == json.loads(botocore_body(request.params, "json"))
