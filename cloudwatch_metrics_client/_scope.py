"""Per-call monitored dimensions, isolated per task and per thread (contextvars)."""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["Scope", "monitored_dimensions", "current_monitored_dimensions"]


class Scope(dict[str, str]):
    """The dimensions of one monitored call, with room left under CloudWatch's 30."""

    __slots__ = ("room",)

    def __init__(self, room: int) -> None:
        super().__init__()
        #: How many dimensions may still be added (30 minus the timer's fixed ones).
        self.room = room


#: The dimensions set by ``with_monitored_dimension`` for the innermost monitored call of
#: the current task/thread, or None outside any monitored call. A monitored call installs
#: a fresh :class:`Scope` only while its own code runs (for generators: during each step),
#: so nothing leaks between calls, and concurrent tasks never see each other's values.
monitored_dimensions: ContextVar[Scope | None] = ContextVar(
    "cwmetrics_monitored_dimensions", default=None
)


def current_monitored_dimensions() -> Scope | None:
    """The current monitored call's dimensions (a live dict), or None outside one."""
    return monitored_dimensions.get()
