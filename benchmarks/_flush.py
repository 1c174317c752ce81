"""Flush of many series from an asyncio reporter: wall time and worst event-loop stall.

One value is recorded into each of ``n_series`` series (untimed), then a ticker task
(``await asyncio.sleep(0.001)`` in a loop, measuring how late each wake-up is) runs while
``await reporter.flush()`` sends everything. The worst lag is the longest time the loop
was blocked. Measured with ``HttpxTransport`` to the local endpoint (its own process) and
with ``DryRunTransport`` (no I/O at all). ``httpx`` is a warm transport (one small flush
before, so its client and TLS context exist); ``httpx_cold`` is a reporter's first flush.
Each run reports its own worst stall; the headline is the median run, every run's figure
is kept. Each cold run is a fresh interpreter of its own (its first send imports what a
real first send imports). A stall is measured on the wall clock and, beside it, as the
event-loop thread's own CPU time during that late tick (``time.thread_time``): on a
shared machine the rest of a wall stall is the OS running other processes.
When the worst stall misses the target, the same flush is run again under cProfile, and
once more with every event-loop callback timed (wall and CPU) to say what ran inside the
worst stalls. The synchronous work per batch is timed piece by piece (pack+encode whole,
the reporter's prepare() slices and the next_batch() that finishes them, gzip, signing)
to say where the time goes. Every garbage collection during the flush is timed too.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import os
import random
import time
from collections.abc import Callable
from typing import Any

from ._endpoint import Endpoint
from ._record import top_functions
from ._workload import NAMESPACE, UNIT

TARGET_STALL_MS = 10.0
#: MetricsCore.prepare's budget per slice, as the asyncio reporter uses it.
SLICE_BUDGET = 50
REGION = "us-east-1"


def _record_series(reporter: Any, n_series: int, name: str = "Flush") -> None:
    from cloudwatch_metrics_client import Metrics

    put = Metrics(NAMESPACE, reporter).put_value  # one value per series: any period will do
    rng = random.Random(7)
    for i in range(n_series):
        put(name, round(rng.lognormvariate(3.0, 0.6), 1), unit=UNIT, dimensions={"S": f"s{i}"})


class _GcPauses:
    """Collects the duration of every garbage collection while installed."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._start))

    def __enter__(self) -> _GcPauses:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


async def _flush_with_ticker(
    reporter: Any,
    n_series: int,
    warm: bool,
    profile: Callable[[bool], None] | None = None,
    no_gc: bool = False,
) -> dict[str, Any]:
    if warm:  # the transport's client, pool and TLS context exist before the measured flush
        _record_series(reporter, 1, "Warmup")
        await reporter.flush(timeout=60)
    _record_series(reporter, n_series)
    tracked = len(gc.get_objects())  # the heap a full collection has to walk
    lags: list[float] = []
    #: Per tick: the loop thread's CPU time during the late part at most (a stall's own work).
    cpu_lags: list[float] = []
    done = False

    async def ticker() -> None:
        while not done:
            start, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.001)
            lag = time.perf_counter() - start - 0.001
            lags.append(lag)
            cpu_lags.append(min(lag, time.thread_time() - cpu))

    task = asyncio.get_running_loop().create_task(ticker())
    await asyncio.sleep(0.05)
    lags.clear()
    cpu_lags.clear()
    load = os.getloadavg()[0]
    before = reporter.stats
    with _GcPauses() as gcs:
        if no_gc:
            gc.disable()
        if profile is not None:
            profile(True)
        start = time.perf_counter()
        delivered = await reporter.flush(timeout=900)
        wall = time.perf_counter() - start
        if profile is not None:
            profile(False)
        await asyncio.sleep(0.005)  # let the ticker report the lag that ended with the flush
        done = True
        await task
        gc.enable()  # only now: a collection it triggers is not the flush's stall
    stats = reporter.stats
    await reporter.stop()
    lags.sort()
    return {
        "delivered": delivered,
        "wall_s": wall,
        "load_average_1min": load,
        "worst_stall_ms": lags[-1] * 1e3 if lags else wall * 1e3,
        "worst_stall_cpu_ms": max(cpu_lags, default=wall) * 1e3,
        "p99_stall_ms": lags[int(len(lags) * 0.99)] * 1e3 if lags else wall * 1e3,
        "ticks": len(lags),
        "requests": stats.requests - before.requests,
        "datums_sent": stats.core.datums_sent - before.core.datums_sent,
        "gc_worst_pause_ms": max((p for _, p in gcs.pauses), default=0.0) * 1e3,
        "gc_gen2_collections": sum(1 for g, _ in gcs.pauses if g == 2),
        "gc_tracked_objects": tracked,
    }


