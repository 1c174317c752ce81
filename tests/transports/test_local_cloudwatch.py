"""Tests of the strict local CloudWatch endpoint (``cwmetrics_transports.testing``).

Every call goes through a real botocore client (JSON 1.0, and the query protocol forced
through the service model) or raw HTTP, over a real socket.
"""

from __future__ import annotations

import copy
import datetime as dt
import gzip
import json
import random
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError

from cwmetrics_transports.testing import LocalCloudWatch

NS = "Test/LocalCW"
XMLNS = "{http://monitoring.amazonaws.com/doc/2010-08-01/}"
PROTOCOLS = ["json", "query"]


def _config(**extra: Any) -> Config:
    return Config(
        parameter_validation=False, retries={"total_max_attempts": 1}, read_timeout=10, **extra
    )


@pytest.fixture(scope="module")
def clients(local_cloudwatch_server: LocalCloudWatch) -> dict[str, Any]:
    server = local_cloudwatch_server
    return {
        "json": server.boto3_client(config=_config()),
        "query": server.boto3_client(protocol="query", config=_config()),
    }


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(clients: dict[str, Any], protocol: str, local_cloudwatch: LocalCloudWatch) -> Any:
    return clients[protocol]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _put_error(client: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        client.put_metric_data(**kwargs)
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _stats(client: Any, name: str, dimensions: list[dict[str, str]] | None = None) -> Any:
    now = _now()
    response = client.get_metric_statistics(
        Namespace=NS,
        MetricName=name,
        Dimensions=dimensions or [],
        StartTime=now - dt.timedelta(hours=1),
        EndTime=now + dt.timedelta(hours=1),
        Period=7200,
        Statistics=["SampleCount", "Sum", "Minimum", "Maximum"],
    )
    return response["Datapoints"]


def _datum(**fields: Any) -> dict[str, Any]:
    return {"MetricName": "m", "Value": 1.0, **fields}


def _dims(n: int, value_len: int = 1) -> list[dict[str, str]]:
    return [{"Name": f"d{i}", "Value": "v" * value_len} for i in range(n)]


# ---------------------------------------------------------------------------- rules

NAN, INF = float("nan"), float("inf")
_RULES: dict[str, tuple[dict[str, Any], str]] = {
    # request level
    "more_than_1000_datums": ({"MetricData": [_datum()] * 1001}, "InvalidParameterValue"),
    "missing_namespace": ({"Namespace": None}, "MissingParameter"),
    "missing_metric_data": ({"MetricData": None}, "MissingParameter"),
    "missing_metric_name": ({"MetricData": [{"Value": 1.0}]}, "MissingParameter"),
    "namespace_empty": ({"Namespace": ""}, "InvalidParameterValue"),
    "namespace_256_chars": ({"Namespace": "n" * 256}, "InvalidParameterValue"),
    "namespace_aws_prefix": ({"Namespace": "AWS/EC2"}, "InvalidParameterValue"),
    "namespace_colon_prefix": ({"Namespace": ":ns"}, "InvalidParameterValue"),
    # names and dimensions
    "metric_name_empty": ({"MetricData": [_datum(MetricName="")]}, "InvalidParameterValue"),
    "metric_name_256_chars": (
        {"MetricData": [_datum(MetricName="m" * 256)]}, "InvalidParameterValue"),
    "31_dimensions": ({"MetricData": [_datum(Dimensions=_dims(31))]}, "InvalidParameterValue"),
    "dimension_name_256_chars": (
        {"MetricData": [_datum(Dimensions=[{"Name": "n" * 256, "Value": "v"}])]},
        "InvalidParameterValue"),
    "dimension_name_empty": (
        {"MetricData": [_datum(Dimensions=[{"Name": "", "Value": "v"}])]},
        "InvalidParameterValue"),
    "dimension_value_1025_chars": (
        {"MetricData": [_datum(Dimensions=[{"Name": "n", "Value": "v" * 1025}])]},
        "InvalidParameterValue"),
    "duplicate_dimension_names": (
        {"MetricData": [_datum(Dimensions=[{"Name": "n", "Value": "a"},
                                           {"Name": "n", "Value": "b"}])]},
        "InvalidParameterValue"),
    # values, counts, statistic sets
    "151_values": (
        {"MetricData": [{"MetricName": "m", "Values": [float(i) for i in range(151)]}]},
        "InvalidParameterValue"),
    "counts_length_mismatch": (
        {"MetricData": [{"MetricName": "m", "Values": [1.0, 2.0], "Counts": [1.0]}]},
        "InvalidParameterValue"),
    "value_and_values": ({"MetricData": [_datum(Values=[1.0])]}, "InvalidParameterCombination"),
    "value_and_statistic_values": (
        {"MetricData": [_datum(StatisticValues={
            "SampleCount": 1.0, "Sum": 1.0, "Minimum": 1.0, "Maximum": 1.0})]},
        "InvalidParameterCombination"),
    "values_and_statistic_values": (
        {"MetricData": [{"MetricName": "m", "Values": [1.0], "StatisticValues": {
            "SampleCount": 1.0, "Sum": 1.0, "Minimum": 1.0, "Maximum": 1.0}}]},
        "InvalidParameterCombination"),
    "no_value_at_all": ({"MetricData": [{"MetricName": "m"}]}, "MissingParameter"),
    "value_nan": ({"MetricData": [_datum(Value=NAN)]}, "InvalidParameterValue"),
    "value_infinity": ({"MetricData": [_datum(Value=INF)]}, "InvalidParameterValue"),
    "values_minus_infinity": (
        {"MetricData": [{"MetricName": "m", "Values": [1.0, -INF]}]}, "InvalidParameterValue"),
    "value_above_2_pow_360": ({"MetricData": [_datum(Value=2.0**361)]}, "InvalidParameterValue"),
    "value_below_2_pow_minus_360": (
        {"MetricData": [_datum(Value=-(2.0**-361))]}, "InvalidParameterValue"),
    "counts_nan": (
        {"MetricData": [{"MetricName": "m", "Values": [1.0], "Counts": [NAN]}]},
        "InvalidParameterValue"),
    "counts_negative": (
        {"MetricData": [{"MetricName": "m", "Values": [1.0], "Counts": [-1.0]}]},
        "InvalidParameterValue"),
    "statistic_values_infinite_sum": (
        {"MetricData": [{"MetricName": "m", "StatisticValues": {
            "SampleCount": 1.0, "Sum": INF, "Minimum": 1.0, "Maximum": 1.0}}]},
        "InvalidParameterValue"),
    "statistic_values_sample_count_zero": (
        {"MetricData": [{"MetricName": "m", "StatisticValues": {
            "SampleCount": 0.0, "Sum": 0.0, "Minimum": 1.0, "Maximum": 1.0}}]},
        "InvalidParameterValue"),
    "statistic_values_min_above_max": (
        {"MetricData": [{"MetricName": "m", "StatisticValues": {
            "SampleCount": 2.0, "Sum": 3.0, "Minimum": 2.0, "Maximum": 1.0}}]},
        "InvalidParameterValue"),
    "statistic_values_missing_sum": (
        {"MetricData": [{"MetricName": "m", "StatisticValues": {
            "SampleCount": 2.0, "Minimum": 1.0, "Maximum": 1.0}}]},
        "MissingParameter"),
    # timestamp, resolution, unit
    "timestamp_15_days_old": (
        {"MetricData": [_datum(Timestamp="-15d")]}, "InvalidParameterValue"),
    "timestamp_3_hours_ahead": (
        {"MetricData": [_datum(Timestamp="+3h")]}, "InvalidParameterValue"),
    "storage_resolution_30": (
        {"MetricData": [_datum(StorageResolution=30)]}, "InvalidParameterValue"),
    "unit_not_standard": ({"MetricData": [_datum(Unit="Parsecs")]}, "InvalidParameterValue"),
}  # fmt: skip


def _materialise(overrides: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"Namespace": NS, "MetricData": [_datum()]}
    kwargs.update(overrides)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    for datum in kwargs.get("MetricData", []):
        stamp = datum.get("Timestamp")
        if stamp == "-15d":
            datum["Timestamp"] = _now() - dt.timedelta(days=15)
        elif stamp == "+3h":
            datum["Timestamp"] = _now() + dt.timedelta(hours=3)
    return kwargs


@pytest.mark.parametrize("rule", sorted(_RULES))
def test_rule_rejected_with_cloudwatch_code(
    rule: str, client: Any, local_cloudwatch: LocalCloudWatch
) -> None:
    overrides, expected = _RULES[rule]
    code, status = _put_error(client, **_materialise(copy.deepcopy(overrides)))
    assert (code, status) == (expected, 400)
    stats = local_cloudwatch.stats()
    assert stats.put_accepted == 0
    assert stats.put_rejected == {expected: 1}
    assert local_cloudwatch.accepted_puts() == []


def test_limits_themselves_are_accepted(client: Any, local_cloudwatch: LocalCloudWatch) -> None:
    now = _now()
    data = [
        _datum(MetricName="n" * 255, Dimensions=_dims(30, 1024)),
        {"MetricName": "values", "Values": [float(i) for i in range(150)], "Counts": [0.0] * 150},
        _datum(MetricName="big", Value=2.0**360),
        _datum(MetricName="big", Value=-(2.0**360)),
        _datum(MetricName="small", Value=2.0**-360),
        _datum(MetricName="zero", Value=0.0),
        _datum(MetricName="old", Timestamp=now - dt.timedelta(days=13, hours=23)),
        _datum(MetricName="ahead", Timestamp=now + dt.timedelta(hours=1, minutes=55)),
        _datum(MetricName="hires", StorageResolution=1, Unit="Count/Second"),
        {"MetricName": "set", "StatisticValues": {
            "SampleCount": 0.5, "Sum": 1.0, "Minimum": 2.0, "Maximum": 2.0}},
    ]  # fmt: skip
    data += [_datum(MetricName=f"pad{i}") for i in range(1000 - len(data))]
    client.put_metric_data(Namespace="N" * 255, MetricData=data)
    (put,) = local_cloudwatch.accepted_puts()
    assert len(put.datums) == 1000
    assert local_cloudwatch.stats().datums_accepted == 1000
    big = local_cloudwatch.series_stats("N" * 255, "big")
    assert (big.minimum, big.maximum, big.sample_count) == (-(2.0**360), 2.0**360, 2.0)


@pytest.mark.parametrize("oversize", [False, True], ids=["just_under_1MiB", "over_1MiB"])
def test_uncompressed_body_size_limit(
    client: Any, protocol: str, local_cloudwatch: LocalCloudWatch, oversize: bool
) -> None:
    # 1000 datums; dimensions tuned per protocol to land just under / over 1 MiB.
    n_dims, value_len = {"json": (30, 3), "query": (9, 8)}[protocol]
    value_len += 4 if oversize else 0
    data = [_datum(MetricName=f"m{i:03}", Dimensions=_dims(n_dims, value_len)) for i in range(1000)]
    if oversize:
        assert _put_error(client, Namespace=NS, MetricData=data) == ("RequestEntityTooLarge", 413)
        (entry,) = local_cloudwatch.stats().log
        assert entry.raw_bytes > 1_048_576
        assert entry.compressed  # botocore gzips large PutMetricData bodies
        assert entry.wire_bytes < 1_048_576
    else:
        client.put_metric_data(Namespace=NS, MetricData=data)
        (entry,) = local_cloudwatch.stats().log
        assert 1_000_000 < entry.raw_bytes <= 1_048_576, entry.raw_bytes
        assert entry.status == 200


# ---------------------------------------------------------------------------- wire shapes


def _signed(server: LocalCloudWatch, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    request = AWSRequest(method="POST", url=server.url + "/", data=body, headers=headers)
    SigV4Auth(Credentials("testing", "testing"), "monitoring", server.region).add_auth(request)
    return dict(request.headers.items())


def test_json_error_shape(local_cloudwatch: LocalCloudWatch) -> None:
    body = json.dumps({"Namespace": NS, "MetricData": [{"MetricName": "m", "Value": "NaN"}]})
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
    }
    signed = _signed(local_cloudwatch, body.encode(), headers)
    response = httpx.post(local_cloudwatch.url, content=body, headers=signed)
    assert response.status_code == 400
    assert response.headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    assert response.headers["content-type"] == "application/x-amz-json-1.0"
    payload = response.json()
    assert payload["__type"].endswith("#InvalidParameterValueException")
    assert "MetricData.member.1.Value" in payload["message"]


def test_query_error_shape_raw_form_gzip(local_cloudwatch: LocalCloudWatch) -> None:
    form = urlencode(
        {
            "Action": "PutMetricData",
            "Version": "2010-08-01",
            "Namespace": NS,
            **{f"MetricData.member.1.Values.member.{i}": str(i) for i in range(1, 152)},
            "MetricData.member.1.MetricName": "m",
        }
    ).encode()
    body = gzip.compress(form)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
               "Content-Encoding": "gzip"}  # fmt: skip
    response = httpx.post(
        local_cloudwatch.url, content=body, headers=_signed(local_cloudwatch, body, headers)
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.text)
    assert root.tag == f"{XMLNS}ErrorResponse"
    assert root.findtext(f"{XMLNS}Error/{XMLNS}Type") == "Sender"
    assert root.findtext(f"{XMLNS}Error/{XMLNS}Code") == "InvalidParameterValue"
    assert "MetricData.member.1.Values" in (root.findtext(f"{XMLNS}Error/{XMLNS}Message") or "")
    assert root.findtext(f"{XMLNS}RequestId")
    (entry,) = local_cloudwatch.stats().log
    assert (entry.protocol, entry.compressed, entry.raw_bytes) == ("query", True, len(form))


