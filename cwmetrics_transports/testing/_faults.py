"""Runtime-switchable fault injection for PutMetricData requests."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

from ._protocol import CloudWatchError

__all__ = ["DropMode", "ErrorFault", "FaultDecision", "FaultInjector"]

#: When a dropped connection is closed relative to applying the request.
DropMode = Literal["before_apply", "after_apply"]


@dataclass(frozen=True, slots=True)
class ErrorFault:
    """An error response to send instead of processing the request."""

    status: int
    code: str
    message: str

    def to_error(self) -> CloudWatchError:
        """Return the equivalent :class:`CloudWatchError`."""
        return CloudWatchError(self.code, self.message, self.status)


@dataclass(frozen=True, slots=True)
class _Drop:
    mode: DropMode


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do with one PutMetricData request.

    Attributes:
        error: answer with this error; the request is not applied.
        drop: close the connection ``"before_apply"`` or ``"after_apply"``.
        delay: seconds to sleep before answering (not applied to dropped requests).
    """

    error: ErrorFault | None = None
    drop: DropMode | None = None
    delay: float = 0.0


def _error(status: int, code: str, message: str | None) -> ErrorFault:
    if not 400 <= status <= 599:
        raise ValueError(f"status must be an HTTP error status (4xx/5xx), got {status}")
    return ErrorFault(status, code, message or f"Injected fault: {code}")


class FaultInjector:
    """Thread-safe fault schedule consulted once per PutMetricData request.

    Precedence per request: the FIFO script (:meth:`fail_next`, :meth:`drop_next`), then
    a :meth:`fail_for` window, then :meth:`fail_randomly`. :meth:`slow_down` applies to
    every answered request independently. Other operations are never faulted.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: deque[ErrorFault | _Drop] = deque()
        self._window: tuple[float, ErrorFault] | None = None
        self._random: tuple[float, random.Random, ErrorFault] | None = None
        self._delay = 0.0
        self._delay_remaining: int | None = None

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 500,
        code: str = "InternalServiceError",
        message: str | None = None,
    ) -> None:
        """Answer the next ``n`` PutMetricData requests with an error (queued after
        any faults already scheduled with :meth:`fail_next`/:meth:`drop_next`).

        Args:
            n: number of requests.
            status: HTTP status (e.g. 500, 503, 400).
            code: error code (``InternalServiceError``, ``ServiceUnavailable``,
                ``Throttling``...).
            message: error message (a default names the code).

        Raises:
            ValueError: ``n < 0`` or a non-error status.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        fault = _error(status, code, message)
        with self._lock:
            self._script.extend([fault] * n)

    def fail_randomly(
        self,
        probability: float,
        *,
        seed: int = 0,
        status: int = 500,
        code: str = "InternalServiceError",
        message: str | None = None,
    ) -> None:
        """Fail each PutMetricData request with ``probability``, reproducibly.

        The RNG is ``random.Random(seed)`` and draws exactly one number per request
        that reaches this stage, so request ``k`` fails iff the ``k``-th draw is
        ``< probability``.

        Args:
            probability: in ``[0, 1]``; 0 switches random faults off.
            seed: RNG seed.
            status: HTTP status.
            code: error code.
            message: error message.

        Raises:
            ValueError: probability out of range or a non-error status.
        """
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        fault = _error(status, code, message)
        with self._lock:
            self._random = (probability, random.Random(seed), fault) if probability else None

    def fail_for(
        self,
        seconds: float,
        *,
        status: int = 503,
        code: str = "ServiceUnavailable",
        message: str | None = None,
    ) -> None:
        """Fail every PutMetricData request for the next ``seconds`` (monotonic clock).

        Args:
            seconds: window length from now; 0 ends a running window.
            status: HTTP status.
            code: error code.
            message: error message.

        Raises:
            ValueError: negative duration or a non-error status.
        """
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        fault = _error(status, code, message)
        with self._lock:
            self._window = (time.monotonic() + seconds, fault) if seconds else None

    def slow_down(self, seconds: float, *, count: int | None = None) -> None:
        """Delay answers to PutMetricData requests (they are still applied).

        Args:
            seconds: delay per response; 0 switches delays off.
            count: delay only the next ``count`` answered requests (``None``: until
                cleared).

        Raises:
            ValueError: negative delay or count.
        """
        if seconds < 0 or (count is not None and count < 0):
            raise ValueError("seconds and count must be >= 0")
        with self._lock:
            self._delay = seconds
            self._delay_remaining = count

    def drop_next(self, n: int = 1, *, after_apply: bool = False) -> None:
        """Close the connection of the next ``n`` PutMetricData requests without answering.

        Args:
            n: number of requests (queued after already scheduled scripted faults).
            after_apply: ``False``: close before the request reaches moto (nothing
                stored); ``True``: apply it (stored and recorded as accepted), then close.

        Raises:
            ValueError: ``n < 0``.
        """
        if n < 0:
            raise ValueError("n must be >= 0")
        drop = _Drop("after_apply" if after_apply else "before_apply")
        with self._lock:
            self._script.extend([drop] * n)

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._script.clear()
            self._window = None
            self._random = None
            self._delay = 0.0
            self._delay_remaining = None

    @property
    def active(self) -> bool:
        """Whether any fault is scheduled."""
        with self._lock:
            return bool(self._script or self._window or self._random or self._delay)

    def decide(self) -> FaultDecision:
        """Consume the schedule for one PutMetricData request.

        Returns:
            What to do with the request.
        """
        with self._lock:
            error: ErrorFault | None = None
            drop: DropMode | None = None
            if self._script:
                item = self._script.popleft()
                if isinstance(item, _Drop):
                    drop = item.mode
                else:
                    error = item
            elif self._window is not None:
                deadline, fault = self._window
                if time.monotonic() < deadline:
                    error = fault
                else:
                    self._window = None
            if error is None and drop is None and self._random is not None:
                probability, rng, fault = self._random
                if rng.random() < probability:
                    error = fault
            delay = 0.0
            if drop is None and self._delay > 0:
                delay = self._delay
                if self._delay_remaining is not None:
                    self._delay_remaining -= 1
                    if self._delay_remaining <= 0:
                        self._delay = 0.0
                        self._delay_remaining = None
            return FaultDecision(error=error, drop=drop, delay=delay)
