"""Load and concurrency held, through real sockets to the strict local CloudWatch.

The figures these tests measure (events/s, peak memory, requests) are printed in the
``reliability figures`` section of the pytest summary and quoted in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cloudwatch_metrics_client import (
    CloudWatchAsyncMetricReporter,
    CloudWatchAsyncMetrics,
    CloudWatchSyncMetricReporter,
    Metrics,
)
from cwmetrics_transports.testing import LocalCloudWatch

from .conftest import (
    StubEndpoint,
    assert_accounted,
    fast_config,
    make_transport,
    stored_samples,
    wait_idle,
)

REPO = Path(__file__).resolve().parents[2]
Figures = Callable[[str, object], None]

THREADS = 16
EVENTS_PER_THREAD = 100_000


@pytest.mark.time_limit(150)
def test_sixteen_threads_recording_while_sending_keep_exact_totals(
    local_cloudwatch: LocalCloudWatch, figures: Figures
) -> None:
    """16 threads record 100 000 events each (1.6 M) while the reporter keeps sending
    (every 50 ms, boto3 transport): the endpoint stores exactly 1.6 M samples, with the
    exact SampleCount and Sum for each thread's series; nothing is dropped or lost to a
    race between recording threads and the sending thread."""
    cw = local_cloudwatch
    ns = "Rel/Threads"
    transport = make_transport("boto3", cw, timeout=60.0)  # total per send: GIL-starved here
    reporter = CloudWatchSyncMetricReporter(
        0.05, transport=transport, config=fast_config(), flush_on_exit=False
    )
    metrics = Metrics(ns, reporter)
    reporter.run()
    barrier = threading.Barrier(THREADS + 1)

    def work(thread: int) -> None:
        dims = {"Thread": str(thread)}
        put = metrics.put_value
        barrier.wait()
        for k in range(EVENTS_PER_THREAD):
            put("Events", k % 50, unit="Count", dimensions=dims)
            if k % 10_000 == 9_999:
                time.sleep(0.001)  # as real work would: lets the sending thread get the GIL

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(120)
        assert not thread.is_alive()
    recording = time.perf_counter() - started
    # Batches handed out (sent, failed or still on the wire) while the threads recorded.
    # The endpoint runs in this process and shares the GIL with 16 busy threads, so its
    # answers, not the reporter, limit how many requests complete meanwhile.
    during = reporter.stats.core
    batches_while_recording = during.requests_sent + during.send_failures
    batches_while_recording += during.in_flight_batches
    assert reporter.flush(60)
    total = time.perf_counter() - started
    stats = reporter.stats
    reporter.stop(5)
    transport.close()
    wait_idle(cw)

    expected_sum = (EVENTS_PER_THREAD // 50) * sum(range(50))
    series = {k: s for k, s in cw.series().items() if k[0] == ns}
    assert len(series) == THREADS
    for key, stored in series.items():
        assert (stored.sample_count, stored.sum) == (EVENTS_PER_THREAD, expected_sum), key
    assert stored_samples(cw, ns) == THREADS * EVENTS_PER_THREAD
    assert_accounted(cw, stats, THREADS * EVENTS_PER_THREAD, ns)
    assert stats.dropped == 0
    assert batches_while_recording >= 1, "the reporter did not send while threads recorded"
    figures("events", THREADS * EVENTS_PER_THREAD)
    figures("recording_s", round(recording, 2))
    figures("recorded_events_per_s", round(THREADS * EVENTS_PER_THREAD / recording))
    figures("delivered_s", round(total, 2))
    figures("requests", stats.requests)
    figures("batches_while_recording", batches_while_recording)


TASKS = 10_000


@pytest.mark.time_limit(90)
def test_ten_thousand_tasks_never_see_each_others_monitored_dimensions(
    local_cloudwatch: LocalCloudWatch, figures: Figures
) -> None:
    """10 000 concurrent asyncio tasks, each a ``@monitored_task`` call that sets
    ``Task=i``, awaits (so the tasks interleave), then sets ``Echo=i``: every stored
    series has ``Task == Echo`` (no cross-talk between tasks), each of the 10 000 calls
    is stored exactly once, and nothing leaks outside the calls."""
    cw = local_cloudwatch
    ns = "Rel/Tasks"
    transport = make_transport("httpx", cw, timeout=60.0)  # total per send: GIL-starved here

    async def main() -> float:
        # 10 000 dimension sets of one metric are the point: no cardinality guard folding.
        config = fast_config(max_series_per_metric=None)
        reporter = CloudWatchAsyncMetricReporter(0.05, transport=transport, config=config)
        CloudWatchAsyncMetrics.with_namespace(ns).with_reporter(reporter)
        await reporter.run()

        @CloudWatchAsyncMetrics.monitored_task(metric_name="Handle")
        async def handle(i: int) -> None:
            CloudWatchAsyncMetrics.with_monitored_dimension("Task", str(i))
            await asyncio.sleep((i * 7919 % 10) / 1000)  # shuffle the interleaving
            CloudWatchAsyncMetrics.with_monitored_dimension("Echo", str(i))
            await asyncio.sleep(0)

        started = time.perf_counter()
        await asyncio.gather(*(handle(i) for i in range(TASKS)))
        elapsed = time.perf_counter() - started
        assert await reporter.flush(20)
        await reporter.stop()
        await transport.aclose()
        stats = reporter.stats
        assert stats.recorded == TASKS and stats.dropped == 0
        return elapsed

    elapsed = asyncio.run(asyncio.wait_for(main(), 60))
    wait_idle(cw)
    series = {k: s for k, s in cw.series().items() if k[0] == ns}
    assert len(series) == TASKS
    tasks = set()
    for (_, name, dims), stored in series.items():
        assert name == "Handle" and stored.sample_count == 1
        as_dict = dict(dims)
        assert set(as_dict) == {"Task", "Echo"}
        assert as_dict["Task"] == as_dict["Echo"], dims
        tasks.add(int(as_dict["Task"]))
    assert tasks == set(range(TASKS))
    figures("tasks", TASKS)
    figures("tasks_s", round(elapsed, 2))


_SUSTAINED_SCRIPT = textwrap.dedent(
    """
    import json, os, random, sys, time
    from cloudwatch_metrics_client import CloudWatchSyncMetricReporter, Metrics
    from cwmetrics_core import CoreConfig, RetryPolicy
    from cwmetrics_transports import HttpxTransport, StaticSigner

    url, seconds = sys.argv[1], float(sys.argv[2])
    page = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    transport = HttpxTransport(region="us-east-1", endpoint_url=url,
                               signer=StaticSigner("testing", "testing"), timeout=60)
    retry = RetryPolicy(base_delay=0.05, throttle_base_delay=0.1, max_delay=0.5,
                        rng=random.Random(0).random)
    reporter = CloudWatchSyncMetricReporter(
        1.0, transport=transport, flush_on_exit=False,
        config=CoreConfig(flush_interval=1.0, retry=retry))
    metrics = Metrics("Rel/Sustained", reporter)
    reporter.run()
    dims = [{"Route": f"r{i}"} for i in range(16)]
    put = metrics.put_value
    events = 0
    warm = peak = 0
    peak_datums = 0
    started = time.monotonic()
    next_sample = started + 0.25
    while True:
        now = time.monotonic()
        if now - started >= seconds:
            break
        for i in range(2000):
            put("Latency", i % 500, unit="Milliseconds", dimensions=dims[i & 15])
        events += 2000
        if now >= next_sample:
            next_sample = now + 0.25
            if not warm and now - started >= 1.0:
                warm = rss()
            peak = max(peak, rss())
            peak_datums = max(peak_datums, reporter.stats.core.buffered_datums)
    elapsed = time.monotonic() - started
    flushed = reporter.flush(60)
    stats = reporter.stats
    reporter.stop(5)
    print(json.dumps({
        "events": events, "seconds": elapsed, "flushed": flushed,
        "warm_rss": warm, "peak_rss": peak, "peak_buffered_datums": peak_datums,
        "requests": stats.requests, "recorded": stats.recorded, "sent": stats.sent,
        "dropped": stats.dropped, "bytes_sent": stats.core.bytes_sent,
    }))
    """
)

SUSTAINED_SECONDS = 10.0


@pytest.mark.time_limit(90)
def test_sustained_run_has_a_bounded_memory_profile(
    stub_endpoint: StubEndpoint, figures: Figures
) -> None:
    """A 10 s run recording as fast as one thread can while reporting every second, in a
    separate process so only the client's memory is measured: its resident memory stays
    flat after a 1 s warm-up (< 16 MiB growth), the buffer stays small, and every event
    arrives exactly (received == recorded, nothing dropped).

    The endpoint is the counting :class:`StubEndpoint` (a real socket): moto, behind
    LocalCloudWatch, keeps every sample as a Python object (~400 B, ~100 k samples/s),
    which would make the endpoint, not the client, the subject of this test.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    completed = subprocess.run(
        [sys.executable, "-c", _SUSTAINED_SCRIPT, stub_endpoint.url, str(SUSTAINED_SECONDS)],
        capture_output=True, text=True, timeout=80, cwd=REPO, env=env, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["flushed"]
    assert result["recorded"] == result["events"] == result["sent"]
    assert result["dropped"] == 0
    assert stub_endpoint.samples == {"Rel/Sustained": result["events"]}
    assert stub_endpoint.accepted == stub_endpoint.requests == result["requests"]
    growth = result["peak_rss"] - result["warm_rss"]
    assert growth < 16 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB after warm-up"
    assert result["peak_buffered_datums"] <= 16 * 4 * 2  # keys x datums/value set x periods
    figures("events", result["events"])
    figures("events_per_s", round(result["events"] / result["seconds"]))
    figures("peak_rss_mib", round(result["peak_rss"] / 2**20, 1))
    figures("rss_growth_after_warmup_mib", round(growth / 2**20, 2))
    figures("peak_buffered_datums", result["peak_buffered_datums"])
    figures("requests", result["requests"])
    figures("bytes_sent", result["bytes_sent"])
