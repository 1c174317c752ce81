"""cloudwatch_metrics_client: collect application metrics and report them to CloudWatch.

The seed's API lives in
[`cloudwatch_metrics_client.aiocloudwatch`][cloudwatch_metrics_client.aiocloudwatch]
(asyncio) and [`cloudwatch_metrics_client.cloudwatch`][cloudwatch_metrics_client.cloudwatch]
(threads); [Metrics][cloudwatch_metrics_client.Metrics] is the instance API both are built
on.

Logs go to the ``cloudwatch_metrics_client`` logger (the reporters, the facades and
``Metrics``; ``cloudwatch_metrics_client.demo`` for the demo), which has a
``NullHandler``. The transports log under ``cwmetrics_transports``; ``cwmetrics_core``
never logs.
"""

import contextlib
import logging

from cwmetrics_core import __version__ as __version__

from ._clock import Clock
from ._facade import FacadeBacklog
from ._metrics import Metrics
from ._reporter import ReporterState
from ._stats import ReporterStats
from ._timer import RecordTiming, Timer, TimerRun, TimerUnitName, UnitName
from .aiocloudwatch import CloudWatchAsyncMetricReporter, CloudWatchAsyncMetrics
from .cloudwatch import CloudWatchSyncMetricReporter, CloudWatchSyncMetrics

__all__ = [
    "CloudWatchAsyncMetricReporter",
    "CloudWatchAsyncMetrics",
    "CloudWatchSyncMetricReporter",
    "CloudWatchSyncMetrics",
    "Clock",
    "FacadeBacklog",
    "Metrics",
    "RecordTiming",
    "ReporterState",
    "ReporterStats",
    "Timer",
    "TimerRun",
    "TimerUnitName",
    "UnitName",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

for _name in (
    "Clock", "FacadeBacklog", "Metrics", "ReporterState", "ReporterStats", "Timer", "TimerRun",
):  # fmt: skip
    with contextlib.suppress(AttributeError, TypeError):
        globals()[_name].__module__ = "cloudwatch_metrics_client"
del _name, contextlib, logging
