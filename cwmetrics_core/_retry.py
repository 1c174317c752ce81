"""What to do with a failed send: decided from facts (error code, HTTP status), no I/O."""

from __future__ import annotations

import enum
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ._errors import InvalidConfigError

__all__ = ["Decision", "Disposition", "Drop", "RetryPolicy", "Retry", "SendOutcome", "Split"]


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What a transport observed when sending one request: data, never an exception.

    Attributes:
        ok: the service accepted the request.
        http_status: the HTTP status, or None when no response arrived.
        error_code: the AWS error code (``"Throttling"``, ``"InvalidParameterValue"``, ...)
            or a transport-level code (``"NetworkError"``, ``"Timeout"``, ``"Abandoned"``).
        message: a human-readable detail (never credentials).
        retry_after: seconds the service asked to wait before sending again (an HTTP
            ``Retry-After``), or None. A retry never comes sooner than this.
        rejected_samples: samples of an accepted request (``ok`` True) the service
            rejected anyway (an OTLP partial success): counted as dropped, not sent.
    """

    ok: bool
    http_status: int | None = None
    error_code: str | None = None
    message: str = ""
    retry_after: float | None = None
    rejected_samples: float = 0.0


class Disposition(enum.Enum):
    """The core's decision for a failed batch."""

    #: Re-queue the datums and pause sending for a backoff delay.
    RETRY = "retry"
    #: The service rejected the content: bisect the batch, drop a lone bad datum.
    SPLIT = "split"
    #: Not recoverable by resending (e.g. access denied): drop and count.
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Retry:
    """Decision: re-queue the whole batch; sending resumes at ``at``.

    Attributes:
        at: the earliest time to send again (``now`` for an abandoned send).
        counted: False for an abandoned send (no answer arrived): it is neither a retry
            nor a failure in a row, and costs no backoff.
    """

    at: float
    counted: bool = True


@dataclass(frozen=True, slots=True)
class Split:
    """Decision: the service rejected the content; resend it in ``groups``.

    Attributes:
        groups: datum indices (wire order) to resend, each group as a request of its own,
            in this order: two halves when bisecting, one group when the service named
            the culprit.
        drop: indices of datums the service named as invalid: dropped.
        at: a pause before the next send (a long run of rejections without an ack), or
            None.
    """

    groups: tuple[tuple[int, ...], ...]
    drop: tuple[int, ...] = ()
    at: float | None = None


@dataclass(frozen=True, slots=True)
class Drop:
    """Decision: drop the whole batch.

    Attributes:
        reason: ``"invalid"`` (a lone datum the service rejected) or ``"rejected"`` (a
            refusal resending cannot cure, e.g. access denied).
        at: a pause before the next send (as :attr:`Split.at`), or None.
    """

    reason: str
    at: float | None = None


#: What :meth:`RetryPolicy.decide` returns.
Decision = Retry | Split | Drop

#: The longest ``Retry-After`` honoured (seconds): a longer one waits this long.
MAX_RETRY_AFTER = 900.0
#: Content rejections in a row (no ack in between) before bisection is paced by backoff.
FREE_REJECTS = 12
_MEMBER = re.compile(r"(?<![A-Za-z.])MetricData\.member\.(\d+)\b")


def named_member(message: str, size: int) -> int | None:
    """The 0-based datum a rejection message names (``MetricData.member.N``), if any."""
    found = _MEMBER.search(message)
    if found is None:
        return None
    index = int(found.group(1)) - 1
    return index if 0 <= index < size else None


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

    def decide(
        self,
        outcome: SendOutcome,
        *,
        size: int,
        now: float,
        failures_in_a_row: int,
        rejects_in_a_row: int,
    ) -> Decision:
        """Decide what to do with a failed batch of ``size`` datums, as one value.

        Args:
            outcome: what the transport observed (``ok`` is False).
            size: datums in the batch.
            now: the current time; pauses are returned as absolute times.
            failures_in_a_row: retryable failures since the last ack, before this one.
            rejects_in_a_row: content rejections since the last ack, before this one.

        Returns:
            :class:`Retry` (abandoned sends, throttling, 5xx, network), :class:`Split`
            (content rejected: bisect, or drop exactly the datum the message names) or
            :class:`Drop` (a lone rejected datum, or a refusal resending cannot cure).
            Content rejections cost no backoff while bisection makes progress; after
            ``FREE_REJECTS`` in a row they are paced by :meth:`delay`.
        """
        if outcome.error_code == "Abandoned":
            return Retry(now, counted=False)
        disposition = self.classify(outcome)
        if disposition is Disposition.RETRY:
            delay = self.delay(failures_in_a_row + 1, throttled=self.is_throttle(outcome))
            wait = outcome.retry_after
            if wait is not None and wait > delay:  # the service's Retry-After, capped
                delay = min(wait, MAX_RETRY_AFTER)
            return Retry(now + delay)
        if disposition is Disposition.DROP:
            return Drop("rejected")
        rejects = rejects_in_a_row + 1
        at = now + self.delay(rejects - FREE_REJECTS) if rejects > FREE_REJECTS else None
        if size > 1:
            bad = named_member(outcome.message, size)
            if bad is not None:
                rest = tuple(i for i in range(size) if i != bad)
                return Split((rest,), (bad,), at)
            half = size // 2
            return Split((tuple(range(half)), tuple(range(half, size))), (), at)
        return Drop("invalid", at)
