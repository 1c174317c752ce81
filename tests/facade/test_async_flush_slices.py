"""The asyncio reporter packs a large flush in slices: other tasks run in between.

Packing a 1000-datum request takes milliseconds of CPU in one piece; the reporter
prepares each request a slice at a time (``MetricsCore.prepare``) and yields to the loop
between slices, so a flush of many series does not stall the event loop.
"""

from __future__ import annotations

import asyncio

from cloudwatch_metrics_client import CloudWatchAsyncMetricReporter, Metrics
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
