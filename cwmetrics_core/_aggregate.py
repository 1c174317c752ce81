"""The aggregation store: series -> period -> distinct values with counts, or a statistic set.

This is the only state the recording path touches: ``MetricsCore`` validates the numbers
of one observation (the key was validated when it was built), then the store folds it into
its series' current accumulator and keeps the two recording counters (samples recorded,
samples dropped for lack of room). It knows nothing of requests, encodings, retries or
clocks.

Layout, chosen so that a buffered series adds no object the garbage collector tracks:

* ``values[key]`` is the series' current period as a flat ``{value: count}`` dict of
  floats, and ``periods[key]`` that period's timestamp. Dicts holding only floats are not
  tracked by the GC. A series that also has data for another period in the same
  generation keeps it in ``older[(key, period)]`` (rare: a late timestamp, or the minute
  boundary inside one flush interval).
* ``stats[key]`` is ``{0: sample_count, 1: sum, 2: minimum, 3: maximum}`` (a dict of
  floats, untracked, where a list would be tracked), with ``stat_periods`` and
  ``older_stats`` as above.

:meth:`AggregationStore.seal` hands the whole generation over (to the delivery ledger) and
starts an empty one; :func:`entries` turns a sealed generation into compact entries
``(key, timestamp, payload, attempts)``, where ``payload`` is a ``{value: count}`` dict of at
most ``max_values`` items, or a ``(sample_count, sum, minimum, maximum)`` tuple.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice, repeat, starmap
from typing import TypeVar

from ._errors import CoreStateError
from ._events import check_key, check_timestamp
from ._limits import MAX_VALUE, MIN_NONZERO_VALUE
from ._model import Entry, MetricKey
from ._numbers import as_number, bad_value, check_count, check_value

__all__ = ["AggregationStore", "Generation", "entries", "quantizer"]

_Stat = dict[int, float]
_A = TypeVar("_A")


def quantizer(rel_error: float) -> Callable[[float], float]:
    """Map values to a logarithmic grid with relative error <= ``rel_error``."""
    gamma = (1.0 + rel_error) / (1.0 - rel_error)
    log_gamma = math.log(gamma)
    scale = 2.0 / (1.0 + gamma)

    def quantize(value: float) -> float:
        if value == 0.0:
            return 0.0
        index = math.ceil(math.log(abs(value)) / log_gamma)
        # Stay within what CloudWatch accepts: the grid point may lie just outside.
        rep = min(max(scale * gamma**index, MIN_NONZERO_VALUE), MAX_VALUE)
        return rep if value > 0 else -rep

    return quantize


class Generation:
    """Everything recorded between two seals, handed over whole (no copies)."""

    __slots__ = ("closed", "older", "older_stats", "periods", "stat_periods", "stats", "values")

    def __init__(self) -> None:
        self.values: dict[MetricKey, dict[float, float]] = {}
        self.periods: dict[MetricKey, float] = {}
        self.older: dict[tuple[MetricKey, float], dict[float, float]] = {}
        self.stats: dict[MetricKey, _Stat] = {}
        self.stat_periods: dict[MetricKey, float] = {}
        self.older_stats: dict[tuple[MetricKey, float], _Stat] = {}
        #: Datums closed early (a count or sum about to pass 2**360), sent beside the rest.
        self.closed: list[Entry] = []


def _stat_tuple(acc: _Stat) -> tuple[float, float, float, float]:
    return (acc[0], acc[1], acc[2], acc[3])


def _by_key(older: dict[tuple[MetricKey, float], _A]) -> dict[MetricKey, list[tuple[float, _A]]]:
    grouped: dict[MetricKey, list[tuple[float, _A]]] = {}
    for (key, ts), acc in older.items():
        grouped.setdefault(key, []).append((ts, acc))
    return grouped


def _split(key: MetricKey, ts: float, vals: dict[float, float], max_values: int) -> Iterator[Entry]:
    """``vals`` as datums of at most ``max_values`` values, in order. The sealed dict
    itself becomes the first one: the values after it are popped off its end (popping
    reads no value object; every other way of taking them out hashes each one again)
    and only they are copied."""
    extra = len(vals) - max_values
    if extra <= 0:
        yield (key, ts, vals, 0)
        return
    popped = list(starmap(vals.popitem, repeat((), extra)))  # a C-level loop, last first
    popped.reverse()
    yield (key, ts, vals, 0)
    rest = iter(popped)
    while chunk := dict(islice(rest, max_values)):
        yield (key, ts, chunk, 0)


def entries(gen: Generation, max_values: int) -> Iterator[Entry]:
    """The datums of a sealed generation, lazily, series by series (in the order they were
    first recorded; a series' other periods before its current one); value series split
    at ``max_values``. This consumes the generation: a split series' dict becomes its
    first datum (see :func:`_split`)."""
    yield from gen.closed
    older = _by_key(gen.older) if gen.older else {}
    periods = gen.periods
    for key, current in gen.values.items():
        if key in older:
            for ts, vals in (*older.pop(key), (periods[key], current)):
                yield from _split(key, ts, vals, max_values)
        elif len(current) <= max_values:
            yield (key, periods[key], current, 0)
        else:
            yield from _split(key, periods[key], current, max_values)
    older_stats = _by_key(gen.older_stats) if gen.older_stats else {}
    stat_periods = gen.stat_periods
    for key, acc in gen.stats.items():
        for ts, each in (*older_stats.pop(key, ()), (stat_periods[key], acc)):
            yield (key, ts, _stat_tuple(each), 0)


class AggregationStore:
    """Per-series accumulators for the current generation, and the recording counters.

    Args:
        max_values: values per datum (a series with more distinct values becomes several
            datums; ``live`` counts them).
        max_datums: datums per request: ``add_*`` returns True once ``live`` reaches it.
        quantize: optional value quantizer (see :func:`quantizer`).

    ``room`` is how many datums the store may still create before new data is dropped and
    counted in ``dropped_overflow``; the coordinator keeps it equal to the memory bound
    minus what the delivery ledger holds.
    """

    __slots__ = (
        "admit", "closed", "dropped_overflow", "gen", "live", "max_datums", "max_values",
        "pending", "periods", "quantize", "recorded", "room", "values",
    )

    def __init__(
        self,
        max_values: int,
        max_datums: int,
        room: int,
        quantize: Callable[[float], float] | None = None,
    ) -> None:
        self.max_values = max_values
        self.max_datums = max_datums
        self.room = room
        self.quantize = quantize
        #: Cardinality hook, asked only when a series is missing from the generation:
        #: ``admit(key, period, count)`` returns the key to record under (see _cardinality).
        self.admit: Callable[[MetricKey, float, float], MetricKey] | None = None
        #: Why recording is refused (the owner closed), or None while recording is open.
        self.closed: str | None = None
        #: Validated observations waiting for :meth:`fold`: ``(key, value, timestamp,
        #: count)``, count None for a statistic-set observation. Bounded in practice by
        #: the owner folding when ``enqueue_*`` says so (``FOLD_AT`` = 256).
        self.pending: deque[tuple[MetricKey, float, float, float | None]] = deque()
        self._start()
        #: Datums the current generation holds (a value series counts once per 150 values).
        self.live = 0
        #: Samples accepted (sum of counts / sample counts), overflow included.
        self.recorded = 0.0
        #: Samples dropped because ``room`` was exhausted.
        self.dropped_overflow = 0.0

    # ------------------------------------------------------------------ recording
    def enqueue_value(
        self, key: MetricKey, value: float, timestamp: float, count: float = 1.0
    ) -> bool:
        """Validate ``count`` observations of ``value`` at ``timestamp`` and queue them for
        the next :meth:`fold`: the recording path's one method.

        Lock-free: it only appends to a ``deque`` (atomic), so any number of threads may
        call it at once, and concurrently with the owner's locked calls. Errors are raised
        here, at the call; the key was validated when it was built. Nothing is queued when
        it raises.

        Returns:
            True when ``FOLD_AT`` observations wait: the owner should :meth:`fold` (under
            its lock) soon. Queued observations are folded by every read of the store's
            counters and by :meth:`seal`, so none is ever left out of a flush or the stats.

        Raises:
            CoreStateError: the owner closed the store (``closed`` says why).
            MetricTypeError: a wrong type (``key`` not a MetricKey, ``value`` not a number).
            InvalidMetricError: NaN/inf/out-of-range value, count <= 0, bad timestamp.
        """
        # Literal bounds are folded to constants by the compiler (the hot path); they are
        # MAX_VALUE, MIN_NONZERO_VALUE and MAX_EPOCH_SECONDS from _limits, which
        # test_limits_table_matches_the_hot_path checks. Other number types take the exact
        # check (same verdicts: 10**400 is too large, not inf).
        if value.__class__ is not float:
            value = check_value(value)
        elif not -(2.0**360) <= value <= 2.0**360 or (
            -(2.0**-360) < value < 2.0**-360 and value
        ):
            bad_value("Value", value)
        if count.__class__ is not float or count != 1.0:
            count = check_count(count)
        if timestamp.__class__ is not float:
            timestamp = as_number("Timestamp", timestamp)
        if not 0.0 < timestamp < 1e11:
            check_timestamp(timestamp)
        if key.__class__ is not MetricKey:
            check_key(key)
        # The closed check and the append run with no call between them: no other thread
        # and no signal handler can run in between (both wait for a call or a backward
        # jump), so nothing is queued after the owner closed. Validation above may run
        # user code (``__float__``), hence the check comes last.
        if self.closed is not None:
            raise CoreStateError(self.closed)
        pending = self.pending
        pending.append((key, value, timestamp, count))
        return len(pending) >= 256  # FOLD_AT

    def enqueue_statistic(self, key: MetricKey, value: float, timestamp: float) -> bool:
        """Validate one observation for the series' statistic set and queue it, as
        :meth:`enqueue_value` (same errors, same result)."""
        # Literal bounds are folded to constants by the compiler (the hot path); they are
        # MAX_VALUE, MIN_NONZERO_VALUE and MAX_EPOCH_SECONDS from _limits, which
        # test_limits_table_matches_the_hot_path checks. Other number types take the exact
        # check (same verdicts: 10**400 is too large, not inf).
        if value.__class__ is not float:
            value = check_value(value)
        elif not -(2.0**360) <= value <= 2.0**360 or (
            -(2.0**-360) < value < 2.0**-360 and value
        ):
            bad_value("Value", value)
        if timestamp.__class__ is not float:
            timestamp = as_number("Timestamp", timestamp)
        if not 0.0 < timestamp < 1e11:
            check_timestamp(timestamp)
        if key.__class__ is not MetricKey:
            check_key(key)
        if self.closed is not None:  # last, as in enqueue_value
            raise CoreStateError(self.closed)
        pending = self.pending
        pending.append((key, value, timestamp, None))
        return len(pending) >= 256  # FOLD_AT

    def add_value(
        self, key: MetricKey, value: float, timestamp: float, count: float = 1.0
    ) -> bool:
        """:meth:`enqueue_value` then :meth:`fold`: recorded at once (same errors).

        Returns:
            True when this call made the generation hold a full request's worth of datums.
        """
        self.enqueue_value(key, value, timestamp, count)
        return self.fold()

    def add_statistic(self, key: MetricKey, value: float, timestamp: float) -> bool:
        """:meth:`enqueue_statistic` then :meth:`fold` (as :meth:`add_value`)."""
        self.enqueue_statistic(key, value, timestamp)
        return self.fold()

    def fold(self) -> bool:
        """Fold the queued observations into the generation (call under the owner's lock;
        only one fold may run at a time). Observations queued meanwhile wait for the next.

        Returns:
            True when this fold made the generation hold a full request's worth of datums.
        """
        pending = self.pending
        if not pending:
            return False
        pop = pending.popleft
        quantize, admit, max_values = self.quantize, self.admit, self.max_values
        values, periods = self.values, self.periods
        gen = self.gen
        stats, stat_periods = gen.stats, gen.stat_periods
        full = False
        recorded = 0.0
        for _ in range(len(pending)):
            key, value, timestamp, count = pop()
            if count is None:  # a statistic-set observation (enqueue_statistic)
                acc = stats.get(key)
                if (
                    acc is not None
                    and quantize is None
                    and stat_periods[key] == timestamp - timestamp % key.storage_resolution
                    and -(2.0**360) <= acc[1] + value <= 2.0**360
                    and acc[0] + 1.0 <= 2.0**360
                ):  # the common case, merged here: add_statistics does the rest
                    acc[0] += 1.0
                    acc[1] += value
                    if value < acc[2]:
                        acc[2] = value
                    if value > acc[3]:
                        acc[3] = value
                    recorded += 1.0
                    continue
                full |= self.add_statistics(key, 1.0, value, value, value, timestamp)
                continue
            if quantize is not None:
                value = quantize(value)
            period = timestamp - timestamp % key.storage_resolution
            vals = values.get(key)
            if vals is None and admit is not None:
                key = admit(key, period, count)
                vals = values.get(key)
            if vals is not None and periods[key] != period:
                vals = self._swap_period(key, period)
            if vals is not None:
                seen = vals.get(value)
                if seen is not None:
                    total = seen + count
                    if total <= 2.0**360:  # MAX_VALUE, folded (see above)
                        vals[value] = total
                        recorded += count
                        continue
                    full |= self._close_value(key, period, vals, value, count)
                    continue
                if len(vals) % max_values:
                    vals[value] = count
                    recorded += count
                    continue
            # A new datum is needed: respect the memory bound before changing anything.
            recorded += count
            if self.live >= self.room:
                self.dropped_overflow += count
                continue
            if vals is None:
                gen = self.gen
                if key in periods:  # the series' current period becomes an older one
                    gen.older[(key, periods[key])] = values[key]
                vals = values[key] = {}
                periods[key] = period
            vals[value] = count
            self.live += 1
            if self.live >= self.max_datums:
                full = True
        self.recorded += recorded
        return full

    def _swap_period(self, key: MetricKey, period: float) -> dict[float, float] | None:
        """Make the series' accumulator for ``period`` its current one, if it has one
        (the current one becomes an older one); None (and no change) when it has none."""
        gen = self.gen
        vals = gen.older.pop((key, period), None)
        if vals is not None:
            gen.older[(key, gen.periods[key])] = gen.values[key]
            gen.values[key] = vals
            gen.periods[key] = period
        return vals

    def _close_value(
        self, key: MetricKey, period: float, vals: dict[float, float], value: float, count: float
    ) -> bool:
        """``value``'s accumulated count would pass 2**360: send what it holds as a datum
        of its own and start counting again (every datum stays within CloudWatch's range)."""
        self.recorded += count
        if self.live >= self.room:
            self.dropped_overflow += count
            return False
        self.gen.closed.append((key, period, {value: vals[value]}, 0))
        vals[value] = count
        self.live += 1
        return self.live >= self.max_datums

    def add_statistics(
        self, key: MetricKey, n: float, total: float, low: float, high: float, timestamp: float
    ) -> bool:
        """Merge a validated statistic set into the series' one for the period.

        Returns:
            True when the generation holds a full request's worth of datums.
        """
        if self.quantize is not None:
            low, high = self.quantize(low), self.quantize(high)
        period = timestamp - timestamp % key.storage_resolution
        gen = self.gen
        acc = gen.stats.get(key)
        if acc is None and self.admit is not None:
            key = self.admit(key, period, n)
            acc = gen.stats.get(key)
        if acc is not None and gen.stat_periods[key] != period:
            acc = gen.older_stats.pop((key, period), None)
            if acc is not None:
                gen.older_stats[(key, gen.stat_periods[key])] = gen.stats[key]
                gen.stats[key] = acc
                gen.stat_periods[key] = period
        if acc is not None:
            new_sum = acc[1] + total
            new_n = acc[0] + n
            if -MAX_VALUE <= new_sum <= MAX_VALUE and new_n <= MAX_VALUE:
                acc[0] = new_n
                acc[1] = new_sum
                if low < acc[2]:
                    acc[2] = low
                if high > acc[3]:
                    acc[3] = high
                self.recorded += n
                return False
        self.recorded += n
        if self.live >= self.room:
            self.dropped_overflow += n
            return False
        if acc is not None:
            # Merging would take Sum or SampleCount past 2**360, CloudWatch's limit: this
            # statistic set is complete; a second one for the same period starts here.
            gen.closed.append((key, period, _stat_tuple(acc), 0))
            acc[0], acc[1], acc[2], acc[3] = n, total, low, high
        else:
            if key in gen.stat_periods:  # the series' current period becomes an older one
                gen.older_stats[(key, gen.stat_periods[key])] = gen.stats[key]
            gen.stats[key] = {0: n, 1: total, 2: low, 3: high}
            gen.stat_periods[key] = period
        self.live += 1
        return self.live >= self.max_datums

    # ------------------------------------------------------------------ hand-over
    def seal(self) -> tuple[Generation, int] | None:
        """Hand the current generation over with its datum count; start an empty one.

        Returns:
            None when nothing was recorded since the last seal.
        """
        self.fold()
        if self.live == 0:
            return None
        gen, live = self.gen, self.live
        self._start()
        self.live = 0
        return gen, live

    def _start(self) -> None:
        self.gen = gen = Generation()
        # The current generation's hottest dicts, one attribute away from the recording path.
        self.values = gen.values
        self.periods = gen.periods
