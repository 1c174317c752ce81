"""Memory: bytes held per series and per distinct value, and the workload's peak.

tracemalloc counts Python allocations made inside its window: the keys, dicts and floats a
core keeps (the workload's event list is built before the window opens, so it is not
counted). Per series: one value into each of ``n_series`` fresh series (key objects and
their dimension strings included). Per distinct value: many distinct values added to
series that already exist. Workload: each contender's factory and one run of the workload
inside the window; ``retained`` is what stays allocated, ``peak`` the high-water mark.

Through the public API (:func:`public_api_states`): a sync reporter whose transport's
``send`` blocks until released, so a request can be held in flight while tracemalloc
reads what the process holds: recorded and buffered, packed and in flight, acknowledged.
"""

from __future__ import annotations

import gc
import threading
import tracemalloc
from collections.abc import Callable
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


def public_api_states(n_series: int = 1000) -> dict[str, Any]:
    """Bytes per series/datum through the public API, in three states.

    ``n_series`` series (one value each, one request: at most 1000 datums) are recorded
    with ``Metrics.put_value`` into a ``CloudWatchSyncMetricReporter`` whose transport's
    ``send`` blocks until released. tracemalloc reads the traced total before recording
    (the reporter and its ``Metrics`` exist), after recording (buffered), while ``send``
    holds the packed request (in flight), and after the acknowledgement.

    Raises:
        RuntimeError: the request did not reach the transport within 60 s.
    """
    from cloudwatch_metrics_client import CloudWatchSyncMetricReporter, Metrics
    from cwmetrics_core import PutMetricDataRequest, SendOutcome
    from cwmetrics_transports import Transport

    class HeldTransport(Transport):
        """Holds each request in ``send`` until :attr:`release` is set."""

        def __init__(self) -> None:
            self.entered = threading.Event()
            self.release = threading.Event()
            self.datums = 0

        def send(self, request: PutMetricDataRequest) -> SendOutcome:
            self.datums += len(request)
            self.entered.set()
            self.release.wait(60)
            return SendOutcome(ok=True)

    transport = HeldTransport()
    reporter = CloudWatchSyncMetricReporter(
        report_interval=None, transport=transport, flush_on_exit=False, handle_sigterm=False
    )
    put = Metrics(NAMESPACE, reporter).put_value
    dims = [{"Op": f"op{i}", "Host": f"h{i % 97}"} for i in range(n_series)]
    flusher = threading.Thread(target=reporter.flush, kwargs={"timeout": 60}, daemon=True)
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for d in dims:
            put(METRIC, 1.5, unit=UNIT, dimensions=d)
        gc.collect()
        buffered = tracemalloc.get_traced_memory()[0]
        flusher.start()
        if not transport.entered.wait(60):
            raise RuntimeError("the request never reached the transport")
        gc.collect()
        in_flight = tracemalloc.get_traced_memory()[0]
        transport.release.set()
        flusher.join(60)
        gc.collect()
        acked = tracemalloc.get_traced_memory()[0]
    finally:
        transport.release.set()
        tracemalloc.stop()
        reporter.stop(10)
    n = transport.datums or n_series
    return {
        "n_series": n_series,
        "datums_in_flight": transport.datums,
        "buffered_per_series": (buffered - start) / n_series,
        "in_flight_per_datum": (in_flight - start) / n,
        "acked_per_series": (acked - start) / n_series,
        "request_per_datum": (in_flight - acked) / n,
    }


def workload_peak(wl: Workload, factories: dict[str, Factory]) -> dict[str, dict[str, int]]:
    """Retained and peak bytes of recording the workload, per contender. Each factory is
    built once before its window and dropped, so imports and module-level caches are
    not charged to whichever contender comes first (or runs in a fresh process)."""
    out: dict[str, dict[str, int]] = {}
    for name, factory in factories.items():
        factory(wl)

        def go(factory: Factory = factory) -> Any:
            run = factory(wl)
            run()
            return run  # keep the state alive until measured

        held, peak, _ = _traced(go)
        out[name] = {"retained_bytes": held, "peak_bytes": peak}
    return out


#: Peers whose workload run is slow under tracemalloc (Powertools about 50 s, the
#: OpenTelemetry SDK about 15 s of CPU): measured in a child process meanwhile.
IN_CHILD = ("powertools", "opentelemetry_sdk")


def start_child(args: list[str], what: str, env: dict[str, str] | None = None) -> Callable[[], Any]:
    """Start ``python <args>`` from the repository root; a function that waits for it and
    returns the JSON of its last stdout line. The child writes to temporary files, not
    pipes, so nothing is read (and allocated) here while it runs.

    Raises (from the returned function):
        RuntimeError: the child failed.
    """
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    out = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by finish()
    err = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by finish()
    proc = subprocess.Popen(
        [sys.executable, *args], stdout=out, stderr=err, text=True, cwd=str(repo), env=env
    )

    def finish() -> Any:
        try:
            code = proc.wait()
            out.seek(0)
            err.seek(0)
            lines = out.read().strip().splitlines()
            if code != 0 or not lines:
                raise RuntimeError(f"{what} failed: {err.read()[-2000:]}")
            return json.loads(lines[-1])
        finally:
            out.close()
            err.close()

    return finish


def run_memory(
    wl: Workload,
    factories: dict[str, Factory],
    n_series: int,
    beside: dict[str, Callable[[], Any]] | None = None,
) -> dict[str, Any]:
    """The memory section. The peers in :data:`IN_CHILD` are measured in child processes
    (one each) started first, while this one measures the rest (bytes do not depend on timing, so
    the two may share the machine); ``beside``: more started children (functions that
    wait for one and return its result), collected at the end under their names."""
    in_child = [name for name in IN_CHILD if name in factories]
    here = {k: v for k, v in factories.items() if k not in in_child}
    waiting = dict(beside or {})
    args = ["-m", "benchmarks._memory", str(wl.n_events), str(wl.n_series), str(wl.seed)]
    for name in in_child:  # one child each: with this process, they share the two cores
        waiting[f"_child_{name}"] = start_child([*args, name], f"memory child ({name})")
    out = {
        "public_api": public_api_states(),
        "bytes_per_series": per_series(n_series),
        "bytes_per_distinct_value": per_distinct_value(min(n_series, 1000), 200),
        "workload": workload_peak(wl, here),
        "n_series_probe": n_series,
        "measured_in_child": in_child,
    }
    done = {name: finish() for name, finish in waiting.items()}
    for name in in_child:
        out["workload"].update(done.pop(f"_child_{name}"))
    out.update(done)
    return out


def _main(argv: list[str]) -> None:
    import json

    from ._peers import PEERS
    from ._record import OURS
    from ._workload import make_workload

    n_events, n_series, seed, *names = argv
    wl = make_workload(int(n_events), int(n_series), int(seed))
    factories = {**OURS, **PEERS}
    print(json.dumps(workload_peak(wl, {name: factories[name] for name in names})))


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
