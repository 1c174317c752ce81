"""cloudwatch-metrics-client 0.0.6 (the original), measured in a subprocess.

0.0.6 has the same top-level package name as ours, so it is installed into
``benchmarks/.peer-0.0.6`` (``pip install --target ... --no-deps``) and imported only in a
child process that puts that directory first on ``sys.path``; the child checks that the
package it got is 0.0.6 from that directory. The parent calls :func:`run_peer006`; the
child runs this file as a script and prints one JSON line (or, for the record
section, serves one timing round per request: :class:`Peer006Session`).

0.0.6's API (read from its source): ``CloudWatchSyncMetrics.with_namespace(ns)
.with_reporter(CloudWatchSyncMetricReporter())``, ``put_metric(**metric_data)`` keeps every
distinct value with its count, ``put_statistic(name, dimensions, value, unit)`` appends the
value to a list per series (sent as a statistic set), ``reporter.flush()`` sends every
series as one datum
(all its values in one ``Values`` list) in requests of 20 datums through
``boto3.client('cloudwatch')``; the async twin uses an ``asyncio.Lock``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEER_DIR = HERE / ".peer-0.0.6"
PEER_REQUIREMENT = "cloudwatch-metrics-client==0.0.6"


def peer_version() -> str | None:
    """The version installed in :data:`PEER_DIR`, or None."""
    for meta in PEER_DIR.glob("cloudwatch_metrics_client-*.dist-info/METADATA"):
        for line in meta.read_text().splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    return None


def _child_env(env: dict[str, str] | None) -> dict[str, str]:
    child_env = dict(os.environ)
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        child_env.pop(name, None)
    child_env.update(env or {})
    child_env.pop("PYTHONPATH", None)
    return child_env


def run_peer006(
    section: str,
    params: dict[str, Any],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 3600.0,
) -> dict[str, Any]:
    """Run ``section`` ("wire" or "memory") in a child process; its result.

    Raises:
        RuntimeError: the child failed (its stderr tail is in the message).
    """
    proc = subprocess.run(
        [sys.executable, str(Path(__file__)), section, json.dumps(params)],
        capture_output=True,
        text=True,
        env=_child_env(env),
        cwd=str(REPO),
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"0.0.6 child ({section}) failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def start_peer006(section: str, params: dict[str, Any]) -> Any:
    """:func:`run_peer006` started now, collected later: a function that waits for the
    child and returns its result (it writes to temporary files, not pipes)."""
    from ._memory import start_child

    args = [str(Path(__file__)), section, json.dumps(params)]
    return start_child(args, f"0.0.6 {section}", env=_child_env(None))


class Peer006Session:
    """A child process holding 0.0.6 and the workload, timed one round at a time.

    The parent calls :meth:`round` after each of its own rounds, so 0.0.6 is timed in
    step with the in-process contenders (same machine load, ratios from one run).
    """

    def __init__(self, params: dict[str, Any]) -> None:
        self._stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed in close()
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__)), "serve", json.dumps(params)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=_child_env(None),
            cwd=str(REPO),
        )
        self.best: dict[str, float] = {}
        self.version = self._ask("hello")["version"]

    def _ask(self, command: str) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            self._stderr.seek(0)
            raise RuntimeError(f"0.0.6 child died: {self._stderr.read()[-2000:]}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def round(self) -> None:
        """Time each 0.0.6 contender once; keep the best."""
        for name, seconds in self._ask("round").items():
            self.best[name] = min(self.best.get(name, float("inf")), seconds)

    def monitored(self) -> dict[str, float]:
        """ns/call of 0.0.6's sync monitored_task wrapper vs the bare call."""
        return self._ask("monitored")

    def close(self) -> None:
        """Stop the child."""
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.write("quit\n")
            self._proc.stdin.close()
            self._proc.wait(30)
        self._stderr.close()


# ------------------------------------------------------------------ child side
def _import_peer() -> Any:
    import cloudwatch_metrics_client as peer
    from cloudwatch_metrics_client import cloudwatch

    location = Path(peer.__file__).resolve()
    if PEER_DIR.resolve() not in location.parents:
        raise RuntimeError(f"imported {location}, not 0.0.6 from {PEER_DIR}")
    return cloudwatch