# ---------------------------------------------------------------------------- data path


def test_read_back_through_get_metric_statistics(
    client: Any, local_cloudwatch: LocalCloudWatch
) -> None:
    dims = [{"Name": "Host", "Value": "a"}, {"Name": "Az", "Value": "z1"}]
    client.put_metric_data(
        Namespace=NS,
        MetricData=[
            {"MetricName": "lat", "Dimensions": dims, "Values": [1.0, 2.0, 10.0],
             "Counts": [3.0, 1.0, 2.0], "Unit": "Milliseconds", "Timestamp": _now()},
            {"MetricName": "lat", "Dimensions": dims[::-1], "Value": 0.5, "Unit": "Milliseconds"},
            {"MetricName": "lat", "Dimensions": dims, "Unit": "Milliseconds", "StatisticValues": {
                "SampleCount": 4.0, "Sum": 40.0, "Minimum": 5.0, "Maximum": 15.0}},
        ],
    )  # fmt: skip
    (point,) = _stats(client, "lat", dims)
    assert point["SampleCount"] == 11.0
    assert point["Sum"] == 65.5
    assert (point["Minimum"], point["Maximum"]) == (0.5, 15.0)

    series = local_cloudwatch.series_stats(NS, "lat", {"Host": "a", "Az": "z1"})
    assert (series.sample_count, series.sum, series.minimum, series.maximum) == (
        11.0, 65.5, 0.5, 15.0)  # fmt: skip
    assert series.values == {0.5: 1.0, 1.0: 3.0, 2.0: 1.0, 10.0: 2.0}
    assert series.percentile(50) == 1.0
    assert series.percentile(90) == 10.0
    assert series.statistic_set_count == 1
    key = (NS, "lat", (("Az", "z1"), ("Host", "a")))
    assert set(local_cloudwatch.series()) == {key}
    first = local_cloudwatch.accepted_datums(NS, "lat")[0][1]
    assert (first.unit, first.storage_resolution) == ("Milliseconds", 60)
    assert first.counts == (3.0, 1.0, 2.0)
    listed = client.list_metrics(Namespace=NS)["Metrics"]
    assert {m["MetricName"] for m in listed} == {"lat"}  # moto lists one entry per sample


