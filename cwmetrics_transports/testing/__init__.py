"""A strict local CloudWatch endpoint for tests, demos and benchmarks.

[LocalCloudWatch][cwmetrics_transports.testing.LocalCloudWatch] serves moto's CloudWatch
over real HTTP on 127.0.0.1 and puts CloudWatch's PutMetricData rules, an exact record of
accepted data, request counters and fault injection in front of it. moto's server is
imported only when the endpoint starts, so importing this package never needs it; install
it with ``pip install 'cloudwatch-metrics-client[testing]'`` (starting without it raises
`MissingDependencyError`, an `ImportError` that names that line).

The pytest fixtures live in `cwmetrics_transports.testing.pytest_plugin`, registered
with pytest through the `pytest11` entry point when the package is installed.
"""

from __future__ import annotations

from ._clients import ClientProtocol
from ._deps import require_server_dependencies
from ._faults import DropMode, FaultInjector
from ._model import (
    AcceptedDatum,
    AcceptedPut,
    Protocol,
    RequestLogEntry,
    SeriesKey,
    SeriesStats,
    ServerStats,
    StatisticSet,
)
from ._protocol import CloudWatchError
from ._server import ENV_VARS_TO_UNSET, LocalCloudWatch
from ._validate import MAX_BODY_BYTES, MAX_DATUMS, MAX_DIMENSIONS, MAX_VALUES, STANDARD_UNITS

__all__ = [
    "LocalCloudWatch",
    "ENV_VARS_TO_UNSET",
    "AcceptedDatum",
    "AcceptedPut",
    "StatisticSet",
    "SeriesKey",
    "SeriesStats",
    "ServerStats",
    "RequestLogEntry",
    "Protocol",
    "ClientProtocol",
    "DropMode",
    "FaultInjector",
    "CloudWatchError",
    "MAX_BODY_BYTES",
    "MAX_DATUMS",
    "MAX_DIMENSIONS",
    "MAX_VALUES",
    "STANDARD_UNITS",
    "require_server_dependencies",
]


def _present_as_members() -> None:
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith(__name__ + "."):
            try:
                obj.__module__ = __name__
            except (AttributeError, TypeError):  # constants and aliases
                continue


_present_as_members()
