"""Record cost: ns per event of each contender for the same workload and call shape.

Every contender is a *factory*: given the workload it builds fresh state (untimed) and
returns a runner that feeds every event once; a runner may return its own elapsed seconds
(the async ones time the loop inside the running event loop). Contenders are timed
round-robin, ``repeat`` times each, and the best run is kept, so machine noise hits all of
them alike and ratios come from one run. Nothing here performs I/O: our reporters use a
``DryRunTransport`` and are never started. Project and peer packages are imported inside
the factories only, so this module also loads next to cloudwatch-metrics-client 0.0.6.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ._workload import METRIC, NAMESPACE, UNIT, Workload

Runner = Callable[[], "float | None"]
Factory = Callable[[Workload], Runner]

#: Display names, in chart order.
LABELS: dict[str, str] = {
    "dict_baseline": "plain dict (floor)",
    "dict_baseline_async": "plain dict, async def",
    "ours_sync_put_metric": "ours: CloudWatchSyncMetrics.put_metric",
    "ours_sync_put_statistic": "ours: CloudWatchSyncMetrics.put_statistic",
    "ours_async_put_metric": "ours: await CloudWatchAsyncMetrics.put_metric",
    "ours_metrics_put_value": "ours: Metrics.put_value",
    "ours_emf_put_metric": "ours: put_metric, EmfTransport (null stream)",
    "prometheus_client": "prometheus_client Histogram",
    "opentelemetry_sdk": "OpenTelemetry SDK histogram",
    "aws_embedded_metrics": "aws-embedded-metrics put_metric",
    "powertools": "Powertools add_dimension+add_metric",
    "peer006_sync_put_metric": "cloudwatch-metrics-client 0.0.6 put_metric",
    "peer006_async_put_metric": "0.0.6 await put_metric",
    "peer006_sync_put_statistic": "cloudwatch-metrics-client 0.0.6 put_statistic",
}


def time_once(factory: Factory, wl: Workload) -> float:
    """Seconds of one run of ``factory``'s runner (fresh state, after a gc.collect())."""
    run = factory(wl)
    gc.collect()
    start = time.perf_counter()
    own = run()
    return time.perf_counter() - start if own is None else own