def test_gzip_request_accepted(protocol: str, local_cloudwatch: LocalCloudWatch) -> None:
    client = local_cloudwatch.boto3_client(
        protocol=protocol,  # type: ignore[arg-type]
        config=_config(request_min_compression_size_bytes=1),
    )
    client.put_metric_data(
        Namespace=NS, MetricData=[{"MetricName": "gz", "Values": [1.0, 2.0] * 40}]
    )
    (entry,) = local_cloudwatch.stats().log
    assert entry.compressed and entry.status == 200 and entry.applied
    assert entry.wire_bytes < entry.raw_bytes
    assert _stats(client, "gz")[0]["SampleCount"] == 80.0


def test_counters_and_reset(clients: dict[str, Any], local_cloudwatch: LocalCloudWatch) -> None:
    clients["json"].put_metric_data(Namespace=NS, MetricData=[_datum(), _datum(MetricName="x")])
    clients["query"].put_metric_data(Namespace=NS, MetricData=[_datum()])
    _put_error(clients["json"], Namespace=NS, MetricData=[{"MetricName": "m"}])
    _stats(clients["json"], "m")
    stats = local_cloudwatch.stats()
    assert stats.requests_total == 4
    assert (stats.put_requests, stats.put_accepted, stats.datums_accepted) == (3, 2, 3)
    assert stats.put_rejected == {"MissingParameter": 1}
    assert stats.wire_bytes == stats.raw_bytes == sum(e.wire_bytes for e in stats.log[:3])
    assert [e.protocol for e in stats.log] == ["json", "query", "json", "json"]
    assert stats.log[3].operation == "GetMetricStatistics"
    local_cloudwatch.reset()
    assert local_cloudwatch.stats().requests_total == 0
    assert _stats(clients["json"], "m") == []


