"""cwmetrics_core: a sans-IO engine for CloudWatch PutMetricData.

``cwmetrics_core`` performs no I/O, starts no threads, and never reads a clock: you pass
``now``. It takes metric events, aggregates them (distinct values with counts, or
statistic sets) per series and period, and emits ready-to-send PutMetricData requests
that respect every CloudWatch limit, measured on the exact encoded body. It imports only
the standard library.

The pieces, each usable on its own: :class:`AggregationStore` (what recording touches),
:class:`Sink` / :class:`PutMetricDataSink` (limits and codec: how requests are packed and
measured), :class:`DeliveryLedger` (in flight, retries, bisection, expiry, accounting)
and :meth:`RetryPolicy.decide` (a failure becomes :class:`Retry`, :class:`Split` or
:class:`Drop`). :class:`MetricsCore` coordinates them.
"""

import contextlib

from ._aggregate import AggregationStore, Generation
from ._cardinality import OVERFLOW_MARKER, CardinalityGuard
from ._config import CoreConfig
from ._core import CoreState, CoreStats, FailureAction, MetricsCore
from ._emf import EmfSink
from ._errors import (
    CoreStateError,
    CWMetricsError,
    InvalidConfigError,
    InvalidMetricError,
    MetricTypeError,
    UsageError,
)
from ._events import MetricEvent, PutStatisticSet, PutValue, check_timestamp
from ._flow import ABANDONED, send_flow
from ._ledger import DeliveryLedger
from ._limits import Limits
from ._model import (
    Batch,
    MetricDatum,
    MetricKey,
    PutMetricDataRequest,
    Unit,
    WireFormat,
    check_namespace,
    normalise_dimensions,
    parse_unit,
)
from ._numbers import NUMBER_TYPES, check_count, check_storage_resolution, check_value
from ._otlp import ExpHistogram, OtlpPoint, OtlpRequest, OtlpSink, exponential_histogram
from ._retry import Decision, Disposition, Drop, Retry, RetryPolicy, SendOutcome, Split
from ._sink import Packer, PutMetricDataSink, Sink
from ._version import __version__ as __version__
from ._wire import JSON_TARGET, encoder_for

__all__ = [
    "ABANDONED",
    "AggregationStore",
    "CardinalityGuard",
    "OVERFLOW_MARKER",
    "Decision",
    "DeliveryLedger",
    "Drop",
    "EmfSink",
    "ExpHistogram",
    "OtlpPoint",
    "OtlpRequest",
    "OtlpSink",
    "exponential_histogram",
    "Generation",
    "Packer",
    "PutMetricDataSink",
    "Retry",
    "Sink",
    "Split",
    "NUMBER_TYPES",
    "JSON_TARGET",
    "Batch",
    "CWMetricsError",
    "CoreConfig",
    "CoreState",
    "CoreStateError",
    "CoreStats",
    "Disposition",
    "FailureAction",
    "InvalidConfigError",
    "InvalidMetricError",
    "Limits",
    "MetricDatum",
    "MetricEvent",
    "MetricKey",
    "MetricTypeError",
    "MetricsCore",
    "PutMetricDataRequest",
    "PutStatisticSet",
    "PutValue",
    "RetryPolicy",
    "SendOutcome",
    "Unit",
    "UsageError",
    "WireFormat",
    "check_count",
    "check_namespace",
    "check_storage_resolution",
    "check_timestamp",
    "check_value",
    "encoder_for",
    "normalise_dimensions",
    "parse_unit",
    "send_flow",
]

# Present public names as members of the package (httpx does the same).
for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("cwmetrics_core."):
        with contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = "cwmetrics_core"
del _name, _obj, contextlib
