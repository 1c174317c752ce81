"""cwmetrics_core micro-benchmarks: record() cost and encoding throughput.

Run: ``.venv/bin/python -m benchmarks.bench_core`` (add ``--json FILE`` to save figures).

* record(): ns/event of ``MetricsCore.record_value`` with a validated key, against a
  plain-dict aggregation baseline doing the same bucketing (key -> period -> value -> count)
  in the same process run. Target: within 1.5x.
* encoding: datums/s of packing + encoding 1000-datum requests, against botocore's own
  serializer for the same params (JSON 1.0 and query). Targets: at least 6x (JSON) and
  5x (query).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from cwmetrics_core import CoreConfig, MetricKey, MetricsCore, WireFormat

T0 = 1_789_999_980.0
N_EVENTS = 200_000
N_SERIES = 500


def _best(fn: Callable[[], None], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def workload(seed: int = 1) -> tuple[list[MetricKey], list[tuple[int, float, float]]]:
    rng = random.Random(seed)
    keys = [
        MetricKey("Bench", "Latency", {"Op": f"op{i % 50}", "Host": f"h{i // 50}"}, "Milliseconds")
        for i in range(N_SERIES)
    ]
    events = [
        (rng.randrange(N_SERIES), round(rng.lognormvariate(3.0, 0.6), 1), T0 + i * 0.0003)
        for i in range(N_EVENTS)
    ]
    return keys, events


def bench_record() -> dict[str, float]:
    keys, events = workload()
    resolved = [(keys[k], v, ts) for k, v, ts in events]

    def baseline() -> None:
        store: dict[Any, dict[float, dict[float, float]]] = {}
        for key, value, ts in resolved:
            period = ts - ts % 60
            series = store.get(key)
            if series is None:
                series = store[key] = {}
            vals = series.get(period)
            if vals is None:
                vals = series[period] = {}
            vals[value] = vals.get(value, 0.0) + 1.0

    def ours() -> None:
        core = MetricsCore(CoreConfig(), now=T0)
        record = core.record_value
        for key, value, ts in resolved:
            record(key, value, ts)

    base = _best(baseline) / N_EVENTS * 1e9
    mine = _best(ours) / N_EVENTS * 1e9
    return {"baseline_ns": base, "record_value_ns": mine, "ratio": mine / base}


def bench_encoding() -> dict[str, float]:
    import botocore.session
    from botocore.serialize import create_serializer

    keys, events = workload()
    out: dict[str, float] = {}
    model = botocore.session.get_session().get_service_model("cloudwatch")
    op = model.operation_model("PutMetricData")
    for fmt, protocol in ((WireFormat.JSON, "json"), (WireFormat.QUERY, "query")):
        cores = []
        for _ in range(6):  # prepared outside the timing: aggregation is not encoding
            core = MetricsCore(CoreConfig(wire_format=fmt), now=T0)
            for k, v, ts in events:
                core.record_value(keys[k], v, ts)
            core.flush(T0)
            cores.append(core)
        batches = cores.pop().batches_to_send(T0 + 60)
        n_datums = sum(len(b.request.datums) for b in batches)
        params = [b.request.params for b in batches]

        def pack_and_encode(cores: list[MetricsCore] = cores) -> None:
            # .body: the query form is only measured while packing (botocore serializes
            # params itself on the boto3 path); build it here, so both sides encode.
            for batch in cores.pop().batches_to_send(T0 + 60):
                batch.request.body  # noqa: B018

        serializer = create_serializer(protocol, include_validation=False)

        def botocore_encode(serializer: Any = serializer, params: list[Any] = params) -> None:
            for p in params:
                serializer.serialize_to_request(p, op)

        ours_s = _best(pack_and_encode)
        theirs_s = _best(botocore_encode)
        out[f"{fmt.value}_ours_datums_per_s"] = n_datums / ours_s
        out[f"{fmt.value}_botocore_datums_per_s"] = n_datums / theirs_s
        out[f"{fmt.value}_speedup"] = theirs_s / ours_s
        out[f"{fmt.value}_datums"] = n_datums
    # The boto3 path: the core packs and measures (botocore serializes params itself).
    for fmt, protocol in ((WireFormat.QUERY, "query"), (WireFormat.BOTOCORE_JSON, "json")):
        cores = []
        for _ in range(6):
            core = MetricsCore(CoreConfig(wire_format=fmt), now=T0)
            for k, v, ts in events:
                core.record_value(keys[k], v, ts)
            core.flush(T0)
            cores.append(core)
        batches = cores.pop().batches_to_send(T0 + 60)
        n_datums = sum(len(b.request) for b in batches)
        params = [b.request.params for b in batches]

        def pack_and_measure(cores: list[MetricsCore] = cores) -> None:
            cores.pop().batches_to_send(T0 + 60)

        serializer = create_serializer(protocol, include_validation=False)

        def botocore_serialize(serializer: Any = serializer, params: list[Any] = params) -> None:
            for p in params:
                serializer.serialize_to_request(p, op)

        ours_s = _best(pack_and_measure)
        theirs_s = _best(botocore_serialize)
        name = f"{fmt.value.replace('-', '_')}_measure"
        out[f"{name}_datums_per_s"] = n_datums / ours_s
        out[f"{name}_speedup"] = theirs_s / ours_s
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args(argv)
    results = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "record": bench_record(),
        "encoding": bench_encoding(),
    }
    rec = results["record"]
    print(f"record_value: {rec['record_value_ns']:.0f} ns/event, dict baseline "
          f"{rec['baseline_ns']:.0f} ns/event, ratio {rec['ratio']:.2f}x (target <= 1.5x)")
    for fmt in ("json", "query"):
        enc = results["encoding"]
        print(f"encode {fmt}: ours {enc[f'{fmt}_ours_datums_per_s']:,.0f} datums/s, botocore "
              f"{enc[f'{fmt}_botocore_datums_per_s']:,.0f} datums/s, "
              f"{enc[f'{fmt}_speedup']:.1f}x (target >= {6 if fmt == 'json' else 5}x)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