def test_not_strict_forwards_everything(
    clients: dict[str, Any], local_cloudwatch: LocalCloudWatch
) -> None:
    local_cloudwatch.strict = False
    clients["json"].put_metric_data(
        Namespace=NS, MetricData=[{"MetricName": "m", "Values": [1.0] * 151}]
    )
    assert _stats(clients["json"], "m")[0]["SampleCount"] == 151.0
    assert local_cloudwatch.stats().put_accepted == 1


def test_import_does_not_need_moto() -> None:
    code = (
        "import sys, cwmetrics_transports.testing as t; "
        "t.LocalCloudWatch(); assert 'moto' not in sys.modules, 'moto imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_env_fixture_points_default_clients_here(local_cloudwatch_env: LocalCloudWatch) -> None:
    client = boto3.client("cloudwatch", config=_config())
    client.put_metric_data(Namespace=NS, MetricData=[_datum()])
    assert local_cloudwatch_env.stats().put_accepted == 1
    assert local_cloudwatch_env.env()["AWS_ENDPOINT_URL_CLOUDWATCH"] == local_cloudwatch_env.url


# ---------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, "InternalServiceError"), (503, "ServiceUnavailable"), (400, "Throttling")],
)
def test_fail_next(
    client: Any, local_cloudwatch: LocalCloudWatch, status: int, code: str
) -> None:
    local_cloudwatch.fail_next(2, status=status, code=code)
    for _ in range(2):
        assert _put_error(client, Namespace=NS, MetricData=[_datum()]) == (code, status)
    client.put_metric_data(Namespace=NS, MetricData=[_datum()])
    stats = local_cloudwatch.stats()
    assert stats.put_faulted == {code: 2}
    assert stats.put_accepted == 1 and stats.put_rejected == {}
    assert [e.fault for e in stats.log] == ["error", "error", None]
    assert _stats(client, "m")[0]["SampleCount"] == 1.0  # faulted requests never reached moto


