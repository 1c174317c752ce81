"""CoreConfig: the engine's settings, validated once."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._cardinality import DEFAULT_MAX_SERIES_PER_METRIC
from ._errors import InvalidConfigError
from ._limits import MAX_TIMESTAMP_AGE, Limits
from ._model import WireFormat
from ._retry import RetryPolicy

__all__ = ["CoreConfig"]


@dataclass(frozen=True, slots=True)
class CoreConfig:
    """Settings of a :class:`~cwmetrics_core.MetricsCore`. ``CoreConfig()`` is sensible.

    Args:
        flush_interval: seconds between automatic flushes of everything recorded, or
            None for no periodic flush: data becomes due only when a full request is
            buffered, on ``flush()`` and on ``close()`` (retries still follow backoff).
        max_buffered_datums: memory bound: datums held (recorded, queued, retrying or in
            flight) before new data is dropped and counted in ``stats.dropped_overflow``.
        wire_format: the encoding the transport sends; the 1 MB limit is measured in it.
        limits: request limits for the packer (CloudWatch's by default).
        retry: backoff and failure classification.
        quantization: ``None`` (exact values, the default) or a relative error in
            (0, 0.5), e.g. ``0.01``: values are snapped to a logarithmic grid so each is
            within that relative error, which caps distinct values (memory and payload).
        max_timestamp_age: queued data older than this (seconds before ``now``) is dropped
            and counted in ``stats.dropped_expired``; CloudWatch refuses it anyway.
        max_series_per_metric: the cardinality guard: distinct dimension sets per metric
            (namespace and name) per ``series_window``; past it, a new dimension set is
            folded into the metric's overflow series (every dimension value
            ``"__overflow__"``) and counted in ``stats.folded_samples``. ``None`` turns
            folding off (``stats.custom_metrics`` is still estimated).
        series_window: seconds per cardinality window (an hour: CloudWatch bills custom
            metrics by the hour), aligned on datum timestamps.

    Raises:
        InvalidConfigError: any value out of range.
    """

    flush_interval: float | None = 60.0
    max_buffered_datums: int = 200_000
    wire_format: WireFormat = WireFormat.JSON
    limits: Limits = field(default_factory=Limits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    quantization: float | None = None
    max_timestamp_age: float = MAX_TIMESTAMP_AGE - 300.0
    max_series_per_metric: int | None = DEFAULT_MAX_SERIES_PER_METRIC
    series_window: float = 3600.0

    def __post_init__(self) -> None:
        interval = self.flush_interval
        if interval is not None and (
            isinstance(interval, bool)
            or not isinstance(interval, (int, float))
            or not 0 < interval < float("inf")
        ):
            raise InvalidConfigError(
                "flush_interval", interval, "must be > 0 seconds, or None for no periodic flush"
            )
        if type(self.max_buffered_datums) is not int or self.max_buffered_datums < 1:
            raise InvalidConfigError(
                "max_buffered_datums", self.max_buffered_datums, "must be an int >= 1"
            )
        try:
            object.__setattr__(self, "wire_format", WireFormat(self.wire_format))
        except ValueError:
            raise InvalidConfigError(
                "wire_format", self.wire_format, "must be one of " + ", ".join(WireFormat)
            ) from None
        if not isinstance(self.limits, Limits):
            raise InvalidConfigError("limits", self.limits, "must be a Limits instance")
        if not isinstance(self.retry, RetryPolicy):
            raise InvalidConfigError("retry", self.retry, "must be a RetryPolicy instance")
        q = self.quantization
        if q is not None and (not isinstance(q, (int, float)) or not 0 < q < 0.5):
            raise InvalidConfigError("quantization", q, "must be None or within (0, 0.5)")
        if not isinstance(self.max_timestamp_age, (int, float)) or self.max_timestamp_age <= 0:
            raise InvalidConfigError(
                "max_timestamp_age", self.max_timestamp_age, "must be > 0 seconds"
            )
        limit = self.max_series_per_metric
        if limit is not None and (type(limit) is not int or limit < 1):
            raise InvalidConfigError(
                "max_series_per_metric", limit, "must be an int >= 1, or None for no bound"
            )
        window = self.series_window
        if (
            isinstance(window, bool)
            or not isinstance(window, (int, float))
            or not 0 < window < float("inf")
        ):
            raise InvalidConfigError("series_window", window, "must be > 0 seconds")
