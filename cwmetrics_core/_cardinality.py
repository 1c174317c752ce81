"""The cardinality guard: a bound on the distinct dimension sets of each metric per window.

Every distinct dimension set of a metric is a custom metric on the CloudWatch bill (per
metric-month, prorated by the hour), so a raw URL path or a user id used as a dimension
value can create thousands of them. The guard counts, for each metric (namespace and
name), the dimension sets recorded in the current window (an hour by default). Once a
metric has ``limit`` of them, a further new dimension set is *folded*: its samples are
recorded under the metric's overflow series instead, whose dimension names are kept and
whose values are all :data:`OVERFLOW_MARKER`. Nothing is dropped: folded samples are
sent (under the overflow series) and counted in ``folded_samples``.

Sans-IO like the rest of the core: the window is taken from the datum's period (event
data), never from a clock, and nothing is logged (the driver reads ``folded_samples`` and
warns, rate-limited).

The aggregation store asks :meth:`CardinalityGuard.admit` only when it is about to create
a series in its current generation (once per series per flush, not per sample), so the
recording path of a known series does not pay for the guard.
"""

from __future__ import annotations

from ._model import MetricKey

__all__ = ["OVERFLOW_MARKER", "DEFAULT_MAX_SERIES_PER_METRIC", "CardinalityGuard"]

#: The dimension value of every dimension of an overflow series.
OVERFLOW_MARKER = "__overflow__"
#: The default bound on distinct dimension sets per metric per window.
DEFAULT_MAX_SERIES_PER_METRIC = 1000


class _Window:
    """One metric's dimension sets in one window."""

    __slots__ = ("overflow", "seen", "start")

    def __init__(self, start: float) -> None:
        self.start = start
        self.seen: set[MetricKey] = set()
        self.overflow: set[MetricKey] = set()


class CardinalityGuard:
    """Bounds the distinct dimension sets of each metric per window (no I/O, no clock).

    Args:
        limit: dimension sets per metric per window; ``None`` never folds (the estimate
            in :attr:`custom_metrics` is still kept).
        window: seconds per window (an hour by default, CloudWatch's billing grain).

    A series is one ``MetricKey``: the same dimensions recorded with two units count
    twice (CloudWatch would bill them once), so the estimate errs on the high side.
    """

    __slots__ = ("_metrics", "_overflow_keys", "folded_samples", "last_folded", "latest",
                 "limit", "window")

    def __init__(self, limit: int | None, window: float) -> None:
        self.limit = limit
        self.window = window
        self._metrics: dict[tuple[str, str], _Window] = {}
        self._overflow_keys: dict[tuple[object, ...], MetricKey] = {}
        #: Samples recorded under an overflow series instead of their own.
        self.folded_samples = 0.0
        #: The most recent key that was folded (for the driver's warning), or None.
        self.last_folded: MetricKey | None = None
        #: Start of the latest window seen (epoch seconds), or None before any record.
        self.latest: float | None = None

    def admit(self, key: MetricKey, period: float, count: float) -> MetricKey:
        """The key to record ``count`` samples of ``key`` (at ``period``) under.

        Returns:
            ``key`` while its metric has room in the window (or already holds it), a
            metric without dimensions, or with ``limit=None``; else the overflow key.
        """
        start = period - period % self.window
        latest = self.latest
        if latest is None or start > latest:
            self._roll(start)
        ident = (key.namespace, key.name)
        state = self._metrics.get(ident)
        if state is None or state.start < start:
            state = self._metrics[ident] = _Window(start)
        seen = state.seen
        if key in seen or key in state.overflow:
            return key
        limit = self.limit
        if limit is None or len(seen) < limit or not key.dimensions:
            seen.add(key)
            return key
        overflow = self._overflow_key(key)
        state.overflow.add(overflow)
        self.folded_samples += count
        self.last_folded = key
        return overflow

    def _overflow_key(self, key: MetricKey) -> MetricKey:
        names = tuple(name for name, _ in key.dimensions)
        ident = (key.namespace, key.name, names, key.unit, key.storage_resolution)
        overflow = self._overflow_keys.get(ident)
        if overflow is None:
            if len(self._overflow_keys) >= 10_000:  # bounded even with dynamic names
                self._overflow_keys.clear()
            overflow = MetricKey(
                key.namespace,
                key.name,
                tuple((name, OVERFLOW_MARKER) for name in names),
                key.unit,
                key.storage_resolution,
            )
            self._overflow_keys[ident] = overflow
        return overflow

    def _roll(self, start: float) -> None:
        """A new window began: forget the metrics not seen in it (bounded memory)."""
        self.latest = start
        stale = [ident for ident, state in self._metrics.items() if state.start < start]
        for ident in stale:
            del self._metrics[ident]

    @property
    def custom_metrics(self) -> int:
        """Distinct series (overflow series included) recorded in the latest window: an
        estimate of the custom metrics this recorder adds to the bill for that hour."""
        latest = self.latest
        return sum(
            len(s.seen) + len(s.overflow) for s in self._metrics.values() if s.start == latest
        )
