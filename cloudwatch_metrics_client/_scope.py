"""Per-call monitored dimensions, isolated per task and per thread (contextvars)."""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["monitored_dimensions", "current_monitored_dimensions"]

#: The dimensions set by ``with_monitored_dimension`` for the innermost monitored call of
#: the current task/thread, or None outside any monitored call. Each monitored call sets a
#: fresh dict and restores the previous value when it ends, so nothing leaks between
#: calls, and concurrent tasks (each with its own context) never see each other's values.
monitored_dimensions: ContextVar[dict[str, str] | None] = ContextVar(
    "cwmetrics_monitored_dimensions", default=None
)


def current_monitored_dimensions() -> dict[str, str] | None:
    """The current monitored call's dimensions (a live dict), or None outside one."""
    return monitored_dimensions.get()
