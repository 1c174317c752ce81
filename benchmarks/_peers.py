"""The in-process peers of the record section (imported only when peers are measured).

Each factory builds its peer's state untimed and returns a runner feeding every event once
with the peer's idiomatic record call; see ``docs/benchmarks.md`` for how each one maps
the workload's series onto the peer's model.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from ._record import Factory, Runner
from ._workload import METRIC, NAMESPACE, UNIT, Workload

_BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 10000)


def prometheus_client(wl: Workload) -> Runner:
    from prometheus_client import CollectorRegistry, Histogram

    hist = Histogram(
        "latency_ms", "Latency", ["Op", "Host"], registry=CollectorRegistry(), buckets=_BUCKETS_MS
    )
    labels = hist.labels
    events = wl.events

    def run() -> None:
        for _s, dims, value in events:
            labels(**dims).observe(value)

    return run


def opentelemetry_sdk(wl: Workload) -> Runner:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    provider = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
    record = provider.get_meter("bench").create_histogram(METRIC, unit="ms").record
    events = wl.events

    def run() -> None:
        for _s, dims, value in events:
            record(value, attributes=dims)

    return run


def aws_embedded_metrics(wl: Workload) -> Runner:
    """One MetricsLogger per series (EMF binds dimensions to the logger); never flushed."""
    from aws_embedded_metrics.environment.local_environment import LocalEnvironment
    from aws_embedded_metrics.logger.metrics_logger import MetricsLogger

    environment = LocalEnvironment()

    async def resolve() -> Any:
        return environment

    puts = []
    for dims in wl.dims:
        logger = MetricsLogger(resolve)
        logger.set_namespace(NAMESPACE)
        logger.put_dimensions(dict(dims))
        puts.append(logger.put_metric)
    events = wl.events

    def run() -> None:
        for s, _dims, value in events:
            puts[s](METRIC, value, UNIT)

    return run


def powertools(wl: Workload) -> Runner:
    """One EphemeralMetrics per series; add_dimension per dimension, then add_metric.

    Powertools prints an EMF document every 100 values of a metric: that output goes to
    /dev/null here (its cost is part of Powertools' record path).
    """
    from aws_lambda_powertools.metrics import EphemeralMetrics

    sinks = [EphemeralMetrics(namespace=NAMESPACE) for _ in wl.dims]
    events = wl.events

    def run() -> None:
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            for s, dims, value in events:
                m = sinks[s]
                for name, dim in dims.items():
                    m.add_dimension(name, dim)
                m.add_metric(name=METRIC, unit=UNIT, value=value)

    return run


PEERS: dict[str, Factory] = {
    "prometheus_client": prometheus_client,
    "opentelemetry_sdk": opentelemetry_sdk,
    "aws_embedded_metrics": aws_embedded_metrics,
    "powertools": powertools,
}