def _record_factories() -> dict[str, Any]:
    import asyncio

    from benchmarks._record import dict_baseline
    from benchmarks._workload import METRIC, NAMESPACE, UNIT, Workload
    from cloudwatch_metrics_client.aiocloudwatch import (
        CloudWatchAsyncMetricReporter,
        CloudWatchAsyncMetrics,
    )

    cloudwatch = _import_peer()

    def sync_put(wl: Workload) -> Any:
        reporter = cloudwatch.CloudWatchSyncMetricReporter()
        put = (
            cloudwatch.CloudWatchSyncMetrics.with_namespace(NAMESPACE)
            .with_reporter(reporter)
            .put_metric
        )
        events = wl.events

        def run() -> None:
            for _s, dims, value in events:
                put(MetricName=METRIC, Unit=UNIT, Dimensions=dims, Value=value)

        return run

    def sync_put_statistic(wl: Workload) -> Any:
        reporter = cloudwatch.CloudWatchSyncMetricReporter()
        put = (
            cloudwatch.CloudWatchSyncMetrics.with_namespace(NAMESPACE)
            .with_reporter(reporter)
            .put_statistic
        )
        events = wl.events

        def run() -> None:
            for _s, dims, value in events:
                put(name=METRIC, dimensions=dims, value=value, unit=UNIT)

        return run

    def async_put(wl: Workload) -> Any:
        events = wl.events

        async def loop() -> float:
            reporter = CloudWatchAsyncMetricReporter()  # its asyncio.Lock binds to this loop
            put = (
                CloudWatchAsyncMetrics.with_namespace(NAMESPACE).with_reporter(reporter).put_metric
            )
            start = time.perf_counter()
            for _s, dims, value in events:
                await put(MetricName=METRIC, Unit=UNIT, Dimensions=dims, Value=value)
            return time.perf_counter() - start

        return lambda: asyncio.run(loop())

    return {
        "dict_baseline": dict_baseline,
        "peer006_sync_put_metric": sync_put,
        "peer006_async_put_metric": async_put,
        "peer006_sync_put_statistic": sync_put_statistic,
    }


def _child_serve(params: dict[str, Any]) -> None:
    from benchmarks._record import time_once
    from benchmarks._workload import make_workload

    wl = make_workload(params["n_events"], params["n_series"])
    factories = _record_factories()
    for line in sys.stdin:
        command = line.strip()
        if command == "hello":
            answer: dict[str, Any] = {"version": peer_version()}
        elif command == "round":
            answer = {name: time_once(factory, wl) for name, factory in factories.items()}
        elif command == "monitored":
            answer = _monitored(params["monitored_calls"], params["repeat"])
        else:
            return
        print(json.dumps(answer), flush=True)


def _monitored(n_calls: int, repeat: int) -> dict[str, float]:
    """0.0.6's sync monitored_task wrapper around a no-op vs the no-op itself."""
    cloudwatch = _import_peer()
    cloudwatch.CloudWatchSyncMetrics.with_reporter(cloudwatch.CloudWatchSyncMetricReporter())

    def plain() -> None:
        return None

    monitored = cloudwatch.CloudWatchSyncMetrics.monitored_task(plain)
    timings = {}
    for name, fn in (("sync_plain", plain), ("sync_monitored", monitored)):
        best_s = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(n_calls):
                fn()
            best_s = min(best_s, time.perf_counter() - start)
        timings[name] = best_s / n_calls * 1e9
    timings["sync_overhead"] = timings["sync_monitored"] - timings["sync_plain"]
    return timings


def _child_wire(params: dict[str, Any]) -> dict[str, Any]:
    from benchmarks._workload import METRIC, NAMESPACE, UNIT, make_workload

    cloudwatch = _import_peer()
    wl = make_workload(params["n_events"], params["n_series"])
    facade = cloudwatch.CloudWatchSyncMetrics
    reporter = cloudwatch.CloudWatchSyncMetricReporter()
    facade.with_namespace(NAMESPACE).with_reporter(reporter)
    facade.setup_client()
    endpoint = facade.client.meta.endpoint_url
    honoured = endpoint.rstrip("/") == params["url"].rstrip("/")
    if not honoured:  # an older boto3 ignoring AWS_ENDPOINT_URL_CLOUDWATCH: patch the client
        import boto3

        facade.client = boto3.client("cloudwatch", endpoint_url=params["url"])
    for _s, dims, value in wl.events:
        facade.put_metric(MetricName=METRIC, Unit=UNIT, Dimensions=dims, Value=value)
    error = None
    start = time.perf_counter()
    try:
        reporter.flush()
    except Exception as exc:  # noqa: BLE001 - the failure is the finding
        error = f"{type(exc).__name__}: {exc}"[:300]
    return {
        "elapsed_s": time.perf_counter() - start,
        "error": error,
        "endpoint_env_honoured": honoured,
        "client_endpoint": endpoint,
    }


def _child_memory(params: dict[str, Any]) -> dict[str, Any]:
    import tracemalloc

    from benchmarks._workload import make_workload

    wl = make_workload(params["n_events"], params["n_series"])
    factory = _record_factories()["peer006_sync_put_metric"]
    tracemalloc.start()
    run = factory(wl)
    run()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"retained_bytes": current, "peak_bytes": peak}


def _child(argv: list[str]) -> None:
    # The peer first, then the repo (for benchmarks._workload): never our package.
    sys.path[:] = [str(PEER_DIR), str(REPO)] + [p for p in sys.path[1:] if p != str(REPO)]
    section, params = argv[0], json.loads(argv[1])
    if section == "serve":
        _child_serve(params)
        return
    handlers = {"wire": _child_wire, "memory": _child_memory}
    result = handlers[section](params)
    result["version"] = peer_version()
    print(json.dumps(result))


if __name__ == "__main__":
    _child(sys.argv[1:])
