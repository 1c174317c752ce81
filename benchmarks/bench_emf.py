"""Log bytes per recorded sample, and record cost, of EMF output: ours against
aws-embedded-metrics and Powertools for AWS Lambda, on the same samples, in one run.

``python -m benchmarks.bench_emf [--quick]``. Uses the benchmarks' seeded workload
(``_workload.py``: 200,000 latencies over 500 series, lognormal, 0.1 ms resolution) and
two variants of it: the same latencies at 1 ms resolution (values repeat, as integer
counts or coarse latencies do), and the 0.1 ms workload with ``quantization=0.01``.

How each contender's bytes are counted (what it would write to stdout):

* ours: ``EmfTransport`` on a byte-counting stream, one flush after recording (every
  sample in one period, a fixed clock);
* aws-embedded-metrics 3.5.0: one ``MetricsLogger`` per series (EMF binds dimensions to
  the logger), ``put_metric`` per sample, then its ``LogSerializer`` for each logger's
  context, plus the newline its sinks add (no environment metadata: this favours it);
* Powertools 3.37.0: one ``EphemeralMetrics`` per series, ``add_dimension`` and
  ``add_metric`` per sample; it prints a document every 100 values of a metric and
  ``flush_metrics()`` prints the rest; stdout is counted.

A peer that is not installed is reported as such (``pip install aws-embedded-metrics==3.5.0
aws-lambda-powertools==3.37.0``). Record cost is the best of ``--repeat`` runs of the whole
workload, per sample.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

from ._workload import METRIC, NAMESPACE, UNIT, SeriesKey, Workload, make_workload

T0 = time.time() // 60 * 60  # a minute boundary: every sample falls in one period


class ByteCounter(io.TextIOBase):
    """A text stream that counts what is written (ASCII: characters are bytes), and keeps
    it when asked."""

    def __init__(self, keep: bool = False) -> None:
        self.bytes = 0
        self.keep = keep
        self.parts: list[str] = []

    def write(self, text: str) -> int:  # type: ignore[override]
        self.bytes += len(text.encode("utf-8"))
        if self.keep:
            self.parts.append(text)
        return len(text)

    def writable(self) -> bool:
        return True


def with_values(wl: Workload, round_to: float | None) -> list[tuple[int, dict[str, str], float]]:
    if round_to is None:
        return wl.events
    return [(s, d, float(max(round_to, round(v / round_to) * round_to))) for s, d, v in wl.events]


def ours(
    events: list[Any], quantization: float | None, repeat: int, keep: bool = False
) -> tuple[int, float, str]:
    from cloudwatch_metrics_client import CloudWatchSyncMetricReporter, Metrics
    from cwmetrics_core import CoreConfig
    from cwmetrics_transports import EmfTransport

    from ._clock import FixedWallClock

    best = math.inf
    out = ByteCounter()
    for _ in range(repeat):
        out = ByteCounter(keep)
        reporter = CloudWatchSyncMetricReporter(
            report_interval=None,
            transport=EmfTransport(out),
            config=CoreConfig(flush_interval=None, quantization=quantization),
            flush_on_exit=False,
            clock=FixedWallClock(T0),
        )
        put = Metrics(NAMESPACE, reporter).put_value
        start = time.perf_counter()
        for _s, dims, value in events:
            put(METRIC, value, unit=UNIT, dimensions=dims)
        best = min(best, time.perf_counter() - start)
        assert reporter.flush(60)
        reporter.stop(10)
    return out.bytes, best / len(events), "".join(out.parts)


def aws_embedded_metrics(events: list[Any], n_series: int, repeat: int) -> tuple[int, float]:
    from aws_embedded_metrics.environment.local_environment import LocalEnvironment
    from aws_embedded_metrics.logger.metrics_logger import MetricsLogger
    from aws_embedded_metrics.serializers.log_serializer import LogSerializer

    environment = LocalEnvironment()

    async def resolve() -> Any:
        return environment

    best = math.inf
    loggers: list[Any] = []
    for _ in range(repeat):
        loggers = []
        dims_of: dict[int, dict[str, str]] = {}
        for s, dims, _v in events:
            dims_of.setdefault(s, dims)
        for s in range(n_series):
            logger = MetricsLogger(resolve)
            logger.set_namespace(NAMESPACE)
            logger.put_dimensions(dict(dims_of.get(s, {"Op": "none"})))
            loggers.append(logger)
        puts = [lg.put_metric for lg in loggers]
        start = time.perf_counter()
        for s, _dims, value in events:
            puts[s](METRIC, value, UNIT)
        best = min(best, time.perf_counter() - start)
    size = 0
    for logger in loggers:
        if logger.context.metrics:
            for doc in LogSerializer.serialize(logger.context):
                size += len((doc + "\n").encode("utf-8"))
    return size, best / len(events)


def powertools(events: list[Any], n_series: int, repeat: int) -> tuple[int, float]:
    from aws_lambda_powertools.metrics import EphemeralMetrics

    best = math.inf
    size = 0
    for _ in range(repeat):
        sinks = [EphemeralMetrics(namespace=NAMESPACE) for _ in range(n_series)]
        out = ByteCounter()
        with contextlib.redirect_stdout(out):
            start = time.perf_counter()
            for s, dims, value in events:
                m = sinks[s]
                for name, dim in dims.items():
                    m.add_dimension(name, dim)
                m.add_metric(name=METRIC, unit=UNIT, value=value)
            best = min(best, time.perf_counter() - start)
            with warnings.catch_warnings():  # "No application metrics to publish"
                warnings.simplefilter("ignore")
                for m in sinks:
                    m.flush_metrics()
        size = out.bytes
    return size, best / len(events)


def parse_documents(text: str) -> dict[SeriesKey, list[tuple[float, float]]]:
    """Our EMF output read back: per series, (value, count) pairs in document order."""
    got: dict[SeriesKey, list[tuple[float, float]]] = {}
    for line in text.splitlines():
        doc = json.loads(line)
        names = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
        key = (NAMESPACE, METRIC, tuple(sorted((k, doc[k]) for k in names)))
        value = doc[METRIC]
        pairs = got.setdefault(key, [])
        if isinstance(value, dict):
            pairs.extend(zip(map(float, value["Values"]), map(float, value["Counts"]), strict=True))
        elif isinstance(value, list):
            pairs.extend((float(v), 1.0) for v in value)
        else:
            pairs.append((float(value), 1.0))
    return got


def totals_exact(wl: Workload, events: list[Any], text: str) -> dict[str, int]:
    """Series whose SampleCount and Sum read back from the documents equal the recorded
    ones exactly (both sums correctly rounded with ``math.fsum`` over the samples)."""
    recorded: dict[SeriesKey, list[float]] = {}
    for s, _dims, value in events:
        recorded.setdefault(wl.series_key(s), []).append(value)
    got = parse_documents(text)
    exact = 0
    for key, values in recorded.items():
        pairs = got.get(key, [])
        count = sum(c for _v, c in pairs)
        total = math.fsum(v for v, c in pairs for _ in range(int(c)))
        exact += count == len(values) and total == math.fsum(values)
    return {"series_exact": exact, "series_expected": len(recorded)}


#: The EMF section's workloads: (key, label, round values to, quantization).
WORKLOADS = (
    ("exact", "latencies at 0.1 ms", None, None),
    ("repeat", "latencies at 1 ms (values repeat)", 1.0, None),
    ("quantized", "latencies at 0.1 ms, quantization=0.01", None, 0.01),
)


def section(wl: Workload) -> dict[str, Any]:
    """The EMF section of ``python -m benchmarks``: log bytes per sample of ours,
    aws-embedded-metrics and Powertools for the same samples (one pass each: bytes do not
    vary between runs), every series' totals read back from our documents, and the
    largest percentile error with quantization. Record cost is timed in the record
    section, round-robin with the other contenders."""
    peers: dict[str, Callable[[list[Any]], tuple[int, float]]] = {}
    for name, fn, module in (
        ("aws_embedded_metrics", aws_embedded_metrics, "aws_embedded_metrics"),
        ("powertools", powertools, "aws_lambda_powertools"),
    ):
        try:
            __import__(module)
        except ImportError:
            continue
        peers[name] = functools.partial(fn, n_series=wl.n_series, repeat=1)
    versions = {}
    for name, dist in (
        ("aws_embedded_metrics", "aws-embedded-metrics"),
        ("powertools", "aws-lambda-powertools"),
    ):
        if name in peers:
            from importlib import metadata

            versions[name] = metadata.version(dist)
    out: dict[str, Any] = {"samples": wl.n_events, "versions": versions, "workloads": {}}
    for key, label, round_to, quant in WORKLOADS:
        events = with_values(wl, round_to)
        size, _cost, text = ours(events, quant, 1, keep=True)
        row: dict[str, Any] = {"label": label, "bytes": {"ours": size}}
        distinct: dict[int, set[float]] = {}
        for s, _dims, value in events:
            distinct.setdefault(s, set()).add(value)
        row["distinct_per_series"] = sum(map(len, distinct.values())) / max(len(distinct), 1)
        row["samples_per_series"] = len(events) / max(len(distinct), 1)
        if quant is None:  # quantized values are snapped to a grid: not meant to be exact
            row.update(totals_exact(wl, events, text))
            for name, fn in peers.items():
                row["bytes"][name] = fn(events)[0]
        else:
            row["quantization"] = quant
            row["percentile_error"] = percentile_error(events, text)
        out["workloads"][key] = row
    return out


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


def percentile_error(events: list[Any], text: str) -> float:
    """Largest relative error of p50/p90/p99 per series, from the documents vs exact."""
    exact: dict[tuple[tuple[str, str], ...], list[float]] = {}
    for _s, dims, value in events:
        exact.setdefault(tuple(sorted(dims.items())), []).append(value)
    got: dict[tuple[tuple[str, str], ...], list[float]] = {}
    for line in text.splitlines():
        doc = json.loads(line)
        names = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
        key = tuple(sorted((k, doc[k]) for k in names))
        value = doc[METRIC]
        if isinstance(value, dict):
            for v, c in zip(value["Values"], value["Counts"], strict=True):
                got.setdefault(key, []).extend([float(v)] * int(c))
        else:
            got.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    worst = 0.0
    for key, values in exact.items():
        a, b = sorted(values), sorted(got[key])
        for q in (0.5, 0.9, 0.99):
            worst = max(worst, abs(percentile(b, q) - percentile(a, q)) / percentile(a, q))
    return worst


def run(n_events: int, n_series: int, repeat: int) -> list[dict[str, Any]]:
    wl = make_workload(n_events, n_series)
    rows: list[dict[str, Any]] = []
    peers: dict[str, Callable[[list[Any]], tuple[int, float]]] = {}
    for name, fn, module in (
        ("aws-embedded-metrics 3.5.0", aws_embedded_metrics, "aws_embedded_metrics"),
        ("Powertools 3.37.0", powertools, "aws_lambda_powertools"),
    ):
        try:
            __import__(module)
        except ImportError:
            print(f"{name}: not installed, not measured")
            continue
        peers[name] = functools.partial(fn, n_series=n_series, repeat=repeat)
    for label, round_to, quant in (
        ("latencies at 0.1 ms", None, None),
        ("latencies at 1 ms (values repeat)", 1.0, None),
        ("latencies at 0.1 ms, quantization=0.01", None, 0.01),
    ):
        events = with_values(wl, round_to)
        size, cost, text = ours(events, quant, repeat, keep=quant is not None)
        row: dict[str, Any] = {"workload": label, "samples": len(events), "ours": (size, cost)}
        if quant is not None:
            row["percentile_error"] = percentile_error(events, text)
        else:
            for name, fn in peers.items():
                row[name] = fn(events)
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    out = [
        "| workload | contender | log bytes | bytes/sample | vs aws-embedded-metrics "
        "| record ns/sample |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        n = row["samples"]
        ref = row.get("aws-embedded-metrics 3.5.0", (None, None))[0]
        for name in ("ours", "aws-embedded-metrics 3.5.0", "Powertools 3.37.0"):
            if name not in row:
                continue
            size, cost = row[name]
            ratio = f"{size / ref:.3f}x" if ref else "-"
            out.append(
                f"| {row['workload']} | {name} | {size:,} | {size / n:.2f} | {ratio} "
                f"| {cost * 1e9:,.0f} |"
            )
        if "percentile_error" in row:
            out.append(
                f"| {row['workload']} | ours: largest p50/p90/p99 error of a series "
                f"| | | | {row['percentile_error']:.3%} |"
            )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 samples, 1 repeat")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = run(20_000 if args.quick else 200_000, 500, 1 if args.quick else args.repeat)
    print(table(rows))


if __name__ == "__main__":
    main()
