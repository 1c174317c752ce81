"""OTLP encoding cost per data point, against PutMetricData JSON in the same run.

Run: ``.venv/bin/python -m benchmarks.bench_otlp`` (add ``--json FILE`` to save figures).

The workload is bench_core's (200,000 events over 500 series, values lognormal ms rounded
to 0.1 ms). Both sides start from the same aggregated, sealed core and do everything from
there to the bytes on the wire:

* OTLP: ``OtlpSink`` packing (exponential histograms, size bound), ``encode_request``
  (``opentelemetry-proto`` messages, serialized), gzip level 1 (what ``OtlpTransport``
  sends);
* baseline: the PutMetricData sink packing and encoding AWS JSON 1.0, gzip level 1 (what
  ``HttpxTransport`` sends).

Costs are per series-period (one OTLP data point; one or more PutMetricData datums), best
of ``repeat`` runs, the two sides timed alternately. Bytes on the wire are per sample.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections.abc import Callable
from typing import Any

from cwmetrics_core import CoreConfig, MetricsCore, WireFormat

from .bench_core import T0, workload


def _cores(fmt: WireFormat, n: int) -> list[MetricsCore]:
    keys, events = workload()
    cores = []
    for _ in range(n):
        core = MetricsCore(CoreConfig(), now=T0)
        core.set_wire_format(fmt)
        for k, v, ts in events:
            core.record_value(keys[k], v, ts)
        core.flush(T0)
        cores.append(core)
    return cores


def bench_otlp(repeat: int = 5) -> dict[str, Any]:
    from cwmetrics_transports._otlp import encode_request

    otlp_cores = _cores(WireFormat.OTLP, repeat + 1)
    json_cores = _cores(WireFormat.JSON, repeat + 1)
    sample = otlp_cores.pop().batches_to_send(T0 + 60)
    points = sum(len(b.request.points) for b in sample)  # type: ignore[attr-defined]
    samples = sum(b.request.samples for b in sample)
    otlp_bytes = sum(len(gzip.compress(encode_request(b.request), 1)) for b in sample)  # type: ignore[arg-type]
    otlp_raw = sum(len(encode_request(b.request)) for b in sample)  # type: ignore[arg-type]
    bound = sum(b.request.size_bound for b in sample)  # type: ignore[attr-defined]
    json_sample = json_cores.pop().batches_to_send(T0 + 60)
    datums = sum(len(b.request) for b in json_sample)
    json_bytes = sum(len(gzip.compress(b.request.body, 1)) for b in json_sample)
    json_raw = sum(len(b.request.body) for b in json_sample)

    def otlp_run() -> tuple[float, float]:
        core = otlp_cores.pop()
        start = time.perf_counter()
        batches = core.batches_to_send(T0 + 60)
        packed = time.perf_counter()
        for b in batches:
            gzip.compress(encode_request(b.request), 1)  # type: ignore[arg-type]
        return packed - start, time.perf_counter() - packed

    def json_run() -> tuple[float, float]:
        core = json_cores.pop()
        start = time.perf_counter()
        batches = core.batches_to_send(T0 + 60)
        packed = time.perf_counter()
        for b in batches:
            gzip.compress(b.request.body, 1)
        return packed - start, time.perf_counter() - packed

    best: dict[str, list[float]] = {"otlp": [], "json": []}
    runs: list[tuple[str, Callable[[], tuple[float, float]]]] = [
        ("otlp", otlp_run), ("json", json_run)
    ]
    for _ in range(repeat):
        for name, fn in runs:
            pack, encode = fn()
            best[name].append(pack + encode)
            best[name + "_pack"] = [*best.get(name + "_pack", []), pack]
            best[name + "_encode"] = [*best.get(name + "_encode", []), encode]
    us = {k: min(v) / points * 1e6 for k, v in best.items()}
    return {
        "points": points,
        "datums": datums,
        "samples": samples,
        "otlp_us_per_point": us["otlp"],
        "otlp_pack_us_per_point": us["otlp_pack"],
        "otlp_encode_gzip_us_per_point": us["otlp_encode"],
        "json_us_per_point": us["json"],
        "json_pack_us_per_point": us["json_pack"],
        "json_gzip_us_per_point": us["json_encode"],
        "ratio_vs_json": us["otlp"] / us["json"],
        "otlp_wire_bytes_per_sample": otlp_bytes / samples,
        "json_wire_bytes_per_sample": json_bytes / samples,
        "otlp_uncompressed_bytes": otlp_raw,
        "otlp_size_bound_bytes": bound,
        "json_uncompressed_bytes": json_raw,
        "repeat": repeat,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    r = bench_otlp(args.repeat)
    print(
        f"OTLP: {r['otlp_us_per_point']:.1f} us/point (pack {r['otlp_pack_us_per_point']:.1f}, "
        f"encode+gzip {r['otlp_encode_gzip_us_per_point']:.1f}); PutMetricData JSON: "
        f"{r['json_us_per_point']:.1f} us per series-period; ratio {r['ratio_vs_json']:.2f}x; "
        f"wire bytes/sample: OTLP {r['otlp_wire_bytes_per_sample']:.3f}, "
        f"JSON {r['json_wire_bytes_per_sample']:.3f}"
    )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(r, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
