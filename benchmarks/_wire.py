"""Wire cost: PutMetricData requests and bytes for the workload, and what arrived.

Each contender sends the whole workload to the strict local endpoint (in its own process,
reset in between); the endpoint's counters give requests and bytes as received, and its
exact record of accepted data (``series()``) is compared with the workload's exact
per-series SampleCount and Sum. Contenders: ours with ``HttpxTransport`` (compact JSON,
gzip) and with ``Boto3Transport`` (botocore serializes and compresses),
cloudwatch-metrics-client 0.0.6 (subprocess), and a naive one-``put_metric_data``-per-event
boto3 loop over the first ``naive_cap`` events: its requests and bytes for every event are
exact (one request per event, botocore's body for each), its time is extrapolated.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ._endpoint import Endpoint
from ._peer006 import run_peer006
from ._workload import METRIC, NAMESPACE, UNIT, SeriesKey, Workload

REGION = "us-east-1"
MAX_REQUEST_BYTES = 1_000_000


def check(series: dict[Any, Any], expected: dict[SeriesKey, tuple[float, float]]) -> dict[str, Any]:
    """Compare the endpoint's exact per-series record with the expected aggregates."""
    exact = missing = wrong = 0
    got_samples = 0.0
    worst_rel = 0.0
    for key, (count, total) in expected.items():
        got = series.get(key)
        if got is None or not got.sample_count:
            missing += 1
            continue
        got_samples += got.sample_count
        if got.sample_count == count and got.sum == total:
            exact += 1
        else:
            wrong += 1
            worst_rel = max(worst_rel, abs(got.sum - total) / abs(total or 1.0))
    want_samples = sum(c for c, _ in expected.values())
    return {
        "series_expected": len(expected),
        "series_exact": exact,
        "series_missing": missing,
        "series_wrong": wrong,
        "series_unexpected": len(set(series) - set(expected)),
        "samples_expected": want_samples,
        "samples_received": got_samples,
        "samples_lost_fraction": 1.0 - got_samples / want_samples if want_samples else 0.0,
        "worst_sum_rel_error": worst_rel,
        "correct": exact == len(expected) and not set(series) - set(expected),
    }


def _server(stats: Any) -> dict[str, Any]:
    return {
        "requests": stats.put_requests,
        "accepted": stats.put_accepted,
        "rejected": dict(stats.put_rejected),
        "wire_bytes": stats.wire_bytes,
        "raw_bytes": stats.raw_bytes,
        "compressed_requests": stats.compressed_requests,
        "datums_accepted": stats.datums_accepted,
    }


def _send_ours(wl: Workload, transport: Any) -> dict[str, Any]:
    from cloudwatch_metrics_client import CloudWatchSyncMetricReporter, Metrics

    from ._clock import FixedWallClock

    reporter = CloudWatchSyncMetricReporter(
        transport=transport, flush_on_exit=False, clock=FixedWallClock(time.time())
    )
    put = Metrics(NAMESPACE, reporter).put_value  # one period: the clock's wall time stands still
    for _s, dims, value in wl.events:
        put(METRIC, value, unit=UNIT, dimensions=dims)
    start = time.perf_counter()
    delivered = reporter.flush(timeout=600)
    elapsed = time.perf_counter() - start
    stats = reporter.stats
    reporter.stop()
    return {
        "delivered": delivered,
        "flush_s": elapsed,
        "datums_sent": stats.core.datums_sent,
        "dropped": stats.dropped,
    }


