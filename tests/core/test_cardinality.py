"""The cardinality guard: a bound on distinct dimension sets per metric per window."""

from __future__ import annotations

import pytest

from cwmetrics_core import (
    OVERFLOW_MARKER,
    CardinalityGuard,
    CoreConfig,
    InvalidConfigError,
    MetricKey,
    MetricsCore,
)

from .conftest import T0, make_core


def _sent(core: MetricsCore, now: float) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(metric name, dimensions) -> samples, of everything the core sends now."""
    core.flush(now)
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for batch in core.batches_to_send(now):
        core.ack(batch, now)
        for datum in batch.request.datums:
            k = (datum.key.name, datum.key.dimensions)
            out[k] = out.get(k, 0.0) + datum.samples
    return out


def key(name: str, route: str, method: str = "GET") -> MetricKey:
    return MetricKey("App", name, {"Route": route, "Method": method}, "Milliseconds")


def test_past_the_bound_new_series_fold_into_one_overflow_series() -> None:
    core = make_core(max_series_per_metric=3)
    for i in range(10):
        core.record_value(key("Latency", f"/u/{i}"), 1.0 + i, T0)
        core.record_value(key("Latency", f"/u/{i}"), 1.0 + i, T0)  # the series again
    stats = core.stats
    assert stats.folded_samples == 14.0  # 7 series past the bound, 2 samples each
    assert stats.custom_metrics == 4  # 3 admitted + the overflow series
    sent = _sent(core, T0)
    overflow = (("Method", OVERFLOW_MARKER), ("Route", OVERFLOW_MARKER))
    assert sent[("Latency", overflow)] == 14.0
    assert sorted(sent) == sorted(
        [("Latency", overflow)]
        + [("Latency", (("Method", "GET"), ("Route", f"/u/{i}"))) for i in range(3)]
    )
    assert sum(sent.values()) == 20.0 == core.stats.sent_samples  # nothing lost
    assert core.cardinality.last_folded == key("Latency", "/u/9")


def test_the_bound_is_per_metric_and_dimensionless_metrics_pass() -> None:
    core = make_core(max_series_per_metric=2)
    for i in range(2):
        core.record_value(key("A", f"/{i}"), 1.0, T0)
        core.record_value(key("B", f"/{i}"), 1.0, T0)
    core.record_value(MetricKey("App", "A"), 1.0, T0)  # no dimensions: never folded
    assert core.stats.folded_samples == 0.0
    core.record_value(key("A", "/x"), 1.0, T0)
    assert core.stats.folded_samples == 1.0
    assert core.stats.custom_metrics == 6  # A: 2 + overflow, B: 2, A without dimensions


def test_known_series_keep_recording_across_flushes_and_a_new_window_resets() -> None:
    core = make_core(max_series_per_metric=1, series_window=3600.0)
    start = T0 - T0 % 3600
    core.record_value(key("L", "/a"), 1.0, start + 10)
    _sent(core, start + 10)
    core.record_value(key("L", "/a"), 1.0, start + 70)  # a new generation: still admitted
    core.record_value(key("L", "/b"), 1.0, start + 70)  # folded
    assert core.stats.folded_samples == 1.0
    _sent(core, start + 70)
    core.record_value(key("L", "/b"), 1.0, start + 3600)  # next window: room again
    assert core.stats.folded_samples == 1.0
    assert core.stats.custom_metrics == 1
    sent = _sent(core, start + 3600)
    assert sent == {("L", (("Method", "GET"), ("Route", "/b"))): 1.0}


def test_statistic_sets_are_guarded_too() -> None:
    core = make_core(max_series_per_metric=1)
    core.record_statistics(key("S", "/a"), 2, 3.0, 1.0, 2.0, T0)
    core.record_statistics(key("S", "/b"), 4, 8.0, 1.0, 3.0, T0)
    assert core.stats.folded_samples == 4.0
    overflow = (("Method", OVERFLOW_MARKER), ("Route", OVERFLOW_MARKER))
    assert _sent(core, T0)[("S", overflow)] == 4.0


def test_off_switch_never_folds_but_still_estimates() -> None:
    core = make_core(max_series_per_metric=None)
    for i in range(2000):
        core.record_value(key("L", f"/{i}"), 1.0, T0)
    assert core.stats.folded_samples == 0.0
    assert core.stats.custom_metrics == 2000


def test_default_bound_is_1000_per_metric_per_hour() -> None:
    config = CoreConfig()
    assert config.max_series_per_metric == 1000 and config.series_window == 3600.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_series_per_metric", 0),
        ("max_series_per_metric", 1.5),
        ("max_series_per_metric", True),
        ("series_window", 0),
        ("series_window", float("inf")),
        ("series_window", "60"),
    ],
)
def test_bad_guard_settings_name_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidConfigError, match=field) as err:
        CoreConfig(**{field: value})  # type: ignore[arg-type]
    assert isinstance(err.value, ValueError)


def test_guard_alone_is_pure_and_forgets_stale_metrics() -> None:
    guard = CardinalityGuard(1, 60.0)
    a, b = key("A", "/a"), key("B", "/b")
    assert guard.admit(a, 0.0, 1.0) is a
    assert guard.admit(b, 60.0, 1.0) is b  # a new window: A's is forgotten
    assert guard.custom_metrics == 1
    folded = guard.admit(key("B", "/c"), 60.0, 2.0)
    assert folded.dimensions == (("Method", OVERFLOW_MARKER), ("Route", OVERFLOW_MARKER))
    assert folded.unit == b.unit and guard.folded_samples == 2.0
    assert guard.admit(folded, 60.0, 1.0) is folded  # the overflow series itself passes
