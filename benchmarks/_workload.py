"""The one fixed, seeded workload every section uses (stdlib only, no project imports).

Same generator as :mod:`benchmarks.bench_core`: ``n_events`` events spread uniformly over
``n_series`` series (metric ``Latency``, unit ``Milliseconds``, dimensions ``Op``/``Host``),
values lognormal(3.0, 0.6) milliseconds rounded to 0.1 ms, seed 1.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

NAMESPACE = "Bench"
METRIC = "Latency"
UNIT = "Milliseconds"
FULL_EVENTS = 200_000
FULL_SERIES = 500
MAX_VALUES_PER_DATUM = 150
MAX_DATUMS_PER_REQUEST = 1000

#: One event as every contender's loop sees it: (series index, dimensions dict, value).
Event = tuple[int, dict[str, str], float]
SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]


def series_dimensions(index: int) -> dict[str, str]:
    """The dimensions of series ``index`` (as in bench_core)."""
    return {"Op": f"op{index % 50}", "Host": f"h{index // 50}"}


@dataclass
class Workload:
    """Events plus the exact expected per-series aggregates."""

    n_events: int
    n_series: int
    seed: int
    dims: list[dict[str, str]]
    events: list[Event]
    distinct: list[int] = field(default_factory=list)

    def expected(self, limit: int | None = None) -> dict[SeriesKey, tuple[float, float]]:
        """Per series: (SampleCount, exactly rounded Sum) of the first ``limit`` events
        (``math.fsum`` is correctly rounded: the same float as summing exact fractions)."""
        values: dict[int, list[float]] = {}
        for s, _dims, value in self.events[:limit]:
            values.setdefault(s, []).append(value)
        return {self.series_key(s): (float(len(v)), math.fsum(v)) for s, v in values.items()}

    def series_key(self, index: int) -> SeriesKey:
        """The key :meth:`LocalCloudWatch.series` uses for series ``index``."""
        return (NAMESPACE, METRIC, tuple(sorted(self.dims[index].items())))

    @property
    def ideal_datums(self) -> int:
        """Fewest datums the limits allow: sum over series of ceil(distinct values / 150)."""
        return sum(math.ceil(d / MAX_VALUES_PER_DATUM) for d in self.distinct if d)

    @property
    def ideal_requests_by_count(self) -> int:
        """ceil(ideal datums / 1000): the request floor from the datum-count limit alone."""
        return math.ceil(self.ideal_datums / MAX_DATUMS_PER_REQUEST)


def make_workload(
    n_events: int = FULL_EVENTS, n_series: int = FULL_SERIES, seed: int = 1
) -> Workload:
    """Build the workload (deterministic for given arguments)."""
    rng = random.Random(seed)
    dims = [series_dimensions(i) for i in range(n_series)]
    events: list[Event] = []
    seen: list[set[float]] = [set() for _ in range(n_series)]
    for _ in range(n_events):
        s = rng.randrange(n_series)
        value = round(rng.lognormvariate(3.0, 0.6), 1)
        events.append((s, dims[s], value))
        seen[s].add(value)
    return Workload(n_events, n_series, seed, dims, events, [len(v) for v in seen])
