"""The exception tree shared by every package of the project.

::

    CWMetricsError                      base of everything raised on purpose
    +-- UsageError                      the caller broke a documented contract
    |   +-- InvalidMetricError          (also ValueError) a name, dimension, unit, value,
    |   |   |                           count, statistic set or timestamp CloudWatch would refuse
    |   |   +-- MetricTypeError         (also TypeError) a field of the wrong type
    |   +-- InvalidConfigError          (also ValueError) a configuration value out of range
    |   +-- CoreStateError              (also RuntimeError) a call the current state forbids:
    |                                   recording after close(), acking an unknown batch
    +-- TransportError                  (cwmetrics_transports) a transport could not be built
        +-- CredentialsError            or used; never raised by send()/asend(), which report
        +-- ...                         failures as SendOutcome data instead

Every error raised for bad input names the field, the offending value (truncated) and
the limit, and is raised *before* anything is changed: a rejected call leaves the core
exactly as it was.

Service rejections (throttling, HTTP 5xx, ``InvalidParameterValue``) are not exceptions:
transports report them as :class:`~cwmetrics_core.SendOutcome` data and the core decides.
"""

from __future__ import annotations

__all__ = [
    "CWMetricsError",
    "UsageError",
    "InvalidMetricError",
    "MetricTypeError",
    "InvalidConfigError",
    "CoreStateError",
]

_MAX_REPR = 80


def _short_repr(value: object) -> str:
    text = repr(value)
    if len(text) > _MAX_REPR:
        text = text[: _MAX_REPR - 3] + "..."
    return text


class CWMetricsError(Exception):
    """Base class of every exception this project raises on purpose."""


class UsageError(CWMetricsError):
    """The caller broke a documented contract (bad input or a forbidden call)."""


class InvalidMetricError(UsageError, ValueError):
    """A metric field that CloudWatch would reject.

    Attributes:
        field: the name of the offending field, e.g. ``"Dimensions[3].Value"``.
        value: the offending value.
        reason: what is wrong, including the limit.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={_short_repr(value)}: {reason}")


class MetricTypeError(InvalidMetricError, TypeError):
    """A metric field of the wrong type (e.g. a string where a number is required)."""


class InvalidConfigError(UsageError, ValueError):
    """A configuration value out of its documented range."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={_short_repr(value)}: {reason}")


class CoreStateError(UsageError, RuntimeError):
    """A call that the core's current state forbids (e.g. ``record()`` after ``close()``)."""