def _boto3_client(url: str) -> Any:
    import boto3

    return boto3.client(
        "cloudwatch",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _naive_datum(dims: dict[str, str], value: float) -> dict[str, Any]:
    return {
        "MetricName": METRIC,
        "Unit": UNIT,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
        "Value": value,
    }


def _naive(wl: Workload, url: str, cap: int) -> dict[str, Any]:
    client = _boto3_client(url)
    put = client.put_metric_data
    start = time.perf_counter()
    for _s, dims, value in wl.events[:cap]:
        put(Namespace=NAMESPACE, MetricData=[_naive_datum(dims, value)])
    return {"elapsed_s": time.perf_counter() - start, "events": min(cap, wl.n_events)}


def botocore_json_sizes(wl: Workload, check_events: int = 2_000, sample: int = 0) -> dict[str, Any]:
    """botocore's uncompressed JSON 1.0 bodies for the same data.

    * per event: one single-datum request per event (what the naive loop sends);
    * packed: the same per-event datums, 1000 per request (botocore's most favourable);
    * same datums: our aggregated datums' params, serialized by botocore.

    Serializing 200,000 single-datum requests one by one took about 30 s, so the per-event
    sizes are computed: botocore's JSON body is ``json.dumps`` of the params, so a
    single-datum request's size is its series' size with the value 0.0, minus
    ``len("0.0")``, plus ``len(json.dumps(value))``; datums packed into one request cost
    their single-request sizes plus a constant per extra datum (the envelope is shared).
    Both rules are checked byte-exact against botocore's serializer on the first
    ``check_events`` events and the first two packed requests; on any mismatch every body
    is serialized instead (``per_event_method`` says which was used). ``sample_bytes``:
    the per-event bodies of the first ``sample`` events (what the naive loop sent).
    """
    import json

    import botocore.session
    from botocore.serialize import create_serializer

    from cwmetrics_core import CoreConfig, MetricsCore

    op = (
        botocore.session.get_session()
        .get_service_model("cloudwatch")
        .operation_model("PutMetricData")
    )
    serialize = create_serializer("json").serialize_to_request

    def size(datums: list[dict[str, Any]]) -> int:
        return len(serialize({"Namespace": NAMESPACE, "MetricData": datums}, op)["body"])

    zero = len(json.dumps(0.0))
    base = [size([_naive_datum(dims, 0.0)]) - zero for dims in wl.dims]
    single = [base[s] + len(json.dumps(value)) for s, _dims, value in wl.events]
    pair = [_naive_datum(wl.events[i][1], wl.events[i][2]) for i in range(min(2, wl.n_events))]
    per_extra = size(pair) - single[0] - single[1] if len(pair) == 2 else 0

    def packed_size(lo: int, hi: int) -> int:
        return sum(single[lo:hi]) + (hi - lo - 1) * per_extra

    checked = min(check_events, wl.n_events)
    exact = all(
        size([_naive_datum(dims, value)]) == single[i]
        for i, (_s, dims, value) in enumerate(wl.events[:checked])
    ) and all(
        size([_naive_datum(d, v) for _s, d, v in wl.events[lo : lo + 1000]])
        == packed_size(lo, min(lo + 1000, wl.n_events))
        for lo in range(0, min(2000, wl.n_events), 1000)
    )
    if exact:
        per_event = sum(single)
        packed = sum(
            packed_size(lo, min(lo + 1000, wl.n_events)) for lo in range(0, wl.n_events, 1000)
        )
        method = (
            f"computed, checked byte-exact against botocore on {checked:,} events and "
            f"{min(2, -(-wl.n_events // 1000))} packed requests"
        )
    else:
        datums = [_naive_datum(dims, value) for _s, dims, value in wl.events]
        single = [size([d]) for d in datums]
        per_event = sum(single)
        packed = sum(size(datums[i : i + 1000]) for i in range(0, len(datums), 1000))
        method = "serialized one by one (the computed sizes did not match botocore's)"
    now = time.time()
    core = MetricsCore(CoreConfig(), now=now)
    keys = _keys(wl)
    for s, _dims, value in wl.events:
        core.record_value(keys[s], value, now)
    core.flush(now)
    batches = core.batches_to_send(now)
    same = sum(len(serialize(b.request.params, op)["body"]) for b in batches)
    ours = sum(len(b.request.body) for b in batches)
    return {
        "per_event_bytes": per_event,
        "sample_bytes": sum(single[:sample]),
        "per_event_method": method,
        "packed_bytes": packed,
        "same_datums_bytes": same,
        "ours_same_datums_raw_bytes": ours,
    }


def _keys(wl: Workload) -> list[Any]:
    from cwmetrics_core import MetricKey

    return [MetricKey(NAMESPACE, METRIC, d, UNIT) for d in wl.dims]


def run_wire(
    wl: Workload, endpoint: Endpoint, *, naive_cap: int, peer006: bool = True
) -> dict[str, Any]:
    """The wire section; see the module docstring."""
    from cwmetrics_transports import Boto3Transport, HttpxTransport, StaticSigner

    expected = wl.expected()
    out: dict[str, Any] = {"n_events": wl.n_events, "n_series": wl.n_series}
    steps: dict[str, float] = {}
    out["step_s"] = steps
    mark = time.perf_counter()

    def step(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        steps[name] = now - mark
        print(f"   wire step {name}: {steps[name]:.1f} s", flush=True)
        mark = now

    endpoint.reset()
    transport = HttpxTransport(
        region=REGION, endpoint_url=endpoint.url, signer=StaticSigner("testing", "testing")
    )
    run = _send_ours(wl, transport)
    out["ours_httpx"] = {**run, **_server(endpoint.stats()), **check(endpoint.series(), expected)}
    step("ours_httpx")

    endpoint.reset()
    run = _send_ours(wl, Boto3Transport(_boto3_client(endpoint.url)))
    out["ours_boto3"] = {**run, **_server(endpoint.stats()), **check(endpoint.series(), expected)}
    step("ours_boto3")

    if peer006:
        params = {"n_events": wl.n_events, "n_series": wl.n_series, "url": endpoint.url}
        for strict in (True, False):
            endpoint.reset()
            endpoint.set_strict(strict)
            try:
                run = run_peer006("wire", params, env=endpoint.env)
            finally:
                endpoint.set_strict(True)
            name = "peer006" if strict else "peer006_lenient"
            out[name] = {**run, **_server(endpoint.stats()), **check(endpoint.series(), expected)}
            step(name)

    endpoint.reset()
    cap = min(naive_cap, wl.n_events)
    run = _naive(wl, endpoint.url, cap)
    naive = {**run, **_server(endpoint.stats()), **check(endpoint.series(), wl.expected(cap))}
    endpoint.reset()
    step("naive_boto3")

    sizes = botocore_json_sizes(wl, sample=cap)
    out["botocore_json"] = sizes
    step("botocore_json_sizes")
    # All events: requests and bytes are exact (one request per event; its botocore body,
    # which the sample shows is what goes on the wire); only the time is extrapolated.
    naive["sample_bytes_match"] = naive["wire_bytes"] == sizes["sample_bytes"]
    naive["extrapolated"] = {
        "factor": wl.n_events / cap,
        "requests": wl.n_events,
        "wire_bytes": sizes["per_event_bytes"],
        "wire_bytes_exact": naive["sample_bytes_match"],
        "elapsed_s": naive["elapsed_s"] / cap * wl.n_events,
    }
    out["naive_boto3"] = naive

    ours = out["ours_httpx"]
    by_bytes = math.ceil(ours["raw_bytes"] / MAX_REQUEST_BYTES)
    out["ideal"] = {
        "datums": wl.ideal_datums,
        "requests_by_count": wl.ideal_requests_by_count,
        "requests_by_bytes": by_bytes,
        "requests": max(wl.ideal_requests_by_count, by_bytes),
    }
    out["ratios"] = {
        "wire_vs_botocore_per_event_json": ours["wire_bytes"] / sizes["per_event_bytes"],
        "wire_vs_botocore_packed_json": ours["wire_bytes"] / sizes["packed_bytes"],
        "wire_vs_botocore_same_datums_json": ours["wire_bytes"] / sizes["same_datums_bytes"],
        "raw_vs_botocore_same_datums_json": sizes["ours_same_datums_raw_bytes"]
        / sizes["same_datums_bytes"],
    }
    return out


def profile_encoding(
    wl: Workload, wire_format: str = "json", top: int = 10
) -> list[dict[str, Any]]:
    """cProfile of packing + encoding the workload's datums in ``wire_format``."""
    import cProfile
    import pstats

    from cwmetrics_core import CoreConfig, MetricsCore, WireFormat

    from ._record import top_functions

    now = time.time()
    keys = _keys(wl)
    config = CoreConfig(wire_format=WireFormat(wire_format))
    for _warm in range(2):  # the first pass fills the keys' fragment cache, as in bench_core
        core = MetricsCore(config, now=now)
        for s, _dims, value in wl.events:
            core.record_value(keys[s], value, now)
        core.flush(now)
        if not _warm:
            core.batches_to_send(now)
    profiler = cProfile.Profile()
    profiler.enable()
    core.batches_to_send(now)
    profiler.disable()
    return top_functions(pstats.Stats(profiler), top)
