"""The reporter's clock: wall time for timestamps, monotonic time for deadlines."""

from __future__ import annotations

import time as _time
from collections.abc import Callable

__all__ = ["Clock"]


class Clock:
    """The reporter's time, given to the reporter once and shared with its ``Metrics``.

    * :meth:`time`: wall-clock epoch seconds, for timestamps (and the core's ``now``,
      which is on the timestamps' clock);
    * :meth:`monotonic`: for waits and deadlines (``flush``/``stop`` timeouts, the
      rate limit of repeated log messages).

    The default reads :func:`time.time` and :func:`time.monotonic`. Tests inject a fake
    one by subclassing (``CloudWatchSyncMetricReporter(clock=FakeClock())``)::

        class FakeClock(Clock):
            def __init__(self) -> None:
                self.now = 1_700_000_000.0

            def time(self) -> float:
                return self.now

            def monotonic(self) -> float:
                return self.now
    """

    __slots__ = ()

    #: Wall-clock epoch seconds (default: :func:`time.time`).
    time: Callable[[], float] = staticmethod(_time.time)
    #: Monotonic seconds (default: :func:`time.monotonic`).
    monotonic: Callable[[], float] = staticmethod(_time.monotonic)
