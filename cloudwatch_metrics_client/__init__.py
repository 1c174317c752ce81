"""cloudwatch_metrics_client: collect application metrics and report them to CloudWatch.

The seed's API lives in :mod:`cloudwatch_metrics_client.aiocloudwatch` (asyncio) and
:mod:`cloudwatch_metrics_client.cloudwatch` (threads); :class:`Metrics` is the instance API
both are built on.
"""

import contextlib

from cwmetrics_core import __version__ as __version__

from ._metrics import Metrics
from ._reporter import ReporterStats
from ._timer import Timer, TimerRun
from .aiocloudwatch import CloudWatchAsyncMetricReporter, CloudWatchAsyncMetrics
from .cloudwatch import CloudWatchSyncMetricReporter, CloudWatchSyncMetrics

__all__ = [
    "CloudWatchAsyncMetricReporter",
    "CloudWatchAsyncMetrics",
    "CloudWatchSyncMetricReporter",
    "CloudWatchSyncMetrics",
    "Metrics",
    "ReporterStats",
    "Timer",
    "TimerRun",
]

for _name in ("Metrics", "ReporterStats", "Timer", "TimerRun"):
    with contextlib.suppress(AttributeError, TypeError):
        globals()[_name].__module__ = "cloudwatch_metrics_client"
del _name, contextlib
