"""Memory: bytes held per series and per distinct value, and the workload's peak.

tracemalloc counts Python allocations made inside its window: the keys, dicts and floats a
core keeps (the workload's event list is built before the window opens, so it is not
counted). Per series: one value into each of ``n_series`` fresh series (key objects and
their dimension strings included). Per distinct value: many distinct values added to
series that already exist. Workload: each contender's factory and one run of the workload
inside the window; ``retained`` is what stays allocated, ``peak`` the high-water mark.
"""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

from ._record import Factory
from ._workload import METRIC, NAMESPACE, UNIT, Workload

T0 = 1_789_999_980.0


def _traced(fn: Any) -> tuple[int, int, Any]:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        kept = fn()
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return current - base, peak - base, kept


def per_series(n_series: int) -> float:
    """Bytes per series holding one value (MetricKey and its strings included)."""
    from cwmetrics_core import CoreConfig, MetricKey, MetricsCore

    core = MetricsCore(CoreConfig(max_buffered_datums=10**7, max_series_per_metric=None), now=T0)

    def fill() -> None:
        for i in range(n_series):
            key = MetricKey(NAMESPACE, METRIC, {"Op": f"op{i}", "Host": f"h{i % 97}"}, UNIT)
            core.record_value(key, 1.5, T0 + 1)

    held, _peak, _ = _traced(fill)
    return held / n_series


def per_distinct_value(n_series: int, values_per_series: int) -> float:
    """Bytes per additional distinct value kept (value float, count, dict slot)."""
    from cwmetrics_core import CoreConfig, MetricKey, MetricsCore

    core = MetricsCore(CoreConfig(max_buffered_datums=10**7, max_series_per_metric=None), now=T0)
    keys = [MetricKey(NAMESPACE, METRIC, {"Op": f"op{i}"}, UNIT) for i in range(n_series)]
    for key in keys:
        core.record_value(key, 0.5, T0 + 1)

    def fill() -> None:
        for j in range(values_per_series):
            for key in keys:
                core.record_value(key, 1.0 + j * 0.1, T0 + 1)

    held, _peak, _ = _traced(fill)
    return held / (n_series * values_per_series)


def workload_peak(wl: Workload, factories: dict[str, Factory]) -> dict[str, dict[str, int]]:
    """Retained and peak bytes of recording the workload, per contender."""
    out: dict[str, dict[str, int]] = {}
    for name, factory in factories.items():

        def go(factory: Factory = factory) -> Any:
            run = factory(wl)
            run()
            return run  # keep the state alive until measured

        held, peak, _ = _traced(go)
        out[name] = {"retained_bytes": held, "peak_bytes": peak}
    return out


def run_memory(wl: Workload, factories: dict[str, Factory], n_series: int) -> dict[str, Any]:
    """The memory section."""
    return {
        "bytes_per_series": per_series(n_series),
        "bytes_per_distinct_value": per_distinct_value(min(n_series, 1000), 200),
        "workload": workload_peak(wl, factories),
        "n_series_probe": n_series,
    }