def test_fail_randomly_is_seeded(
    clients: dict[str, Any], local_cloudwatch: LocalCloudWatch
) -> None:
    local_cloudwatch.fail_randomly(0.5, seed=7, status=503, code="ServiceUnavailable")
    outcomes = []
    for _ in range(20):
        try:
            clients["json"].put_metric_data(Namespace=NS, MetricData=[_datum()])
            outcomes.append(False)
        except ClientError:
            outcomes.append(True)
    rng = random.Random(7)
    assert outcomes == [rng.random() < 0.5 for _ in range(20)]
    assert local_cloudwatch.stats().put_accepted == outcomes.count(False)


def test_fail_for_a_window(clients: dict[str, Any], local_cloudwatch: LocalCloudWatch) -> None:
    local_cloudwatch.fail_for(0.3)
    assert _put_error(clients["json"], Namespace=NS, MetricData=[_datum()]) == (
        "ServiceUnavailable", 503)  # fmt: skip
    time.sleep(0.35)
    clients["json"].put_metric_data(Namespace=NS, MetricData=[_datum()])


def test_slow_down(clients: dict[str, Any], local_cloudwatch: LocalCloudWatch) -> None:
    local_cloudwatch.slow_down(0.3, count=1)
    started = time.monotonic()
    clients["json"].put_metric_data(Namespace=NS, MetricData=[_datum()])
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    clients["json"].put_metric_data(Namespace=NS, MetricData=[_datum()])
    assert time.monotonic() - started < 0.3
    stats = local_cloudwatch.stats()
    assert (stats.delayed, stats.put_accepted) == (1, 2)


