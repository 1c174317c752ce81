"""Every CloudWatch limit the project enforces, in one table.

The constants are the service's documented values; :class:`Limits` is the subset the
packer takes as configuration, so a sink with other limits (the Embedded Metric Format
allows 100 metrics per document and 100 values per metric) can reuse the same packer.
Checks elsewhere import these names; no limit is written down twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import InvalidConfigError

__all__ = [
    "MAX_DATUMS_PER_REQUEST",
    "MAX_VALUES_PER_DATUM",
    "MAX_DIMENSIONS",
    "MAX_REQUEST_BYTES",
    "MAX_NAME_LENGTH",
    "MAX_DIMENSION_VALUE_LENGTH",
    "MAX_VALUE",
    "MIN_NONZERO_VALUE",
    "MAX_TIMESTAMP_AGE",
    "MAX_TIMESTAMP_AHEAD",
    "STORAGE_RESOLUTIONS",
    "MAX_EPOCH_SECONDS",
    "EMF_MAX_METRICS_PER_DIRECTIVE",
    "EMF_MAX_VALUES_PER_METRIC",
    "EMF_MAX_DIMENSIONS_PER_SET",
    "EMF_MAX_EVENT_BYTES",
    "EMF_MAX_UDP_DATAGRAM_BYTES",
    "OTLP_MAX_DATA_POINTS",
    "OTLP_MAX_REQUEST_BYTES",
    "OTLP_MAX_ATTRIBUTES",
    "OTLP_MAX_TIMESTAMP_AGE",
    "OTLP_MAX_TIMESTAMP_AHEAD",
    "OTLP_MAX_BUCKETS",
    "Limits",
]

#: Datums (``MetricData`` entries) in one PutMetricData request.
MAX_DATUMS_PER_REQUEST = 1000
#: ``Values`` (and ``Counts``) entries in one datum.
MAX_VALUES_PER_DATUM = 150
#: Dimensions on one metric.
MAX_DIMENSIONS = 30
#: Request body size, uncompressed. AWS documents "1 MB"; the CloudWatch agent packs to
#: 1,000,000 bytes, and so do we by default, which also fits a 1 MiB reading.
MAX_REQUEST_BYTES = 1_000_000
#: Namespace, metric name and dimension name length (characters).
MAX_NAME_LENGTH = 255
#: Dimension value length (characters).
MAX_DIMENSION_VALUE_LENGTH = 1024
#: Largest magnitude CloudWatch accepts for a value (2**360).
MAX_VALUE = 2.0**360
#: Smallest non-zero magnitude CloudWatch accepts (2**-360).
MIN_NONZERO_VALUE = 2.0**-360
#: How far back a datum's timestamp may lie (two weeks, seconds).
MAX_TIMESTAMP_AGE = 14 * 86400.0
#: How far ahead a datum's timestamp may lie (two hours, seconds).
MAX_TIMESTAMP_AHEAD = 2 * 3600.0
#: The two storage resolutions CloudWatch supports (seconds).
STORAGE_RESOLUTIONS = (1, 60)
#: Sanity bound for epoch-seconds timestamps (year 5138): catches milliseconds passed as seconds.
MAX_EPOCH_SECONDS = 1e11

# The Embedded Metric Format ("Specification: Embedded metric format", CloudWatch User Guide).
#: MetricDefinition objects in one MetricDirective's ``Metrics`` array.
EMF_MAX_METRICS_PER_DIRECTIVE = 100
#: Members of a numeric array metric target (and of a ``Values``/``Counts`` pair).
EMF_MAX_VALUES_PER_METRIC = 100
#: Dimension keys in one DimensionSet (the same 30 as PutMetricData).
EMF_MAX_DIMENSIONS_PER_SET = 30
#: One document is one CloudWatch Logs event: 256 KB (262,144 bytes) counting the 26 bytes
#: CloudWatch Logs adds per event. Logs has since raised its event limit to 1 MB; 256 KB is
#: valid under both (``EmfSink(max_document_bytes=...)`` raises it).
EMF_MAX_EVENT_BYTES = 262_144 - 26
#: Largest UDP payload over IPv4 (65,535 - 8 UDP - 20 IP header bytes): one document per
#: datagram, newline included.
EMF_MAX_UDP_DATAGRAM_BYTES = 65_507

# CloudWatch's OTLP metrics endpoint (``https://monitoring.<region>.amazonaws.com/v1/metrics``).
#: Data points in one OTLP export request.
OTLP_MAX_DATA_POINTS = 1000
#: Uncompressed protobuf body of one OTLP export request ("1 MB"; 1,000,000 as above).
OTLP_MAX_REQUEST_BYTES = 1_000_000
#: Attributes (labels) on one data point.
OTLP_MAX_ATTRIBUTES = 150
#: How far back a data point's timestamp may lie (14 days, seconds).
OTLP_MAX_TIMESTAMP_AGE = 14 * 86400.0
#: How far ahead a data point's timestamp may lie (10 minutes, seconds).
OTLP_MAX_TIMESTAMP_AHEAD = 600.0
#: Buckets per sign of one exponential histogram point (the OpenTelemetry SDK's default
#: ``max_size``): the scale is lowered until the recorded values fit.
OTLP_MAX_BUCKETS = 160


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits the packer applies to each request it builds.

    Defaults are CloudWatch's. (Per-metric limits, such as 30 dimensions, are enforced
    when a :class:`~cwmetrics_core.MetricKey` is built, not here.) Lower values are
    allowed (and useful in tests or for other sinks); values above CloudWatch's are
    allowed too, for sinks that accept more, but are the caller's responsibility.

    Raises:
        InvalidConfigError: a limit that is not a positive integer.
    """

    #: Maximum datums per request.
    max_datums_per_request: int = MAX_DATUMS_PER_REQUEST
    #: Maximum ``Values``/``Counts`` entries per datum.
    max_values_per_datum: int = MAX_VALUES_PER_DATUM
    #: Maximum encoded request body size in bytes, measured on the exact body.
    max_request_bytes: int = MAX_REQUEST_BYTES

    def __post_init__(self) -> None:
        for name in ("max_datums_per_request", "max_values_per_datum", "max_request_bytes"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise InvalidConfigError(f"Limits.{name}", value, "must be an int >= 1")