def _transport(kind: str, endpoint: Endpoint | None) -> Any:
    from cwmetrics_transports import DryRunTransport, HttpxTransport, StaticSigner

    if kind == "dryrun":
        return DryRunTransport(keep=0)
    assert endpoint is not None
    return HttpxTransport(
        region=REGION, endpoint_url=endpoint.url, signer=StaticSigner("testing", "testing")
    )


def _new_reporter(kind: str, endpoint: Endpoint | None) -> Any:
    from cloudwatch_metrics_client import CloudWatchAsyncMetricReporter
    from cwmetrics_core import CoreConfig

    # Up to 100 000 series of one metric: the cardinality guard (1000 by default) is off.
    config = CoreConfig(max_buffered_datums=10**7, max_series_per_metric=None)
    return CloudWatchAsyncMetricReporter(
        transport=_transport(kind.partition("_")[0], endpoint), config=config
    )


def flush_once(n_series: int, kind: str, endpoint: Endpoint | None) -> dict[str, Any]:
    """One measured flush; ``kind``: ``"httpx"`` (warm transport), ``"httpx_cold"`` (the
    transport's first send happens inside the measured flush), ``"httpx_nogc"`` (warm, the
    garbage collector disabled during the flush: a diagnostic) or ``"dryrun"``."""
    if endpoint is not None:
        endpoint.reset()
    reporter = _new_reporter(kind, endpoint)
    warm = kind in ("httpx", "httpx_nogc")
    result = asyncio.run(
        _flush_with_ticker(reporter, n_series, warm=warm, no_gc=kind == "httpx_nogc")
    )
    if endpoint is not None and kind.startswith("httpx"):
        stats = endpoint.stats()
        result["server_datums_accepted"] = stats.datums_accepted
        result["server_rejected"] = dict(stats.put_rejected)
        endpoint.reset()
    return result


def profile_flush(n_series: int, kind: str, endpoint: Endpoint | None) -> list[dict[str, Any]]:
    """cProfile of one flush (event-loop thread only): top functions by own time."""
    import cProfile
    import pstats

    if endpoint is not None:
        endpoint.reset()
    reporter = _new_reporter(kind, endpoint)
    profiler = cProfile.Profile()

    def switch(on: bool) -> None:
        if on:
            profiler.enable()
        else:
            profiler.disable()

    asyncio.run(_flush_with_ticker(reporter, n_series, kind == "httpx", switch))
    if endpoint is not None:
        endpoint.reset()
    return top_functions(pstats.Stats(profiler), 15, exclude_idle=True)


#: The synchronous steps of a send timed by :func:`explain_flush`: (module, owner, name, label).
_STEPS = (
    ("cwmetrics_core._core", "MetricsCore", "prepare", "core.prepare (pack slice)"),
    ("cwmetrics_core._core", "MetricsCore", "next_batch", "core.next_batch (finish)"),
    ("cwmetrics_core._core", "MetricsCore", "ack", "core.ack"),
    ("cwmetrics_transports._httpx", None, "_gzip", "gzip"),
    ("cwmetrics_transports._httpx", "HttpxTransport", "_build", "httpx build_request"),
    ("cwmetrics_transports._httpx", "HttpxTransport", "_finish", "response parsing"),
    ("cwmetrics_transports._signers", "_CredentialsSigner", "_sign_with", "SigV4 signing"),
    ("h11", "Connection", "send", "h11 send"),
    ("h11", "Connection", "next_event", "h11 next_event"),
)


