"""What to do with a failed send: decided from facts (error code, HTTP status), no I/O."""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ._errors import InvalidConfigError

__all__ = ["Disposition", "RetryPolicy", "SendOutcome"]


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What a transport observed when sending one request: data, never an exception.

    Attributes:
        ok: the service accepted the request.
        http_status: the HTTP status, or None when no response arrived.
        error_code: the AWS error code (``"Throttling"``, ``"InvalidParameterValue"``, ...)
            or a transport-level code (``"NetworkError"``, ``"Timeout"``, ``"Abandoned"``).
        message: a human-readable detail (never credentials).
    """

    ok: bool
    http_status: int | None = None
    error_code: str | None = None
    message: str = ""


class Disposition(enum.Enum):
    """The core's decision for a failed batch."""

    #: Re-queue the datums and pause sending for a backoff delay.
    RETRY = "retry"
    #: The service rejected the content: bisect the batch, drop a lone bad datum.
    SPLIT = "split"
    #: Not recoverable by resending (e.g. access denied): drop and count.
    DROP = "drop"


THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
    }
)
#: Transport-level or transient codes that are always worth retrying.
TRANSIENT_CODES = frozenset(
    {
        "NetworkError",
        "Timeout",
        "Abandoned",
        "InternalServiceError",
        "InternalServiceFault",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
        "SignatureDoesNotMatch",
        "IDPCommunicationError",
        "CredentialsError",
        "MalformedResponse",
    }
)
#: The service says the content itself is bad: bisect to isolate the bad datum. Each
#: PutMetricData error is listed under both its query-protocol code and its AWS JSON
#: (``__type``) name, so the verdict does not depend on the protocol, nor on whether the
#: ``x-amzn-query-error`` header translated the name.
INVALID_CODES = frozenset(
    {
        # query code               AWS JSON name
        "InvalidParameterValue", "InvalidParameterValueException",
        "InvalidParameterCombination", "InvalidParameterCombinationException",
        "MissingParameter", "MissingRequiredParameterException",
        "ValidationError", "ValidationException",
        "InvalidFormat", "InvalidFormatFault",
        "MissingRequiredParameter",
        "RequestEntityTooLarge",
        "SerializationException",
    }
)


def error_name(code: str | None) -> str | None:
    """The bare error name of ``code``: AWS JSON ``__type`` values may carry a namespace
    (``com.amazonaws.cloudwatch#InvalidParameterValueException``) and the
    ``x-amzn-query-error`` header a fault (``InvalidParameterValue;Sender``)."""
    if code is None:
        return None
    return code.rpartition("#")[2].partition(";")[0].partition(":")[0].strip()


def _default_rng() -> Callable[[], float]:
    return random.Random().random


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, and the classification of failures.

    The delay after the n-th consecutive failure is
    ``min(max_delay, base_delay * multiplier ** (n - 1))``, shortened by up to ``jitter``
    (a fraction) at random: ``delay * (1 - jitter * rng())``. Throttling uses
    ``throttle_base_delay`` instead of ``base_delay``.

    Attempts alone never drop data: a retryable batch waits for as long as it takes, bounded
    only by the core's memory limit and CloudWatch's two-week timestamp window.

    Args:
        base_delay: first delay after a transient failure, seconds.
        throttle_base_delay: first delay after throttling, seconds.
        max_delay: cap on any delay, seconds.
        multiplier: growth factor per consecutive failure.
        jitter: fraction of the delay randomised away, 0..1.
        rng: a ``() -> float in [0, 1)`` source (inject ``random.Random(seed).random``
            in tests for determinism).

    Raises:
        InvalidConfigError: a negative delay, multiplier < 1 or jitter outside 0..1.
    """

    base_delay: float = 1.0
    throttle_base_delay: float = 2.0
    max_delay: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.5
    rng: Callable[[], float] = field(default_factory=_default_rng, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("base_delay", "throttle_base_delay", "max_delay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise InvalidConfigError(f"RetryPolicy.{name}", value, "must be finite and >= 0")
        if not isinstance(self.multiplier, (int, float)) or not 1 <= self.multiplier < 1e6:
            raise InvalidConfigError("RetryPolicy.multiplier", self.multiplier, "must be >= 1")
        if not isinstance(self.jitter, (int, float)) or not 0 <= self.jitter <= 1:
            raise InvalidConfigError("RetryPolicy.jitter", self.jitter, "must be within 0..1")

    def classify(self, outcome: SendOutcome) -> Disposition:
        """Decide what a failed ``outcome`` means for the batch.

        Throttling, HTTP 5xx/429, network errors, timeouts and abandoned sends are retried;
        content rejections (HTTP 400 ``InvalidParameterValue`` and friends, HTTP 413) are
        split; anything else with a 4xx status (access denied, unknown client) is dropped.
        Unknown codes without a status are treated as transient.
        """
        code = error_name(outcome.error_code)
        status = outcome.http_status
        if code in THROTTLING_CODES or code in TRANSIENT_CODES:
            return Disposition.RETRY
        if code in INVALID_CODES or status == 413:
            return Disposition.SPLIT
        if status is None or status >= 500 or status in (408, 429):
            return Disposition.RETRY
        return Disposition.DROP

    def is_throttle(self, outcome: SendOutcome) -> bool:
        """True when ``outcome`` says the service throttled the request."""
        return error_name(outcome.error_code) in THROTTLING_CODES or outcome.http_status == 429

    def delay(self, consecutive_failures: int, *, throttled: bool = False) -> float:
        """Seconds to pause after ``consecutive_failures`` (>= 1) failures in a row."""
        base = self.throttle_base_delay if throttled else self.base_delay
        exponent = min(max(consecutive_failures, 1) - 1, 64)
        delay = min(self.max_delay, base * self.multiplier**exponent)
        return delay * (1.0 - self.jitter * self.rng())
