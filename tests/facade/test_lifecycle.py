"""Process lifecycle of the reporters, in real subprocesses against the local CloudWatch:
SIGTERM, exit without run()/flush(), report_interval=None, and overflow warnings."""

from __future__ import annotations

import asyncio
import logging
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cloudwatch_metrics_client import (
    CloudWatchAsyncMetricReporter,
    CloudWatchSyncMetricReporter,
    Metrics,
)
from cwmetrics_transports import DryRunTransport
from cwmetrics_transports.testing import LocalCloudWatch

REPO = Path(__file__).resolve().parents[2]
N = 250


def _env(server: LocalCloudWatch) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(server.env())
    env["PYTHONPATH"] = str(REPO)
    return env


def _stored(server: LocalCloudWatch, namespace: str, name: str) -> float:
    stored = [s for k, s in server.series().items() if k[0] == namespace and k[1] == name]
    return sum(s.sample_count for s in stored)


def _start(server: LocalCloudWatch, script: str) -> subprocess.Popen[str]:
    """Start ``script`` and wait (at most 60 s) until it prints READY."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)], env=_env(server), cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60.0)
    line = proc.stdout.readline() if ready else ""
    if line.strip() != "READY":
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"the child never got ready: {line!r} {err}")
    return proc


def _terminate(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)
        raise
    return proc.returncode, err


SYNC_SCRIPT = """
    import signal, sys, time
    from cloudwatch_metrics_client import CloudWatchSyncMetricReporter, Metrics
    if "own" in sys.argv:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(3))
    reporter = CloudWatchSyncMetricReporter(
        report_interval=3600, handle_sigterm="opt-out" not in sys.argv)
    metrics = Metrics("Life/Sigterm", reporter)
    reporter.run()
    for i in range(N_SAMPLES):
        metrics.put_value("Samples", i % 7)
    print("HANDLER", signal.getsignal(signal.SIGTERM), file=sys.stderr, flush=True)
    print("READY", flush=True)
    time.sleep(60)
""".replace("N_SAMPLES", str(N))

ASYNC_SCRIPT = """
    import asyncio, signal, sys
    from cloudwatch_metrics_client import CloudWatchAsyncMetricReporter, Metrics

    async def main():
        if "own" in sys.argv:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, sys.exit, 3)
        reporter = CloudWatchAsyncMetricReporter(
            report_interval=3600, handle_sigterm="opt-out" not in sys.argv)
        metrics = Metrics("Life/Sigterm", reporter)
        await reporter.run()
        for i in range(N_SAMPLES):
            metrics.put_value("Samples", i % 7)
        print("READY", flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
""".replace("N_SAMPLES", str(N))


@pytest.mark.parametrize("script", [SYNC_SCRIPT, ASYNC_SCRIPT], ids=["sync", "async"])
def test_sigterm_delivers_then_dies_of_sigterm(
    local_cloudwatch: LocalCloudWatch, script: str
) -> None:
    proc = _start(local_cloudwatch, script)
    status, err = _terminate(proc)
    assert status == -signal.SIGTERM, err
    assert _stored(local_cloudwatch, "Life/Sigterm", "Samples") == N, err


@pytest.mark.parametrize("script", [SYNC_SCRIPT, ASYNC_SCRIPT], ids=["sync", "async"])
def test_sigterm_opt_out_keeps_the_default_action(
    local_cloudwatch: LocalCloudWatch, script: str
) -> None:
    proc = _start(local_cloudwatch, script.replace("sys.argv", "['opt-out']"))
    status, err = _terminate(proc)
    assert status == -signal.SIGTERM, err
    assert _stored(local_cloudwatch, "Life/Sigterm", "Samples") == 0  # as before: lost


def test_sigterm_handler_of_the_app_is_kept(local_cloudwatch: LocalCloudWatch) -> None:
    """The application's handler stays installed (ours is not); its graceful exit runs
    the exit hook, which delivers."""
    proc = _start(local_cloudwatch, SYNC_SCRIPT.replace("sys.argv", "['own']"))
    status, err = _terminate(proc)
    assert status == 3, err
    assert "HANDLER <function <lambda>" in err, err
    assert _stored(local_cloudwatch, "Life/Sigterm", "Samples") == N, err


def test_async_sigterm_handler_of_the_app_is_kept(local_cloudwatch: LocalCloudWatch) -> None:
    proc = _start(local_cloudwatch, ASYNC_SCRIPT.replace("sys.argv", "['own']"))
    status, err = _terminate(proc)
    assert status == 3, err  # the app's own loop handler ran, not ours


def test_exit_delivers_without_run_or_flush(local_cloudwatch: LocalCloudWatch) -> None:
    """The default transport (boto3, endpoint from AWS_ENDPOINT_URL_CLOUDWATCH) is built
    by the exit hook: it used to fail with "can't register atexit after shutdown"."""
    script = f"""
        from cloudwatch_metrics_client import CloudWatchSyncMetricReporter, Metrics
        reporter = CloudWatchSyncMetricReporter(report_interval=60)
        metrics = Metrics("Life/Exit", reporter)
        for i in range({N}):
            metrics.put_value("Samples", i % 7)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], env=_env(local_cloudwatch),
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "undelivered" not in done.stderr and "RuntimeError" not in done.stderr, done.stderr
    assert _stored(local_cloudwatch, "Life/Exit", "Samples") == N