@pytest.mark.parametrize("after_apply", [False, True], ids=["before_apply", "after_apply"])
def test_drop_connection(client: Any, local_cloudwatch: LocalCloudWatch, after_apply: bool) -> None:
    local_cloudwatch.drop_next(1, after_apply=after_apply)
    with pytest.raises(ConnectionClosedError):
        client.put_metric_data(Namespace=NS, MetricData=[_datum()])
    stats = local_cloudwatch.stats()
    assert (stats.dropped_before_apply, stats.dropped_after_apply) == (
        (0, 1) if after_apply else (1, 0))  # fmt: skip
    assert stats.log[0].status is None
    assert stats.put_accepted == int(after_apply)
    stored = _stats(client, "m")
    assert (stored[0]["SampleCount"] if stored else 0.0) == float(after_apply)
    client.put_metric_data(Namespace=NS, MetricData=[_datum()])  # next one is fine


def test_scripted_faults_run_in_order_and_clear(
    clients: dict[str, Any], local_cloudwatch: LocalCloudWatch
) -> None:
    local_cloudwatch.fail_next(1, status=400, code="Throttling")
    local_cloudwatch.drop_next(1)
    local_cloudwatch.fail_next(5)
    assert _put_error(clients["query"], Namespace=NS, MetricData=[_datum()]) == ("Throttling", 400)
    with pytest.raises(ConnectionClosedError):
        clients["query"].put_metric_data(Namespace=NS, MetricData=[_datum()])
    local_cloudwatch.clear_faults()
    clients["query"].put_metric_data(Namespace=NS, MetricData=[_datum()])
    assert [e.fault for e in local_cloudwatch.stats().log] == ["error", "drop_before_apply", None]


def test_down_and_up_on_the_same_port(
    clients: dict[str, Any], local_cloudwatch: LocalCloudWatch
) -> None:
    port = local_cloudwatch.port
    clients["json"].put_metric_data(Namespace=NS, MetricData=[_datum()])
    local_cloudwatch.down()
    local_cloudwatch.down()  # idempotent
    assert not local_cloudwatch.running
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass
    with pytest.raises(EndpointConnectionError):
        clients["json"].put_metric_data(Namespace=NS, MetricData=[_datum()])
    local_cloudwatch.up()
    assert local_cloudwatch.port == port
    clients["json"].put_metric_data(Namespace=NS, MetricData=[_datum()])
    assert local_cloudwatch.stats().put_accepted == 2
    assert _stats(clients["json"], "m")[0]["SampleCount"] == 2.0


def test_separate_instance_stop_start_context_manager() -> None:
    with LocalCloudWatch() as server:
        port = server.port
        server.stop()
        server.start()
        assert server.port == port
        client = server.boto3_client(config=_config())
        client.put_metric_data(Namespace=NS, MetricData=[_datum()])
        assert server.stats().put_accepted == 1
    assert not server.running


def test_reset_waits_for_in_flight_requests(
    clients: dict[str, Any], local_cloudwatch: LocalCloudWatch
) -> None:
    local_cloudwatch.slow_down(0.4, count=1)
    sender = threading.Thread(
        target=clients["json"].put_metric_data, kwargs={"Namespace": NS, "MetricData": [_datum()]}
    )
    sender.start()
    deadline = time.monotonic() + 5
    while local_cloudwatch.in_flight == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    local_cloudwatch.reset()  # returns only once the slowed request was answered
    sender.join(5)
    assert local_cloudwatch.in_flight == 0
    assert local_cloudwatch.stats().requests_total == 0
    assert local_cloudwatch.accepted_puts() == []


def test_fractional_counts_are_recorded_exactly(
    clients: dict[str, Any], local_cloudwatch: LocalCloudWatch
) -> None:
    clients["query"].put_metric_data(
        Namespace=NS, MetricData=[{"MetricName": "m", "Values": [0.1, 3.0], "Counts": [2.5, 0.5]}]
    )
    series = local_cloudwatch.series_stats(NS, "m")
    assert (series.sample_count, series.sum) == (3.0, 1.75)
    assert series.percentile(100) == 3.0 and series.percentile(80) == 0.1