class _Timeline:
    """Times every event-loop callback (wall and thread CPU), the steps in :data:`_STEPS`
    and every garbage collection, while installed."""

    def __init__(self) -> None:
        self.callbacks: list[tuple[float, float, float, str]] = []
        self.steps: list[tuple[float, float, str]] = []
        self.gcs: list[tuple[float, float, float, int]] = []
        self._undo: list[Callable[[], None]] = []
        self._gc_start = (0.0, 0.0)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = (time.perf_counter(), time.thread_time())
        else:
            start, cpu = self._gc_start
            end = time.perf_counter()
            self.gcs.append((start, end, time.thread_time() - cpu, info["generation"]))

    def _wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        steps = self.steps

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                steps.append((start, time.perf_counter(), label))

        setattr(owner, name, timed)
        self._undo.append(lambda: setattr(owner, name, original))

    def __enter__(self) -> _Timeline:
        import importlib

        for module, owner, name, label in _STEPS:
            mod = importlib.import_module(module)
            self._wrap(getattr(mod, owner) if owner else mod, name, label)
        handle = asyncio.events.Handle
        run = handle._run  # type: ignore[attr-defined]
        callbacks = self.callbacks

        def timed_run(h: Any) -> None:
            start, cpu = time.perf_counter(), time.thread_time()
            run(h)
            end = time.perf_counter()
            if end - start > 0.0002:
                owner = getattr(h._callback, "__self__", None)
                if isinstance(owner, asyncio.Task):
                    coro = owner.get_coro()
                    label = "task " + getattr(coro, "__qualname__", owner.get_name())
                else:
                    label = getattr(h._callback, "__qualname__", type(h._callback).__name__)
                callbacks.append((start, end, time.thread_time() - cpu, label))

        handle._run = timed_run  # type: ignore[attr-defined]
        self._undo.append(lambda: setattr(handle, "_run", run))
        gc.callbacks.append(self._gc)
        self._undo.append(lambda: gc.callbacks.remove(self._gc))
        return self

    def __exit__(self, *exc: object) -> None:
        while self._undo:
            self._undo.pop()()

    def clear(self) -> None:
        self.callbacks.clear()
        self.steps.clear()
        self.gcs.clear()

    def inside(self, start: float, end: float) -> dict[str, Any]:
        """What ran between ``start`` and ``end``: callbacks, steps, collections."""

        def ms(a: float, b: float) -> float:
            return round((min(b, end) - max(a, start)) * 1e3, 2)

        steps: dict[str, float] = {}
        for a, b, label in self.steps:
            if b > start and a < end:
                steps[label] = round(steps.get(label, 0.0) + ms(a, b), 2)
        return {
            "callbacks": [
                {"callback": label, "wall_ms": ms(a, b), "cpu_ms": round(cpu * 1e3, 2)}
                for a, b, cpu, label in self.callbacks
                if b > start and a < end
            ],
            "steps_ms": steps,
            "gc": [
                {"generation": g, "wall_ms": ms(a, b), "cpu_ms": round(cpu * 1e3, 2)}
                for a, b, cpu, g in self.gcs
                if b > start and a < end
            ],
        }