# ----------------------------------------------------------------- report_interval=None


def _wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_sync_report_interval_none_sends_on_demand_only() -> None:
    transport = DryRunTransport()
    reporter = CloudWatchSyncMetricReporter(None, transport=transport, flush_on_exit=False)
    assert reporter.report_interval is None
    metrics = Metrics("Life/OnDemand", reporter)
    reporter.run()
    try:
        metrics.put_value("v", 1.0)
        # A periodic reporter (report_interval=0.05) would have sent twice by now.
        time.sleep(0.3)
        assert not transport.requests and reporter.stats.buffered == 1
        assert reporter.flush(5) and len(transport.requests) == 1
        metrics.put_value("v", 2.0)
    finally:
        assert reporter.stop(5)
    assert len(transport.requests) == 2 and reporter.stats.sent == 2


def test_async_report_interval_none_sends_on_demand_only() -> None:
    async def main() -> tuple[CloudWatchAsyncMetricReporter, DryRunTransport]:
        transport = DryRunTransport()
        reporter = CloudWatchAsyncMetricReporter(None, transport=transport)
        metrics = Metrics("Life/OnDemand", reporter)
        await reporter.run()
        metrics.put_value("v", 1.0)
        await asyncio.sleep(0.3)
        assert not transport.requests and reporter.stats.buffered == 1
        assert await reporter.flush(5) and len(transport.requests) == 1
        metrics.put_value("v", 2.0)
        assert await reporter.stop(5)
        return reporter, transport

    reporter, transport = asyncio.run(main())
    assert len(transport.requests) == 2 and reporter.stats.sent == 2
    assert "on demand" in repr(reporter)


# ----------------------------------------------------------------- overflow warning


def _overflow_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "max_buffered_datums=2" in r.getMessage()]


def test_sync_overflow_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "cloudwatch_metrics_client")
    transport = DryRunTransport()
    reporter = CloudWatchSyncMetricReporter(
        0.05, transport=transport, max_buffered_datums=2, flush_on_exit=False
    )
    metrics = Metrics("Life/Overflow", reporter)
    for i in range(5):
        metrics.put_value(f"m{i}", 1.0)
    assert reporter.stats.core.dropped_overflow == 3
    reporter.run()  # the background loop notices
    try:
        _wait_until(lambda: _overflow_records(caplog))
    finally:
        reporter.stop(5)
    (message,) = _overflow_records(caplog)
    assert "dropped 3 new sample(s)" in message
    assert reporter.stats.recorded == reporter.stats.sent + reporter.stats.dropped


def test_async_overflow_is_logged_by_flush(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "cloudwatch_metrics_client")

    async def main() -> None:
        reporter = CloudWatchAsyncMetricReporter(transport=DryRunTransport(), max_buffered_datums=2)
        metrics = Metrics("Life/Overflow", reporter)
        for i in range(5):
            metrics.put_value(f"m{i}", 1.0)
        assert await reporter.flush(5)
        await reporter.stop(5)

    asyncio.run(main())
    (message,) = _overflow_records(caplog)
    assert "dropped 3 new sample(s)" in message
