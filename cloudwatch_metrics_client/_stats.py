"""A reporter's counters: a snapshot of the core's, plus the reporter's own."""

from __future__ import annotations

from dataclasses import dataclass

from cwmetrics_core import CoreStats

__all__ = ["ReporterStats"]


@dataclass(frozen=True, slots=True)
class ReporterStats:
    """Counters of a reporter, in samples unless named otherwise.

    ``recorded == sent + dropped + buffered + in_flight`` always holds.
    """

    #: The core's counters (per-reason drops, requests, bytes, retries...).
    core: CoreStats
    #: Calls rejected and dropped in ``errors="log"`` mode.
    invalid_dropped: int
    #: Exceptions caught in the background loop (a bug or a transport misbehaving).
    background_errors: int

    @property
    def recorded(self) -> float:
        """Samples accepted."""
        return self.core.recorded_samples

    @property
    def sent(self) -> float:
        """Samples acknowledged by CloudWatch."""
        return self.core.sent_samples

    @property
    def buffered(self) -> float:
        """Samples held, not yet sent."""
        return self.core.buffered_samples

    @property
    def in_flight(self) -> float:
        """Samples being sent right now."""
        return self.core.in_flight_samples

    @property
    def dropped(self) -> float:
        """Samples dropped for any reason (see ``core`` for the reasons)."""
        return self.core.dropped_samples

    @property
    def retried(self) -> int:
        """Requests that failed and were re-queued."""
        return self.core.retries

    @property
    def requests(self) -> int:
        """PutMetricData requests acknowledged."""
        return self.core.requests_sent