def explain_flush(
    n_series: int, kind: str, endpoint: Endpoint | None, top: int = 5
) -> dict[str, Any]:
    """One more flush with every event-loop callback timed: what ran inside the ``top``
    worst stalls, the callbacks that took the most CPU, and per-step totals."""
    if endpoint is not None:
        endpoint.reset()
    reporter = _new_reporter(kind, endpoint)
    ticks: list[tuple[float, float, float]] = []  # (start, end, loop-thread CPU)

    async def run() -> None:
        if kind == "httpx":
            _record_series(reporter, 1, "Warmup")
            await reporter.flush(timeout=60)
        _record_series(reporter, n_series)
        done = False

        async def ticker() -> None:
            while not done:
                start, cpu = time.perf_counter(), time.thread_time()
                await asyncio.sleep(0.001)
                ticks.append((start, time.perf_counter(), time.thread_time() - cpu))

        task = asyncio.get_running_loop().create_task(ticker(), name="ticker")
        await asyncio.sleep(0.05)
        ticks.clear()
        timeline.clear()
        await reporter.flush(timeout=900)
        await asyncio.sleep(0.005)
        done = True
        await task
        window.append(time.perf_counter())
        await reporter.stop()

    window: list[float] = []
    with _Timeline() as timeline:
        asyncio.run(run())
    if endpoint is not None:
        endpoint.reset()
    worst = sorted(ticks, key=lambda t: t[0] - t[1])[:top]
    stalls = [
        {
            "stall_ms": round((end - start - 0.001) * 1e3, 2),
            "loop_cpu_ms": round(cpu * 1e3, 2),
            **timeline.inside(start, end),
        }
        for start, end, cpu in worst
    ]
    flushing = [c for c in timeline.callbacks if c[1] <= window[0]]  # not stop()'s
    by_cpu = sorted(flushing, key=lambda c: -c[2])[:8]
    heaviest = [
        {"cpu_ms": round(cpu * 1e3, 2), "wall_ms": round((b - a) * 1e3, 2), "callback": label,
         "steps_ms": timeline.inside(a, b)["steps_ms"]}
        for a, b, cpu, label in by_cpu
    ]  # fmt: skip
    totals: dict[str, list[float]] = {}
    for a, b, label in timeline.steps:
        entry = totals.setdefault(label, [0, 0.0, 0.0])
        entry[0] += 1
        entry[1] += b - a
        entry[2] = max(entry[2], b - a)
    steps = {
        label: {"n": int(n), "mean_ms": round(t / n * 1e3, 3), "max_ms": round(m * 1e3, 2)}
        for label, (n, t, m) in totals.items()
    }
    gcs = {
        g: {
            "n": sum(1 for x in timeline.gcs if x[3] == g),
            "max_cpu_ms": round(max((x[2] for x in timeline.gcs if x[3] == g), default=0) * 1e3, 2),
        }
        for g in (0, 1, 2)
    }
    return {"worst_stalls": stalls, "heaviest_callbacks": heaviest, "steps": steps, "gc": gcs}


