"""The ``demo`` command: a simulated service reporting to an (embedded) CloudWatch.

Records through the seed's class-level APIs (async handlers and a sync worker thread),
keeps an exact ledger of what it recorded, reads the data back from the endpoint and
compares. Exit status 0 only when what is stored matches what was recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from cwmetrics_transports import (
    AsyncTransport,
    DryRunTransport,
    ToThread,
    Transport,
)

from .aiocloudwatch import CloudWatchAsyncMetricReporter, CloudWatchAsyncMetrics
from .cloudwatch import CloudWatchSyncMetricReporter, CloudWatchSyncMetrics

Series = tuple[str, tuple[tuple[str, str], ...]]  # (metric name, sorted dimensions)

ROUTES = {"/login": (2.5, 0.4), "/search": (3.2, 0.6), "/checkout": (3.8, 0.5)}
QUEUES = ("emails", "invoices")


class PaymentDeclinedError(Exception):
    """A simulated failure, counted in RequestLatencyFailures."""


@dataclass
class Expected:
    """What the demo recorded for one series (the ledger entry)."""

    kind: str  # "values", "statistics" or "timing"
    samples: float = 0.0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    values: list[float] = field(default_factory=list)

    def add(self, value: float, *, keep: bool) -> None:
        self.samples += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        if keep:
            self.values.append(value)


class Ledger:
    """Thread-safe record of everything the simulated service reported."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.series: dict[Series, Expected] = {}
        self.events = 0

    def add(self, kind: str, name: str, dims: dict[str, str], value: float) -> None:
        key = (name, tuple(sorted(dims.items())))
        with self._lock:
            entry = self.series.get(key)
            if entry is None:
                entry = self.series[key] = Expected(kind)
            entry.add(value, keep=kind == "values")
            self.events += 1


@dataclass
class Stored:
    """What the endpoint returned for one series."""

    samples: float
    total: float
    minimum: float
    maximum: float
    p50: float | None = None
    p99: float | None = None


# --------------------------------------------------------------------------- simulation


async def simulate(args: argparse.Namespace, ledger: Ledger, status: dict[str, Any]) -> None:
    """Run the async handlers and the sync worker for ``args.duration`` seconds."""
    rng = random.Random(42)
    stop = threading.Event()

    @CloudWatchAsyncMetrics.monitored_task(metric_name="RequestLatency")
    async def handle(route: str, latency_ms: float, size: int, items: int, fail: bool) -> None:
        CloudWatchAsyncMetrics.with_monitored_dimension("Route", route)
        await asyncio.sleep(latency_ms / 1000.0)
        dims = {"Route": route}
        await CloudWatchAsyncMetrics.put_metric(
            MetricName="ResponseSize", Unit="Bytes", Dimensions=dims, Value=size
        )
        ledger.add("values", "ResponseSize", dims, size)
        await CloudWatchAsyncMetrics.put_statistic(
            MetricName="ItemsReturned", Unit="Count", Dimensions=dims, Value=items
        )
        ledger.add("statistics", "ItemsReturned", dims, items)
        if fail:
            raise PaymentDeclinedError(route)

    @CloudWatchSyncMetrics.monitored_task(metric_name="JobDuration")
    def process_job(queue: str, work_s: float) -> None:
        CloudWatchSyncMetrics.with_monitored_dimension("Queue", queue)
        time.sleep(work_s)

    def worker() -> None:
        wrng = random.Random(7)
        while not stop.is_set():
            queue = wrng.choice(QUEUES)
            process_job(queue, wrng.uniform(0.001, 0.004))
            ledger.add("timing", "JobDuration", {"Queue": queue}, 0.0)
            depth = wrng.randint(0, 40)
            CloudWatchSyncMetrics.put_metric(
                MetricName="QueueDepth", Unit="Count", Dimensions={"Queue": queue}, Value=depth
            )
            ledger.add("values", "QueueDepth", {"Queue": queue}, depth)

    async def one_request() -> None:
        route = rng.choice(list(ROUTES))
        mu, sigma = ROUTES[route]
        latency = min(round(rng.lognormvariate(mu, sigma), 1), 400.0)
        size = int(rng.lognormvariate(8, 1))
        fail = route == "/checkout" and rng.random() < 0.03
        try:
            await handle(route, latency, size, rng.randint(0, 50), fail)
        except PaymentDeclinedError:
            ledger.add("timing", "RequestLatencyFailures", {"Route": route}, 1.0)
        ledger.add("timing", "RequestLatency", {"Route": route}, latency)

    thread = threading.Thread(target=worker, name="demo-worker", daemon=True)
    thread.start()
    tasks: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    started = loop.time()
    tick = 0.01
    carry = 0.0
    while loop.time() - started < args.duration:
        carry += args.rate * tick
        while carry >= 1.0:
            carry -= 1.0
            task = asyncio.create_task(one_request())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        status["elapsed"] = loop.time() - started
        await asyncio.sleep(tick)
    stop.set()
    await asyncio.gather(*list(tasks))
    await asyncio.to_thread(thread.join)


