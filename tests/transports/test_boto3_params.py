"""The boto3 path encodes once: the core measures, botocore serializes ``params``.

For the two encodings botocore writes itself (``json`` on botocore >= 1.43, ``query`` on
older ones), the core measures each request's exact size without building its body, and
``request.params`` is built straight from the compact datums. These tests send through
real botocore clients to the local CloudWatch endpoint (127.0.0.1) and compare what
botocore put on the wire with what the core measured: byte for byte, never over a limit.
"""

from __future__ import annotations

import gzip
import os
import random
import time
from typing import Any

import pytest
from botocore.config import Config

from cwmetrics_core import (
    CoreConfig,
    CoreState,
    Limits,
    MetricKey,
    MetricsCore,
    PutMetricDataRequest,
    WireFormat,
    encoder_for,
    send_flow,
)
from cwmetrics_transports import Boto3Transport
from cwmetrics_transports.testing import LocalCloudWatch

NS = "Test/Boto3Params"
WIRE = {"json": WireFormat.BOTOCORE_JSON, "query": WireFormat.QUERY}


@pytest.fixture(autouse=True)
def _isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _capture(client: Any) -> list[bytes]:
    """Every PutMetricData body botocore puts on the wire, uncompressed."""
    bodies: list[bytes] = []

    def before_send(request: Any, **_: Any) -> None:
        body = request.body
        if request.headers.get("Content-Encoding", b"") in (b"gzip", "gzip"):
            body = gzip.decompress(body)
        bodies.append(body.encode() if isinstance(body, str) else bytes(body))

    client.meta.events.register("before-send.cloudwatch.PutMetricData", before_send)
    return bodies


def _record_mixed(core: MetricsCore, now: float, series: int) -> None:
    """Awkward names, several units, high resolution, counts, statistic sets, many values."""
    rng = random.Random(11)
    for s in range(series):
        key = MetricKey(NS, f"Näme/é {s % 3}", {"A b": "c&d=e+f", "S": str(s)},
                        unit=["Bytes/Second", "Milliseconds", None][s % 3],
                        storage_resolution=1 if s % 2 else 60)  # fmt: skip
        for _ in range(rng.choice([1, 7, 150, 400])):
            value = rng.choice([1e-100, -2.5e100, 0.1, 3.0, 1e21, 123456.789, rng.random()])
            core.record_value(key, value, now)
        if s % 5 == 0:
            core.record_statistics(key.with_dimensions({"S": f"st{s}"}), 4, 10.5, 0.5, 7.25, now)


def _send_all(core: MetricsCore, transport: Boto3Transport) -> list[PutMetricDataRequest]:
    core.close(time.time())
    sent: list[PutMetricDataRequest] = []
    flow = send_flow(core, time.time())
    batch = next(flow, None)
    while batch is not None:
        sent.append(batch.request)
        outcome = transport.send(batch.request)
        assert outcome.ok, outcome
        try:
            batch = flow.send((outcome, time.time()))
        except StopIteration:
            batch = None
    assert core.state is CoreState.CLOSED, core.stats
    return sent


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_botocore_sends_exactly_what_the_core_measured_and_nothing_is_encoded_twice(
    protocol: str, local_cloudwatch: LocalCloudWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = local_cloudwatch.boto3_client(
        protocol=protocol,  # type: ignore[arg-type]
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )
    transport = Boto3Transport(client)
    assert transport.wire_format is WIRE[protocol]
    bodies = _capture(client)
    # The packer measures; it never builds a datum's text for these encodings.
    codec = encoder_for(transport.wire_format)
    built: list[int] = []
    fragment_of = codec.fragment_of

    def counting_fragment_of(*args: Any) -> str:
        built.append(1)
        return fragment_of(*args)

    monkeypatch.setattr(codec, "fragment_of", counting_fragment_of)
    now = time.time()
    # A 40 kB limit: several requests, each filled up to the limit, quickly.
    limits = Limits(max_request_bytes=40_000)
    core = MetricsCore(CoreConfig(wire_format=transport.wire_format, limits=limits), now=now)
    _record_mixed(core, now, 120)
    sent = _send_all(core, transport)
    assert not built, "the core built request text that botocore serializes itself"
    monkeypatch.undo()
    assert len(sent) == len(bodies) >= 3
    assert [r.size for r in sent] == [len(b) for b in bodies]
    assert max(r.size for r in sent) <= 40_000
    assert all(r.size > 30_000 for r in sent[:-1])  # filled up to the limit
    for request, body in zip(sent, bodies, strict=True):
        assert len(request) <= limits.max_datums_per_request
        assert request.body == body  # built on demand: the same bytes botocore sent
    stats = local_cloudwatch.stats()
    assert stats.put_rejected_total == 0
    assert core.stats.sent_samples == core.stats.recorded_samples


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_full_size_requests_stay_under_one_megabyte(
    protocol: str, local_cloudwatch: LocalCloudWatch
) -> None:
    client = local_cloudwatch.boto3_client(
        protocol=protocol,  # type: ignore[arg-type]
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )
    transport = Boto3Transport(client)
    bodies = _capture(client)
    now = time.time()
    core = MetricsCore(CoreConfig(wire_format=transport.wire_format), now=now)
    for s in range(400 if protocol == "json" else 110):
        key = MetricKey(NS, "Big", {"series": str(s)}, unit="Microseconds")
        for v in range(150):
            core.record_value(key, s + v * 1.000001, now)
            core.record_value(key, s + v * 1.000001, now)  # counts of 2
    sent = _send_all(core, transport)
    assert [r.size for r in sent] == [len(b) for b in bodies]
    assert 950_000 < max(len(b) for b in bodies) <= 1_000_000
    assert local_cloudwatch.stats().put_rejected_total == 0


def test_params_are_built_without_datum_objects_and_match_the_datums() -> None:
    now = time.time()
    core = MetricsCore(CoreConfig(wire_format=WireFormat.QUERY), now=now)
    _record_mixed(core, now, 30)
    core.flush(now)
    batch = core.next_batch(now)
    assert batch is not None
    request = batch.request
    params = request.params
    assert params == {
        "Namespace": NS,
        "MetricData": [d.to_params() for d in request.datums],
    }
    assert request.params is not params  # rebuilt per send: botocore may alter its input
    core.ack(batch, now)