def batch_pieces(n_series: int) -> dict[str, float]:
    """Milliseconds of the synchronous work per 1000-datum batch, piece by piece."""
    from cwmetrics_core import CoreConfig, MetricKey, MetricsCore
    from cwmetrics_transports import StaticSigner
    from cwmetrics_transports._signers import amz_date_from_epoch

    now = time.time()

    def filled() -> MetricsCore:
        config = CoreConfig(max_buffered_datums=10**7, max_series_per_metric=None)
        core = MetricsCore(config, now=now)
        rng = random.Random(7)
        for i in range(n_series):
            key = MetricKey(NAMESPACE, "Flush", {"S": f"s{i}"}, UNIT)
            core.record_value(key, round(rng.lognormvariate(3.0, 0.6), 1), now)
        return core

    # What the asyncio reporter does: prepare() slices (the loop runs between them),
    # then next_batch() finishes the request.
    core = filled()
    core.flush(now)
    slices: list[float] = []
    finishes: list[float] = []
    while True:
        while True:
            start = time.perf_counter()
            more = core.prepare(now, SLICE_BUDGET)
            slices.append(time.perf_counter() - start)
            if not more:
                break
        start = time.perf_counter()
        batch = core.next_batch(now)
        finishes.append(time.perf_counter() - start)
        if batch is None:
            break
        core.ack(batch, now)
    finishes.pop()
    del core
    core = filled()
    start = time.perf_counter()
    core.flush(now)
    seal_ms = (time.perf_counter() - start) * 1e3
    packs: list[float] = []
    bodies: list[bytes] = []
    while True:
        start = time.perf_counter()
        batch = core.next_batch(now)
        packs.append(time.perf_counter() - start)
        if batch is None:
            break
        bodies.append(batch.request.body)
        core.ack(batch, now)
    packs.pop()  # the final None
    gzips = []
    compressed = []
    for body in bodies[:10]:
        start = time.perf_counter()
        compressed.append(gzip.compress(body, compresslevel=1, mtime=0))
        gzips.append(time.perf_counter() - start)
    signer = StaticSigner("testing", "testing")
    headers = {"Host": "127.0.0.1", "Content-Type": "application/x-amz-json-1.0"}
    signs = []
    for body in compressed:
        start = time.perf_counter()
        signer.sign(
            "POST",
            "http://127.0.0.1/",
            headers,
            body,
            region=REGION,
            service="monitoring",
            amz_date=amz_date_from_epoch(time.time()),
        )
        signs.append(time.perf_counter() - start)
    return {
        "batches": len(bodies),
        "body_bytes_mean": sum(map(len, bodies)) / max(len(bodies), 1),
        "seal_ms": seal_ms,
        "pack_encode_ms_mean": sum(packs) / max(len(packs), 1) * 1e3,
        "pack_encode_ms_max": max(packs, default=0.0) * 1e3,
        "slice_budget": SLICE_BUDGET,
        "prepare_slice_ms_mean": sum(slices) / max(len(slices), 1) * 1e3,
        "prepare_slice_ms_max": max(slices, default=0.0) * 1e3,
        "finish_ms_mean": sum(finishes) / max(len(finishes), 1) * 1e3,
        "finish_ms_max": max(finishes, default=0.0) * 1e3,
        "gzip_ms_mean": sum(gzips) / max(len(gzips), 1) * 1e3,
        "sign_ms_mean": sum(signs) / max(len(signs), 1) * 1e3,
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run (by worst stall) with every run's worst stall beside it."""
    ranked = sorted(runs, key=lambda r: r["worst_stall_ms"])
    out = dict(ranked[(len(ranked) - 1) // 2])
    out["all_worst_stall_ms"] = [r["worst_stall_ms"] for r in runs]
    out["all_worst_stall_cpu_ms"] = [r["worst_stall_cpu_ms"] for r in runs]
    out["all_wall_s"] = [r["wall_s"] for r in runs]
    out["all_load_average_1min"] = [r["load_average_1min"] for r in runs]
    out["runs"] = len(runs)
    return out


def run_flush(
    n_series: int, endpoint: Endpoint | None, repeat: int, kinds: list[str] | None = None
) -> dict[str, Any]:
    """The flush section in this process: ``repeat`` runs per transport kind (the median
    run is the headline), then a profile and a timed-callback run of any miss."""
    out: dict[str, Any] = {"n_series": n_series, "target_stall_ms": TARGET_STALL_MS}
    if kinds is None:
        kinds = ["dryrun"] + (["httpx", "httpx_cold", "httpx_nogc"] if endpoint is not None else [])
    for kind in kinds:
        out[kind] = _summary([flush_once(n_series, kind, endpoint) for _ in range(repeat)])
    if "dryrun" in kinds:
        out["batch_pieces"] = batch_pieces(n_series)
    for kind in kinds:
        if kind != "httpx_nogc" and out[kind]["worst_stall_ms"] >= TARGET_STALL_MS:
            out[f"profile_{kind}"] = profile_flush(n_series, kind, endpoint)
            out[f"explain_{kind}"] = explain_flush(n_series, kind, endpoint)
    return out


def _child(args: list[str]) -> dict[str, Any]:
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks._flush", *args],
        capture_output=True,
        text=True,
        cwd=str(repo),
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"flush child failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_flush_isolated(n_series: int, repeat: int, *, with_endpoint: bool = True) -> dict[str, Any]:
    """:func:`run_flush` in fresh interpreters, each with its own endpoint process.

    A full garbage collection walks the whole heap, so the stall depends on what else the
    process holds: in a fresh process the heap is the library's own series, and the
    parent's heap is left unfragmented for the record timings. Every cold run
    (``httpx_cold``) is an interpreter of its own, so its first send is a process's first.

    Raises:
        RuntimeError: a child failed.
    """
    endpoint = "1" if with_endpoint else "0"
    warm = ["dryrun"] + (["httpx", "httpx_nogc"] if with_endpoint else [])
    result = _child([str(n_series), str(repeat), endpoint, ",".join(warm)])
    if with_endpoint:
        colds = [_child([str(n_series), "1", endpoint, "httpx_cold"]) for _ in range(repeat)]
        result["httpx_cold"] = _summary([c["httpx_cold"] for c in colds])
        for key in ("profile_httpx_cold", "explain_httpx_cold"):
            found = [c[key] for c in colds if key in c]
            if found:
                result[key] = found[-1]
    return result


def _main(argv: list[str]) -> None:
    import json

    n_series, repeat, with_endpoint = int(argv[0]), int(argv[1]), argv[2] == "1"
    kinds = argv[3].split(",") if len(argv) > 3 else None
    if with_endpoint:
        with Endpoint(store_samples=False) as endpoint:  # moto validates, keeps nothing
            result = run_flush(n_series, endpoint, repeat, kinds)
    else:
        result = run_flush(n_series, None, repeat, kinds)
    print(json.dumps(result))


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
