"""A reporter clock whose wall time stands still, so a whole workload lands in one period."""

from __future__ import annotations

from cloudwatch_metrics_client import Clock


class FixedWallClock(Clock):
    """``time()`` is always ``now`` (one period for every sample); ``monotonic()`` is real,
    so the reporter's flush and stop deadlines still run on real time."""

    __slots__ = ("now",)

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:  # type: ignore[override]
        return self.now