async def progress(
    reporters: tuple[CloudWatchAsyncMetricReporter, CloudWatchSyncMetricReporter],
    ledger: Ledger,
    status: dict[str, Any],
    live: bool,
) -> None:
    """Print a live progress line (events, requests, retries, dropped)."""
    last_line = 0.0
    while True:
        a, s = (r.stats for r in reporters)
        line = (
            f"  {status.get('elapsed', 0.0):5.1f}s  events {ledger.events:>8,}  "
            f"requests {a.requests + s.requests:>5,}  retries {a.retried + s.retried:>3}  "
            f"dropped {a.dropped + s.dropped:>4g}  buffered {a.buffered + s.buffered:>7g}"
        )
        now = time.monotonic()
        if live:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif now - last_line >= 2.0:
            print(line, file=sys.stderr, flush=True)
            last_line = now
        await asyncio.sleep(0.25)


async def run_service(
    args: argparse.Namespace,
    async_reporter: CloudWatchAsyncMetricReporter,
    sync_reporter: CloudWatchSyncMetricReporter,
    ledger: Ledger,
) -> tuple[bool, bool]:
    """Run the simulation with live progress, then drain both reporters."""
    status: dict[str, Any] = {}
    await async_reporter.run()
    sync_reporter.run()
    live = not args.quiet and sys.stderr.isatty()
    ticker = asyncio.create_task(
        progress((async_reporter, sync_reporter), ledger, status, live)
        if not args.quiet
        else asyncio.sleep(0)
    )
    try:
        await simulate(args, ledger, status)
    finally:
        delivered_async = await async_reporter.stop(timeout=30)
        delivered_sync = await asyncio.to_thread(sync_reporter.stop, 30)
        ticker.cancel()
        if live:
            print(file=sys.stderr)
    return delivered_async, delivered_sync


# --------------------------------------------------------------------------- read back


def _percentile(values: dict[float, float], q: float) -> float | None:
    """Nearest-rank percentile of a value -> count multiset."""
    total = sum(values.values())
    if not total:
        return None
    rank = max(1.0, math.ceil(q / 100.0 * total))
    seen = 0.0
    for value in sorted(values):
        seen += values[value]
        if seen >= rank:
            return value
    return max(values)


def read_back_cloudwatch(
    client: Any, namespace: str, series: Series, start: datetime, end: datetime, aws: bool
) -> Stored:
    """GetMetricStatistics over the run's window, summed across datapoints."""
    name, dims = series
    request: dict[str, Any] = {
        "Namespace": namespace,
        "MetricName": name,
        "Dimensions": [{"Name": n, "Value": v} for n, v in dims],
        "StartTime": start,
        "EndTime": end,
        "Period": 60,
        "Statistics": ["SampleCount", "Sum", "Minimum", "Maximum"],
    }
    points = client.get_metric_statistics(**request)["Datapoints"]
    stored = Stored(
        samples=sum(p["SampleCount"] for p in points),
        total=sum(p["Sum"] for p in points),
        minimum=min((p["Minimum"] for p in points), default=math.nan),
        maximum=max((p["Maximum"] for p in points), default=math.nan),
    )
    if aws and name in ("RequestLatency", "ResponseSize", "QueueDepth", "JobDuration"):
        request.pop("Statistics")
        request["ExtendedStatistics"] = ["p50", "p99"]
        extended = client.get_metric_statistics(**request)["Datapoints"]
        if len(extended) == 1:
            stored.p50 = extended[0]["ExtendedStatistics"].get("p50")
            stored.p99 = extended[0]["ExtendedStatistics"].get("p99")
    return stored


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def matches(expected: Expected, stored: Stored) -> bool:
    """Exact comparison (sums to 1e-9 relative: float addition order differs)."""
    if expected.samples != stored.samples:
        return False
    if expected.kind == "timing":  # durations are measured inside the timer: count them
        return True
    return (
        _close(expected.total, stored.total)
        and expected.minimum == stored.minimum
        and expected.maximum == stored.maximum
    )


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.1f}" if abs(value) < 1e7 else f"{value:.3g}"


