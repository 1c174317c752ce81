"""Per-call monitored dimensions, isolated per task and per thread (contextvars)."""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["Scope", "new_scope", "monitored_dimensions", "current_monitored_dimensions"]


class Scope(dict[str, str]):
    """The dimensions of one monitored call, with room left under CloudWatch's 30."""

    __slots__ = ("room",)

    #: How many dimensions may still be added (30 minus the timer's fixed ones).
    room: int


def new_scope(room: int) -> Scope:
    """A fresh, empty scope (no Python-level __init__: this runs once per monitored call)."""
    scope = Scope()
    scope.room = room
    return scope


#: The dimensions set by ``with_monitored_dimension`` for the innermost monitored call of
#: the current task/thread, or None outside any monitored call. A monitored call installs
#: a fresh :class:`Scope` only while its own code runs (for generators: during each step),
#: so nothing leaks between calls, and concurrent tasks never see each other's values.
#: A call that has not set any dimension yet holds just the room left (an int): the Scope
#: is created on the first ``with_monitored_dimension``.
monitored_dimensions: ContextVar[Scope | int | None] = ContextVar(
    "cwmetrics_monitored_dimensions", default=None
)


def current_monitored_dimensions() -> dict[str, str] | None:
    """The current monitored call's dimensions, or None outside one."""
    scope = monitored_dimensions.get()
    if scope is None:
        return None
    return dict(scope) if isinstance(scope, Scope) else {}
