"""The asyncio reporter packs a large flush in slices: other tasks run in between.

Packing a 1000-datum request takes milliseconds of CPU in one piece; the reporter
prepares each request a slice at a time (``MetricsCore.prepare``) and yields to the loop
between slices, so a flush of many series does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import time

from cloudwatch_metrics_client import Clock, CloudWatchAsyncMetricReporter, Metrics
from cwmetrics_core import CoreConfig
from cwmetrics_transports import DryRunTransport

NS = "Test/FlushSlices"


def test_a_flush_yields_to_other_tasks_between_slices_of_each_request() -> None:
    async def main() -> tuple[int, int, float]:
        reporter = CloudWatchAsyncMetricReporter(
            transport=DryRunTransport(keep=0),
            # Many series of one metric are the subject: no cardinality guard folding them.
            config=CoreConfig(max_buffered_datums=10**6, max_series_per_metric=None),
        )
        put = Metrics(NS, reporter).put_value
        for i in range(3000):
            put("Latency", float(i % 50), unit="Milliseconds", dimensions={"S": f"s{i}"})
        ticks = 0
        done = False

        async def other_task() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.get_running_loop().create_task(other_task())
        await asyncio.sleep(0)
        delivered = await reporter.flush(timeout=60)
        done = True
        await task
        assert delivered
        stats = reporter.stats
        await reporter.stop()
        return ticks, stats.requests, stats.core.sent_samples

    ticks, requests, sent = asyncio.run(main())
    assert requests == 3 and sent == 3000
    # One yield per request before; now several per request (one per slice).
    assert ticks >= 10 * requests, ticks


class _SlowSlices(Clock):
    """Real time, except that while ``slow`` every monotonic reading is 3 ms after the
    previous one: each pack slice seems to take longer than its 2 ms time budget."""

    def __init__(self) -> None:
        self.slow = False
        self._fake = 0.0

    def monotonic(self) -> float:
        if not self.slow:
            return time.monotonic() + self._fake
        self._fake += 0.003
        return time.monotonic() + self._fake


def test_a_slice_over_its_time_budget_makes_the_next_slices_smaller() -> None:
    async def flush_counting_ticks(reporter: CloudWatchAsyncMetricReporter, name: str) -> int:
        put = Metrics(NS, reporter).put_value
        for i in range(300):
            put(name, float(i % 50), unit="Milliseconds", dimensions={"S": f"s{i}"})
        ticks = 0
        done = False

        async def other_task() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.get_running_loop().create_task(other_task())
        await asyncio.sleep(0)
        assert await reporter.flush(timeout=60)
        done = True
        await task
        return ticks

    async def main() -> tuple[list[int], float]:
        clock = _SlowSlices()
        reporter = CloudWatchAsyncMetricReporter(
            transport=DryRunTransport(keep=0),
            config=CoreConfig(max_buffered_datums=10**6, max_series_per_metric=None),
            clock=clock,
        )
        ticks = [await flush_counting_ticks(reporter, "Warm")]  # budgets at full size
        clock.slow = True
        ticks.append(await flush_counting_ticks(reporter, "Slow"))
        clock.slow = False
        ticks.append(await flush_counting_ticks(reporter, "Fast"))  # grown back
        sent = reporter.stats.core.sent_samples
        await reporter.stop()
        return ticks, sent

    (warm, slow, fast), sent = asyncio.run(main())
    assert sent == 900  # the slice size changes when, never what, is sent
    # 300 one-value datums in one request: ~6 slices of 50 at full budget; halved after
    # every slow slice (50, 25, 12, 6, 3) down to 1 datum: ~210 slices while slow.
    assert warm < 20 and fast < 30, (warm, fast)
    assert slow > 150, slow