def print_table(rows: list[tuple[Series, Expected, Stored, bool]]) -> None:
    """One line per series: samples, sum, min, max, average, p50/p99, match."""
    header = ("series", "samples", "sum", "min", "max", "avg", "p50", "p99", "match")
    table = [header]
    for (name, dims), _expected, stored, ok in rows:
        label = name + "".join(f" {n}={v}" for n, v in dims)
        avg = stored.total / stored.samples if stored.samples else None
        table.append(
            (
                label,
                f"{stored.samples:,.0f}",
                _fmt(stored.total),
                _fmt(stored.minimum),
                _fmt(stored.maximum),
                _fmt(avg),
                _fmt(stored.p50),
                _fmt(stored.p99),
                "yes" if ok else "NO",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for i, row in enumerate(table):
        print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in
                        enumerate(zip(row, widths, strict=True))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def plot(path: str, distributions: dict[str, dict[float, float]]) -> None:
    """Write a latency histogram per series to ``path`` (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib: pip install matplotlib", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, values in sorted(distributions.items()):
        xs = sorted(values)
        ax.hist(xs, weights=[values[x] for x in xs], bins=60, alpha=0.55, label=label)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("requests")
    ax.set_title("RequestLatency distribution per route (as stored)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


# --------------------------------------------------------------------------- main


def _transports(
    args: argparse.Namespace, endpoint: str | None, region: str
) -> tuple[AsyncTransport, Transport, DryRunTransport | None]:
    if args.transport == "dry-run":
        import logging

        dry = DryRunTransport(logger=logging.getLogger("cloudwatch_metrics_client.demo"))
        return dry, dry, dry
    if args.transport == "httpx":
        from cwmetrics_transports import HttpxTransport

        shared = HttpxTransport(endpoint_url=endpoint, region=region)
        return shared, shared, None
    from cwmetrics_transports import Boto3Transport

    return (
        ToThread(Boto3Transport(endpoint_url=endpoint, region=region)),
        Boto3Transport(endpoint_url=endpoint, region=region),
        None,
    )


def _iter_values(dry: DryRunTransport, name: str) -> Iterator[tuple[Series, float, float]]:
    for request in dry.requests:
        for datum in request.datums:
            if datum.key.name != name or datum.values is None:
                continue
            counts = datum.counts or (1.0,) * len(datum.values)
            for value, count in zip(datum.values, counts, strict=True):
                yield (name, datum.key.dimensions), value, count


def aws_credentials_problem() -> str | None:
    """Why ``--aws`` cannot work here (one line), or None: checked before anything starts.

    Uses botocore's credential chain (environment, shared files, SSO, container and
    instance roles) without sending anything to CloudWatch.
    """
    try:
        import boto3  # noqa: F401 - the demo reads the data back with boto3
        import botocore.exceptions
        import botocore.session
    except ImportError:
        return "needs boto3: pip install 'cloudwatch-metrics-client[boto3]'"
    try:
        credentials = botocore.session.get_session().get_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        return f"cannot load AWS credentials: {exc}"
    if credentials is None:
        return (
            "no AWS credentials found (environment, shared credentials and config files, "
            "SSO, container or instance role); configure them, e.g. `aws configure`, or "
            "leave out --aws to use the embedded local CloudWatch"
        )
    return None


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; return the process exit status."""
    if args.duration <= 0 or args.rate <= 0:
        print("--duration and --rate must be > 0", file=sys.stderr)
        return 2
    region = (
        args.region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )
    if args.aws and args.transport != "dry-run":
        problem = aws_credentials_problem()
        if problem is not None:
            print(f"cloudwatch-metrics-client demo --aws: {problem}", file=sys.stderr)
            return 2
    server: Any = None
    endpoint: str | None = None
    # A fresh namespace per run: reading back never mixes runs (moto keeps its data
    # process-wide, and real CloudWatch keeps it for 15 months).
    namespace = f"cwmetrics-demo/{uuid.uuid4().hex[:8]}"
    if not args.aws and args.transport != "dry-run":
        if args.endpoint_url:
            endpoint = args.endpoint_url
        else:
            try:
                from cwmetrics_transports.testing import LocalCloudWatch

                server = LocalCloudWatch(region=region).start()
            except ImportError as exc:
                print(
                    f"the embedded CloudWatch needs the demo extra ({exc}): "
                    "pip install 'cloudwatch-metrics-client[demo]'",
                    file=sys.stderr,
                )
                return 2
            endpoint = server.url
            print(f"embedded strict CloudWatch (moto) listening on {endpoint}")
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    where = "dry run (nothing sent)" if args.transport == "dry-run" else (endpoint or "AWS")
    print(f"namespace {namespace!r}, transport {args.transport}, target {where}, "
          f"{args.duration:g}s at ~{args.rate:g} req/s")
    try:
        return _run(args, server, endpoint, region, namespace)
    finally:
        if server is not None:
            server.stop()


def _run(args: argparse.Namespace, server: Any, endpoint: str | None, region: str,
         namespace: str) -> int:
    async_transport, sync_transport, dry = _transports(args, endpoint, region)
    async_reporter = CloudWatchAsyncMetricReporter(report_interval=1.0, transport=async_transport)
    sync_reporter = CloudWatchSyncMetricReporter(
        report_interval=1.0, transport=sync_transport, flush_on_exit=False
    )
    CloudWatchAsyncMetrics.with_namespace(namespace).with_reporter(async_reporter)
    CloudWatchSyncMetrics.with_namespace(namespace).with_reporter(sync_reporter)
    ledger = Ledger()
    start = datetime.now(timezone.utc) - timedelta(minutes=2)
    delivered = asyncio.run(run_service(args, async_reporter, sync_reporter, ledger))
    end = datetime.now(timezone.utc) + timedelta(minutes=2)
    stats = [async_reporter.stats, sync_reporter.stats]
    recorded = sum(s.recorded for s in stats)
    print(f"recorded {recorded:,.0f} samples in {len(ledger.series)} series; "
          f"{sum(s.requests for s in stats)} PutMetricData requests, "
          f"{sum(s.retried for s in stats)} retries, {sum(s.dropped for s in stats):g} dropped")

    stored_by_series: dict[Series, Stored] = {}
    distributions: dict[str, dict[float, float]] = {}
    if dry is not None:
        for key, totals in dry.totals().items():
            stored_by_series[(key[1], key[2])] = Stored(
                totals["SampleCount"], totals["Sum"], totals["Minimum"], totals["Maximum"]
            )
        multisets: dict[Series, dict[float, float]] = {}
        for name in ("RequestLatency", "ResponseSize", "QueueDepth", "JobDuration"):
            for series, value, count in _iter_values(dry, name):
                bucket = multisets.setdefault(series, {})
                bucket[value] = bucket.get(value, 0.0) + count
    else:
        client = _reader(server, endpoint, region)
        multisets = {}
        for series in ledger.series:
            stored_by_series[series] = _poll(client, namespace, series, start, end,
                                             ledger.series[series], aws=args.aws)
            if server is not None:
                exact = server.series_stats(namespace, series[0], dict(series[1]))
                multisets[series] = dict(exact.values)
    for series, values in multisets.items():
        if series in stored_by_series and values:
            stored_by_series[series].p50 = _percentile(values, 50)
            stored_by_series[series].p99 = _percentile(values, 99)
        if series[0] == "RequestLatency":
            distributions[" ".join(f"{n}={v}" for n, v in series[1])] = values

    rows = []
    for series in sorted(ledger.series):
        expected = ledger.series[series]
        stored = stored_by_series.get(series, Stored(0.0, 0.0, math.nan, math.nan))
        rows.append((series, expected, stored, matches(expected, stored)))
    print()
    print_table(rows)
    if args.plot:
        plot(args.plot, distributions)
    stored_samples = sum(r[2].samples for r in rows)
    expected_samples = sum(r[1].samples for r in rows)
    ok = (
        all(r[3] for r in rows)
        and stored_samples == recorded == expected_samples
        and all(s.dropped == 0 for s in stats)
        and all(delivered)
    )
    verdict = "MATCH" if ok else "MISMATCH"
    print(f"\nverdict: {verdict}: recorded {recorded:,.0f} samples, stored "
          f"{stored_samples:,.0f} in {len(rows)} series "
          f"({sum(not r[3] for r in rows)} series differ)")
    return 0 if ok else 1


def _reader(server: Any, endpoint: str | None, region: str) -> Any:
    if server is not None:
        return server.boto3_client()
    import boto3

    return boto3.client("cloudwatch", region_name=region, endpoint_url=endpoint)


def _poll(client: Any, namespace: str, series: Series, start: datetime, end: datetime,
          expected: Expected, *, aws: bool) -> Stored:
    """Read back; real CloudWatch is eventually consistent, so wait (up to 5 min) there."""
    deadline = time.monotonic() + (300 if aws else 0)
    while True:
        stored = read_back_cloudwatch(client, namespace, series, start, end, aws)
        if stored.samples >= expected.samples or time.monotonic() >= deadline:
            return stored
        time.sleep(10)


__all__ = ["run_demo"]