def best_of(
    factories: dict[str, Factory],
    wl: Workload,
    repeat: int,
    between: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Best wall time (seconds) of each factory's runner, timed round-robin; ``between``
    is called after each round (e.g. to time a subprocess's contenders in step)."""
    best = dict.fromkeys(factories, float("inf"))
    for _ in range(repeat):
        for name, factory in factories.items():
            best[name] = min(best[name], time_once(factory, wl))
        if between is not None:
            between()
    return best


# ---------------------------------------------------------------- baselines
def dict_baseline(wl: Workload) -> Runner:
    """The practical floor: same keyword-call shape, aggregating into plain dicts."""
    store: dict[tuple[str, str, tuple[tuple[str, str], ...]], dict[float, int]] = {}

    def put_metric(MetricName: str, Unit: str, Dimensions: dict[str, str], Value: float) -> None:
        key = (MetricName, Unit, tuple(sorted(Dimensions.items())))
        values = store.get(key)
        if values is None:
            values = store[key] = {}
        values[Value] = values.get(Value, 0) + 1

    events = wl.events

    def run() -> None:
        for _s, dims, value in events:
            put_metric(MetricName=METRIC, Unit=UNIT, Dimensions=dims, Value=value)

    return run


def dict_baseline_async(wl: Workload) -> Runner:
    """The same floor as an ``async def`` awaited in one running loop (context only)."""
    store: dict[tuple[str, str, tuple[tuple[str, str], ...]], dict[float, int]] = {}

    async def put_metric(
        MetricName: str, Unit: str, Dimensions: dict[str, str], Value: float
    ) -> None:
        key = (MetricName, Unit, tuple(sorted(Dimensions.items())))
        values = store.get(key)
        if values is None:
            values = store[key] = {}
        values[Value] = values.get(Value, 0) + 1

    events = wl.events

    async def loop() -> float:
        start = time.perf_counter()
        for _s, dims, value in events:
            await put_metric(MetricName=METRIC, Unit=UNIT, Dimensions=dims, Value=value)
        return time.perf_counter() - start

    return lambda: asyncio.run(loop())


# ---------------------------------------------------------------- ours
class NullStream:
    """A text stream that discards what is written (EmfTransport's target)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


def _sync_facade(transport: Any = None) -> Any:
    from cloudwatch_metrics_client import CloudWatchSyncMetricReporter, CloudWatchSyncMetrics
    from cwmetrics_transports import DryRunTransport

    reporter = CloudWatchSyncMetricReporter(
        transport=DryRunTransport() if transport is None else transport, flush_on_exit=False
    )
    CloudWatchSyncMetrics.with_namespace(NAMESPACE).with_reporter(reporter)
    return CloudWatchSyncMetrics


def _async_facade() -> Any:
    from cloudwatch_metrics_client import CloudWatchAsyncMetricReporter, CloudWatchAsyncMetrics
    from cwmetrics_transports import DryRunTransport

    reporter = CloudWatchAsyncMetricReporter(transport=DryRunTransport())
    CloudWatchAsyncMetrics.with_namespace(NAMESPACE).with_reporter(reporter)
    return CloudWatchAsyncMetrics


def ours_sync_put_metric(wl: Workload) -> Runner:
    put = _sync_facade().put_metric
    events = wl.events

    def run() -> None:
        for _s, dims, value in events:
            put(MetricName=METRIC, Unit=UNIT, Dimensions=dims, Value=value)

    return run


def ours_emf_put_metric(wl: Workload) -> Runner:
    """The seed's ``put_metric`` through a reporter whose transport is ``EmfTransport``
    writing to a null stream (issue #13's record-cost target; never flushed here)."""
    from cwmetrics_transports import EmfTransport

    put = _sync_facade(EmfTransport(NullStream())).put_metric
    events = wl.events

    def run() -> None:
        for _s, dims, value in events:
            put(MetricName=METRIC, Unit=UNIT, Dimensions=dims, Value=value)

    return run


def ours_sync_put_statistic(wl: Workload) -> Runner:
    put = _sync_facade().put_statistic
    events = wl.events

    def run() -> None:
        for _s, dims, value in events:
            put(MetricName=METRIC, Unit=UNIT, Dimensions=dims, Value=value)

    return run


def ours_async_put_metric(wl: Workload) -> Runner:
    put = _async_facade().put_metric
    events = wl.events

    async def loop() -> float:
        start = time.perf_counter()
        for _s, dims, value in events:
            await put(MetricName=METRIC, Unit=UNIT, Dimensions=dims, Value=value)
        return time.perf_counter() - start

    return lambda: asyncio.run(loop())


def ours_metrics_put_value(wl: Workload) -> Runner:
    from cloudwatch_metrics_client import CloudWatchSyncMetricReporter, Metrics
    from cwmetrics_transports import DryRunTransport

    reporter = CloudWatchSyncMetricReporter(transport=DryRunTransport(), flush_on_exit=False)
    put = Metrics(NAMESPACE, reporter).put_value
    events = wl.events

    def run() -> None:
        for _s, dims, value in events:
            put(METRIC, value, unit=UNIT, dimensions=dims)

    return run


OURS: dict[str, Factory] = {
    "dict_baseline": dict_baseline,
    "dict_baseline_async": dict_baseline_async,
    "ours_sync_put_metric": ours_sync_put_metric,
    "ours_sync_put_statistic": ours_sync_put_statistic,
    "ours_async_put_metric": ours_async_put_metric,
    "ours_metrics_put_value": ours_metrics_put_value,
    "ours_emf_put_metric": ours_emf_put_metric,
}


# ---------------------------------------------------------------- monitored_task
def monitored_overhead(n_calls: int, repeat: int) -> dict[str, float]:
    """ns per call of ``@monitored_task`` functions minus the undecorated call."""
    calls = range(n_calls)

    def sync_pair(decorate: bool) -> Runner:
        def handler() -> None:
            return None

        if decorate:
            handler = _sync_facade().monitored_task(handler)

        def run() -> None:
            for _ in calls:
                handler()

        return run

    def async_pair(decorate: bool) -> Runner:
        async def handler() -> None:
            return None

        if decorate:
            handler = _async_facade().monitored_task(handler)

        async def loop() -> float:
            start = time.perf_counter()
            for _ in calls:
                await handler()
            return time.perf_counter() - start

        return lambda: asyncio.run(loop())

    factories: dict[str, Factory] = {
        "sync_plain": lambda _wl: sync_pair(False),
        "sync_monitored": lambda _wl: sync_pair(True),
        "async_plain": lambda _wl: async_pair(False),
        "async_monitored": lambda _wl: async_pair(True),
    }
    dummy = Workload(0, 0, 0, [], [])
    best = best_of(factories, dummy, repeat)
    ns = {k: v / n_calls * 1e9 for k, v in best.items()}
    ns["sync_overhead"] = ns["sync_monitored"] - ns["sync_plain"]
    ns["async_overhead"] = ns["async_monitored"] - ns["async_plain"]
    return ns


# ---------------------------------------------------------------- hot-path layers
def layer_factories(wl: Workload) -> dict[str, Factory]:
    """The layers under ``put_metric``, innermost first, timed alone (prebuilt keys)."""
    from cwmetrics_core import CoreConfig, MetricKey, MetricsCore

    ts = time.time()
    keys = [MetricKey(NAMESPACE, METRIC, d, UNIT) for d in wl.dims]

    def core_record(w: Workload) -> Runner:
        # The core's lock-free recorder, driven as the reporter drives it: a fold under a
        # lock whenever it says 256 observations wait.
        core = MetricsCore(CoreConfig(), now=ts)
        record, fold = core.value_recorder, core.fold
        lock = threading.Lock()

        def run() -> None:
            for s, _dims, value in w.events:
                if record(keys[s], value, ts, 1.0):
                    with lock:
                        fold()

        return run

    def core_locked(w: Workload) -> Runner:
        # The reporter's record(): the call above behind one more call.
        from cloudwatch_metrics_client import CloudWatchSyncMetricReporter
        from cwmetrics_transports import DryRunTransport

        record = CloudWatchSyncMetricReporter(
            transport=DryRunTransport(), flush_on_exit=False
        ).record

        def run() -> None:
            for s, _dims, value in w.events:
                record(keys[s], value, ts)

        return run

    def empty_loop(w: Workload) -> Runner:
        def run() -> None:
            for _s, _dims, _value in w.events:
                pass

        return run

    def key_lookup(w: Workload) -> Runner:
        cache = {(METRIC, UNIT, tuple(d.items()), 60): k for d, k in zip(w.dims, keys, strict=True)}
        get = cache.get

        def run() -> None:
            for _s, dims, _value in w.events:
                get((METRIC, UNIT, tuple(dims.items()), 60))

        return run

    return {
        "layer_core_record_value": core_record,
        "layer_empty_loop": empty_loop,
        "layer_core_locked": core_locked,
        "layer_key_lookup": key_lookup,
    }


def profile_put_metric(wl: Workload, top: int = 10) -> list[dict[str, Any]]:
    """cProfile of the sync facade loop: top functions by own time (share of total)."""
    import cProfile
    import pstats

    run = ours_sync_put_metric(wl)
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    return top_functions(pstats.Stats(profiler), top)


#: Profiler entries that are the event loop waiting, not working.
IDLE = ("'poll' of 'select.epoll'", "'select' of 'select", "'control' of 'select.kqueue'")


def top_functions(stats: Any, top: int, *, exclude_idle: bool = False) -> list[dict[str, Any]]:
    """The ``top`` entries of a ``pstats.Stats`` by own time, with their share of the
    total own time (of the busy time when ``exclude_idle``)."""
    rows = []
    for (path, line, func), (_cc, ncalls, tottime, cumtime, _callers) in stats.stats.items():
        where = f"{os.path.basename(path)}:{line}({func})" if line else func
        if exclude_idle and any(idle in where for idle in IDLE):
            continue
        rows.append(
            {
                "function": where,
                "ncalls": ncalls,
                "tottime_ms": tottime * 1e3,
                "cumtime_ms": cumtime * 1e3,
                "share": tottime,
            }
        )
    total = sum(r["share"] for r in rows) or 1.0
    for r in rows:
        r["share"] /= total
    rows.sort(key=lambda r: -r["tottime_ms"])
    return rows[:top]


def _reset_facades() -> None:
    with contextlib.suppress(ImportError):
        from cloudwatch_metrics_client import CloudWatchAsyncMetrics, CloudWatchSyncMetrics

        CloudWatchSyncMetrics._reset_default()
        CloudWatchAsyncMetrics._reset_default()


def run_record(
    wl: Workload,
    repeat: int,
    *,
    peers: bool,
    monitored_calls: int = 100_000,
    between: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The record section: ns/event per contender and per hot-path layer (one round-robin),
    ratios to the dict floor, and monitored_task overhead."""
    factories = {**OURS, **layer_factories(wl)}
    if peers:
        from ._peers import PEERS

        factories.update(PEERS)
    try:
        best = best_of(factories, wl, repeat, between)
        monitored = monitored_overhead(monitored_calls, repeat)
    finally:
        _reset_facades()
    ns = {k: v / wl.n_events * 1e9 for k, v in best.items()}
    layers = {k.removeprefix("layer_"): ns.pop(k) for k in list(ns) if k.startswith("layer_")}
    layers.update(
        dict_baseline=ns["dict_baseline"],
        metrics_put_value=ns["ours_metrics_put_value"],
        facade_put_metric=ns["ours_sync_put_metric"],
        facade_async_put_metric=ns["ours_async_put_metric"],
    )
    floor = ns["dict_baseline"]
    return {
        "n_events": wl.n_events,
        "n_series": wl.n_series,
        "repeat": repeat,
        "ns_per_event": ns,
        "ratio_vs_dict": {k: v / floor for k, v in ns.items()},
        "hot_path": layers,
        "monitored_task": monitored,
        "monitored_calls": monitored_calls,
    }
