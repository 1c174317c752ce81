"""Bad input tried: property-based fuzzing of every public recording call.

The guarantee: a recording call either records (the reporter's ``recorded`` grows by
exactly the call's samples) or raises an error that is a ``cwmetrics_core.UsageError``
and a ``ValueError`` or ``TypeError``, changing nothing. With ``errors="log"`` it never
raises: a rejected call is counted in ``invalid_dropped``. The reporter keeps sending
while the fuzzer records, never crashes, and a reference series recorded before the
fuzzing is delivered exactly afterwards.

The number of examples each test ran is printed in the ``reliability figures`` summary.
"""

from __future__ import annotations

import math
import numbers
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudwatch_metrics_client import (
    CloudWatchAsyncMetrics,
    CloudWatchSyncMetricReporter,
    CloudWatchSyncMetrics,
    Metrics,
    ReporterStats,
)
from cwmetrics_core import CoreConfig, Limits, Unit, UsageError
from cwmetrics_transports import DryRunTransport
from cwmetrics_transports.testing import LocalCloudWatch

from .conftest import (
    Harness,
    StubEndpoint,
    Workload,
    assert_exactly_once,
    fast_config,
    make_transport,
    stored_samples,
    wait_idle,
)

Figures = Callable[[str, object], None]
#: Examples per fuzzed API; raise it for a deeper run (RELIABILITY_FUZZ_EXAMPLES=5000).
EXAMPLES = int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "150"))
#: The same examples on every run unless RELIABILITY_FUZZ_EXPLORE is set (new ones each run).
DERANDOMIZE = "RELIABILITY_FUZZ_EXPLORE" not in os.environ
SUPPRESSED = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]


class FloatLike(float):
    """Stands in for ``numpy.float64`` (a float subclass); numpy is not installed."""


class IntLike:
    """Stands in for ``numpy.int64``: a registered ``numbers.Integral`` with ``__index__``."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value

    def __int__(self) -> int:
        return self.value

    def __float__(self) -> float:
        return float(self.value)

    def __repr__(self) -> str:
        return f"IntLike({self.value})"


numbers.Integral.register(IntLike)


class Junk:
    """An arbitrary object, as a user's bug would pass."""

    def __repr__(self) -> str:
        return "Junk()"


# ----------------------------------------------------------------------------- strategies

TEXT = st.text(max_size=40)
NAMES = st.one_of(
    st.text(min_size=1, max_size=20),
    st.text(max_size=300),
    st.sampled_from(["", " ", "\t", "a" * 255, "a" * 256, "é", "Latency\x00", ":x", "AWS/x"]),
    st.none(), st.integers(), st.binary(max_size=8), st.builds(Junk),
)  # fmt: skip
NUMBERS = st.one_of(
    st.floats(),  # NaN, +-inf, -0.0, subnormals, huge
    # Beyond float range: see test_numbers_beyond_float_range_are_usage_errors (a bug).
    st.integers(min_value=-(10**300), max_value=10**300),
    st.sampled_from([0.0, -0.0, 5e-324, 2.0**-360, 2.0**-361, 2.0**360, 2.0**361, 1e308]),
    # Signalling NaN: see test_signalling_nan_count_is_a_usage_error (a bug).
    st.decimals(allow_nan=True).filter(lambda d: not d.is_snan()),
    st.fractions(-(10**300), 10**300),
    st.builds(FloatLike, st.floats()), st.builds(IntLike, st.integers(-(2**70), 2**70)),
    st.text(max_size=5), st.none(), st.booleans(), st.complex_numbers(), st.builds(Junk),
)  # fmt: skip
UNITS = st.one_of(
    st.sampled_from(list(Unit)),
    st.sampled_from([u.value for u in Unit] + [u.value.upper() for u in Unit]),
    st.none(), TEXT, st.integers(), st.builds(Junk),
)  # fmt: skip
DIM_TEXT = st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "é", "a" * 1025, ":n"]))
DIMENSIONS = st.one_of(
    st.none(),
    st.dictionaries(DIM_TEXT, DIM_TEXT, max_size=4),
    st.dictionaries(st.text(min_size=1, max_size=3), st.text(min_size=1), min_size=29,
                    max_size=32),
    st.lists(st.tuples(DIM_TEXT, DIM_TEXT), max_size=4),
    st.lists(st.fixed_dictionaries({"Name": DIM_TEXT, "Value": DIM_TEXT}), max_size=4),
    st.lists(st.fixed_dictionaries({"Name": DIM_TEXT, "Value": DIM_TEXT, "Extra": TEXT}),
             max_size=2),
    st.lists(st.lists(DIM_TEXT, max_size=3), max_size=3),
    st.dictionaries(DIM_TEXT, NUMBERS, max_size=2),
    st.lists(TEXT, max_size=3), TEXT, st.integers(), st.builds(Junk),
)  # fmt: skip


@dataclass(frozen=True)
class FromNow:
    """A timestamp ``offset`` seconds from the moment of the call (epoch or datetime).

    Strategies must not read the clock (hypothesis replays them), so the fuzzer draws
    the offset and the call resolves it.
    """

    offset: float
    as_datetime: bool

    def resolve(self) -> float | datetime:
        if self.as_datetime:
            return datetime.now(timezone.utc) + timedelta(seconds=self.offset)
        return time.time() + self.offset


OFFSETS = st.one_of(
    st.floats(-20 * 86400, 5 * 3600),
    st.sampled_from([-14 * 86400 - 1, -14 * 86400 + 1, -14 * 86400 + 400, 7199.0, 7201.0]),
)
TIMESTAMPS = st.one_of(
    st.none(),
    st.builds(FromNow, OFFSETS, st.booleans()),
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.datetimes(),  # naive: read as UTC
    st.datetimes(timezones=st.one_of(
        st.just(timezone.utc),
        st.builds(timezone, st.timedeltas(-timedelta(hours=23), timedelta(hours=23))),
    )),
    st.sampled_from(["2024-01-01T00:00:00Z", "now", ""]), st.booleans(), st.builds(Junk),
)  # fmt: skip


def resolved(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with :class:`FromNow` placeholders replaced by real timestamps."""
    return {k: v.resolve() if isinstance(v, FromNow) else v for k, v in kwargs.items()}


RESOLUTIONS = st.one_of(
    st.sampled_from([1, 60, 1.0, 60.0, 0, 30, True, -1]), st.integers(), st.floats(), TEXT
)
STATISTIC_VALUES = st.one_of(
    st.fixed_dictionaries(
        {"SampleCount": NUMBERS, "Sum": NUMBERS, "Minimum": NUMBERS, "Maximum": NUMBERS}
    ),
    st.builds(
        lambda n, lo, span: {"SampleCount": n, "Sum": n * (lo + span / 2), "Minimum": lo,
                             "Maximum": lo + span},
        st.integers(1, 100), st.integers(-1000, 1000), st.integers(0, 1000),
    ),
    st.dictionaries(st.sampled_from(["SampleCount", "Sum", "Minimum", "Maximum", "x"]), NUMBERS),
    st.none(), st.lists(NUMBERS, max_size=4), TEXT,
)  # fmt: skip


ASCII = st.characters(min_codepoint=32, max_codepoint=126)
VALID: dict[str, st.SearchStrategy[Any]] = {
    "name": st.from_regex(r"[A-Za-z][A-Za-z0-9_.\-é ]{0,30}", fullmatch=True),
    "value": st.one_of(
        st.integers(-(10**6), 10**6), st.fractions(max_denominator=100),
        st.floats(-1e100, 1e100).filter(lambda x: x == 0 or abs(x) >= 1e-100),
        st.builds(FloatLike, st.floats(-1e6, 1e6)), st.builds(IntLike, st.integers(-100, 100)),
    ),
    "unit": st.one_of(st.none(), st.sampled_from(list(Unit)),
                      st.sampled_from([u.value for u in Unit])),
    "timer_unit": st.sampled_from(["Seconds", "Milliseconds", "Microseconds", Unit.SECONDS]),
    "dimensions": st.one_of(
        st.none(),
        st.dictionaries(st.text(ASCII, min_size=1, max_size=8).filter(str.strip),
                        st.text(ASCII, min_size=1, max_size=8).filter(str.strip), max_size=4),
        st.lists(st.fixed_dictionaries({"Name": st.sampled_from("ABC"),
                                        "Value": st.sampled_from("xyz")}),
                 max_size=3, unique_by=lambda d: d["Name"]),
    ),
    "timestamp": st.one_of(
        st.none(), st.builds(FromNow, st.floats(-13 * 86400, 3600), st.booleans())
    ),
    "count": st.one_of(st.integers(1, 5), st.floats(0.5, 10.0), st.fractions(1, 10)),
    "storage_resolution": st.sampled_from([1, 60, 1.0, 60.0]),
    "statistic_values": st.builds(
        lambda n, lo, span: {"SampleCount": n, "Sum": n * lo + span, "Minimum": lo,
                             "Maximum": lo + span},
        st.integers(1, 100), st.integers(-1000, 1000), st.integers(0, 1000),
    ),
    "extra": st.lists(st.tuples(st.sampled_from("DEF"), st.sampled_from("uvw")), max_size=3),
}  # fmt: skip
WILD: dict[str, st.SearchStrategy[Any]] = {
    "name": NAMES, "value": NUMBERS, "unit": UNITS, "timer_unit": UNITS,
    "dimensions": DIMENSIONS, "timestamp": TIMESTAMPS, "count": NUMBERS,
    "storage_resolution": RESOLUTIONS, "statistic_values": STATISTIC_VALUES,
    "extra": st.lists(st.tuples(DIM_TEXT, st.one_of(DIM_TEXT, NUMBERS)), max_size=3),
}  # fmt: skip


@dataclass
class Call:
    """One fuzzed recording call: which API, its arguments, what it should add."""

    api: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def samples(self) -> float:
        """Samples the call adds when it succeeds."""
        kw = self.kwargs
        if self.api in ("put_value", "sync.put_metric", "async.put_metric"):
            count = kw.get("count", kw.get("Count", 1.0))
            return float(count)
        if self.api in ("put_statistic", "sync.put_statistic", "async.put_statistic"):
            stats = kw.get("statistic_values", kw.get("StatisticValues"))
            return 1.0 if stats is None else float(stats["SampleCount"])
        return 1.0  # a timed block or monitored call


@st.composite
def calls(draw: st.DrawFn, api: str) -> Call:
    """A call of ``api``: up to three arguments wild (anything at all), the rest valid,
    optional ones sometimes left out."""
    wild = draw(st.sets(st.sampled_from(sorted(VALID)), max_size=3))

    def pick(field: str) -> Any:
        return draw(WILD[field] if field in wild else VALID[field])

    def options(**fields: str) -> dict[str, Any]:
        chosen = {}
        for keyword, field in fields.items():
            if field in wild or draw(st.booleans()):
                chosen[keyword] = pick(field)
        return chosen

    name, value = pick("name"), pick("value")
    if api == "put_value":
        kw = options(unit="unit", dimensions="dimensions", timestamp="timestamp",
                     count="count", storage_resolution="storage_resolution")  # fmt: skip
        return Call(api, (name, value), kw)
    if api == "put_statistic":
        kw = options(unit="unit", dimensions="dimensions", timestamp="timestamp",
                     statistic_values="statistic_values",
                     storage_resolution="storage_resolution")  # fmt: skip
        keep_value = "statistic_values" not in kw or draw(st.integers(0, 9)) == 0
        return Call(api, (name, value) if keep_value else (name,), kw)
    if api.endswith(".put_metric"):
        kw = options(Unit="unit", Dimensions="dimensions", Timestamp="timestamp",
                     StorageResolution="storage_resolution", Count="count")  # fmt: skip
        return Call(api, (), {"MetricName": name, "Value": value, **kw})
    if api.endswith(".put_statistic"):
        kw = options(Unit="unit", Dimensions="dimensions", Timestamp="timestamp",
                     StorageResolution="storage_resolution",
                     StatisticValues="statistic_values")  # fmt: skip
        if "StatisticValues" not in kw or draw(st.integers(0, 9)) == 0:
            kw["Value"] = value
        return Call(api, (), {"MetricName": name, **kw})
    if api in ("timer", "monitored_task"):
        kw = options(unit="timer_unit", dimensions="dimensions")
        return Call(api, (name, pick("extra")), kw)
    raise ValueError(api)


# ----------------------------------------------------------------------------- invocation

SYNC_APIS = ["put_value", "put_statistic", "sync.put_metric", "sync.put_statistic", "timer",
             "monitored_task"]  # fmt: skip
ASYNC_APIS = ["async.put_metric", "async.put_statistic"]


def invoke(call: Call, harness: Harness) -> float:
    """Make ``call``; return extra samples recorded by a failure count (timers)."""
    metrics = harness.metrics
    call = Call(call.api, call.args, resolved(call.kwargs))
    if call.api == "put_value":
        metrics.put_value(*call.args, **call.kwargs)
    elif call.api == "put_statistic":
        metrics.put_statistic(*call.args, **call.kwargs)
    elif call.api == "sync.put_metric":
        CloudWatchSyncMetrics.put_metric(**call.kwargs)
    elif call.api == "sync.put_statistic":
        CloudWatchSyncMetrics.put_statistic(**call.kwargs)
    elif call.api.startswith("async."):
        assert harness.loop is not None
        method = getattr(CloudWatchAsyncMetrics, call.api.partition(".")[2])

        async def on_the_loop() -> None:
            await method(**call.kwargs)

        harness.loop.run(on_the_loop(), 5.0)
    elif call.api == "timer":
        name, extra = call.args
        with metrics.timer(name, **call.kwargs) as run:
            pass
        assert run.duration is not None and run.duration >= 0
    elif call.api == "monitored_task":
        name, extra = call.args
        failures = 0.0

        @CloudWatchSyncMetrics.monitored_task(metric_name=name, **call.kwargs)
        def handler() -> None:
            for dim_name, dim_value in extra:
                CloudWatchSyncMetrics.with_monitored_dimension(dim_name, dim_value)

        try:
            handler()
        except UsageError:
            failures = 1.0  # the call raised: timed and counted in <name>Failures
            raise _RaisedInside(failures) from None
        return failures
    else:
        raise ValueError(call.api)
    return 0.0


class _RaisedInside(Exception):
    """A monitored call raised a UsageError from with_monitored_dimension()."""

    def __init__(self, failures: float) -> None:
        self.failures = failures


#: Building a timer (Metrics.timer, or the monitored_task decorator) still raises with
#: errors="log": see test_errors_log_mode_never_raises_from_timers.
RAISE_EVEN_IN_LOG_MODE = frozenset({"timer", "monitored_task"})


def _check_error(exc: BaseException) -> None:
    assert isinstance(exc, UsageError), f"{type(exc).__name__}: {exc}"
    assert isinstance(exc, (ValueError, TypeError)), f"{type(exc).__mro__}"


def _fuzz(call: Call, harness: Harness, errors: str) -> str:
    """Make one call and check the guarantee; return "recorded" or "rejected"."""
    before = harness.stats
    try:
        invoke(call, harness)
    except _RaisedInside as raised:
        # The decorated call itself ran and raised our UsageError: its timing and its
        # failure count were recorded (never raising into the timer's caller).
        after = harness.stats
        assert after.recorded == before.recorded + 1.0 + raised.failures
        return "rejected"
    except Exception as exc:  # noqa: BLE001 - checked below
        _check_error(exc)
        assert errors == "raise" or call.api in RAISE_EVEN_IN_LOG_MODE, f"raised {exc!r}"
        after = harness.stats
        assert after.recorded == before.recorded  # nothing changed
        assert after.invalid_dropped == before.invalid_dropped
        return "rejected"
    after = harness.stats
    dropped = after.invalid_dropped - before.invalid_dropped
    if dropped and call.api == "monitored_task":
        # errors="log": each bad with_monitored_dimension() is counted and left out;
        # the call itself is still timed.
        assert errors == "log"
        assert after.recorded == before.recorded + 1.0
        return "rejected"
    if dropped:
        assert errors == "log" and dropped == 1
        assert after.recorded == before.recorded
        return "rejected"
    assert after.recorded == before.recorded + call.samples(), call
    return "recorded"


@pytest.mark.time_limit(120)
@pytest.mark.parametrize("errors", ["raise", "log"])
@pytest.mark.parametrize("api", SYNC_APIS + ASYNC_APIS)
def test_fuzzed_calls_record_or_raise_a_usage_error(
    stub_endpoint: StubEndpoint, api: str, errors: str, figures: Figures
) -> None:
    """Arbitrary names, dimensions (dicts, boto3 lists, junk), units, values (NaN, inf,
    huge, tiny, -0.0, strings, None, bools, Decimals, numpy-like), timestamps (naive and
    aware datetimes, far past and future, strings) and counts: every call records or
    raises a UsageError that is a ValueError/TypeError (with ``errors="log"``: never
    raises, counts instead); the reporter keeps sending and never crashes; the
    reference series recorded first arrives exactly.

    The endpoint is the counting stub: fuzzed counts up to 2**360 are valid CloudWatch
    input, and moto (behind LocalCloudWatch) would store each sample as an object.
    """
    mode = "async" if api.startswith("async.") else "sync"
    harness = Harness(
        mode, make_transport("httpx", stub_endpoint, timeout=5.0), namespace="Rel/Fuzz",
        config=fast_config(), errors=errors,
    )  # fmt: skip
    facade = CloudWatchAsyncMetrics if mode == "async" else CloudWatchSyncMetrics
    facade.with_namespace("Rel/Fuzz").with_reporter(harness.reporter)
    reference = Workload("Rel/FuzzReference")
    try:
        harness.start()
        harness.record(lambda m: reference.record(Metrics("Rel/FuzzReference", m.reporter), 200))
        outcomes = {"recorded": 0, "rejected": 0}

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=DERANDOMIZE,
                  suppress_health_check=SUPPRESSED)  # fmt: skip
        @given(call=calls(api))
        def check(call: Call) -> None:
            outcomes[_fuzz(call, harness, errors)] += 1

        check()
        assert harness.flush(20)
        stats = harness.stats
    finally:
        harness.close()
    assert stats.background_errors == 0
    # Fractional counts: compare datums, not float sample differences (see
    # test_buffered_is_exactly_zero_after_a_complete_flush_with_fractional_counts).
    assert stats.core.buffered_datums == 0 and stats.core.in_flight_batches == 0
    assert stats.core.dropped_invalid == stats.core.dropped_rejected == 0
    for key, (count, total) in reference.expected.items():
        assert stub_endpoint.series[key] == [count, total]
    received = math.fsum(stub_endpoint.samples.values())
    assert math.isclose(received + stats.dropped, stats.recorded, rel_tol=1e-12)
    assert outcomes["recorded"] > 0 and outcomes["rejected"] > 0
    figures("examples", sum(outcomes.values()))
    figures("recorded/rejected", f"{outcomes['recorded']}/{outcomes['rejected']}")


# ----------------------------------------------------------------------------- strict end to end

PLAUSIBLE_VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0.0, -0.0, 2.0**-360, 2.0**360, -(2.0**360), 1e-200]),
)
PLAUSIBLE_DIMS = st.dictionaries(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=20),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=40),
    max_size=5,
)


@st.composite
def plausible_calls(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "name": draw(st.text(min_size=1, max_size=255)),
        "value": draw(PLAUSIBLE_VALUES),
        "unit": draw(st.sampled_from([None, *Unit])),
        "dimensions": draw(PLAUSIBLE_DIMS),
        "timestamp": draw(
            st.one_of(
                st.none(), st.builds(FromNow, st.floats(-15 * 86400, 3 * 3600), st.booleans())
            )
        ),
        "count": draw(st.integers(1, 3)),
        "storage_resolution": draw(st.sampled_from([1, 60])),
    }


@pytest.mark.time_limit(120)
def test_what_we_accept_the_strict_service_accepts(
    local_cloudwatch: LocalCloudWatch, figures: Figures
) -> None:
    """Plausible-but-edgy input (any Unicode metric name up to 255 characters, printable
    ASCII dimensions, extreme and special floats, timestamps around the two-week and
    two-hour limits, both resolutions) recorded with ``put_value``: whatever our
    validation lets through, the strict endpoint accepts. Nothing is rejected by the
    service (``dropped_invalid == dropped_rejected == 0``); only datums that aged past
    the window while queued are dropped (``dropped_expired``), and the reference
    series arrives exactly."""
    cw = local_cloudwatch
    harness = Harness(
        "sync", make_transport("httpx", cw, timeout=10.0), namespace="Rel/FuzzStrict",
        config=fast_config(flush_interval=0.2),
    )  # fmt: skip
    reference = Workload("Rel/FuzzStrictReference")
    counts = {"recorded": 0, "rejected": 0}
    try:
        harness.start()
        reference.record(Metrics("Rel/FuzzStrictReference", harness.reporter), 200)

        @settings(max_examples=2 * EXAMPLES, deadline=None, database=None, derandomize=DERANDOMIZE,
                  suppress_health_check=SUPPRESSED)  # fmt: skip
        @given(kwargs=plausible_calls())
        def check(kwargs: dict[str, Any]) -> None:
            kwargs = resolved(kwargs)
            name, value = kwargs.pop("name"), kwargs.pop("value")
            before = harness.stats.recorded
            try:
                harness.metrics.put_value(name, value, **kwargs)
            except Exception as exc:  # noqa: BLE001 - checked below
                _check_error(exc)
                counts["rejected"] += 1
                assert harness.stats.recorded == before
            else:
                counts["recorded"] += 1
                assert harness.stats.recorded == before + kwargs["count"]

        check()
        assert harness.flush(30)
        stats: ReporterStats = harness.stats
    finally:
        harness.close()
    wait_idle(cw)
    rejected_by_service = cw.stats().put_rejected
    assert stats.core.dropped_invalid == 0 and stats.core.dropped_rejected == 0, rejected_by_service
    assert stats.dropped == stats.core.dropped_expired
    total = stored_samples(cw, "Rel/FuzzStrict") + stored_samples(cw, "Rel/FuzzStrictReference")
    assert total + stats.dropped == stats.recorded
    assert_exactly_once(cw, reference)
    figures("examples", sum(counts.values()))
    figures("recorded/rejected", f"{counts['recorded']}/{counts['rejected']}")
    figures("dropped_expired", stats.core.dropped_expired)


# ----------------------------------------------------------------------------- found by fuzzing
# Each test below is a minimal reproduction of an input the fuzzer found mishandled.
# They run against DryRunTransport: the defect is at the API edge, not on the wire.


def _dry(errors: str = "raise", **kwargs: Any) -> CloudWatchSyncMetricReporter:
    return CloudWatchSyncMetricReporter(
        transport=DryRunTransport(), flush_on_exit=False, errors=errors, **kwargs
    )


HUGE = 10**400  # an int (or Fraction) beyond float range


@pytest.mark.parametrize("field", ["value", "count", "timestamp", "statistic", "fraction"])
def test_numbers_beyond_float_range_are_usage_errors(field: str) -> None:
    """An int or Fraction too large for a float is rejected like any out-of-range
    number: InvalidMetricError (a ValueError), nothing recorded."""
    reporter = _dry()
    metrics = Metrics("Rel/Huge", reporter)
    calls: dict[str, Callable[[], None]] = {
        "value": lambda: metrics.put_value("m", -HUGE),
        "count": lambda: metrics.put_value("m", 1, count=HUGE),
        "timestamp": lambda: metrics.put_value("m", 1, timestamp=HUGE),
        "statistic": lambda: metrics.put_statistic(
            "m", statistic_values={"SampleCount": 1, "Sum": HUGE, "Minimum": 0, "Maximum": 1}
        ),
        "fraction": lambda: metrics.put_value("m", Fraction(HUGE, 3)),
    }
    with pytest.raises(UsageError) as info:
        calls[field]()
    assert isinstance(info.value, ValueError)
    assert reporter.stats.recorded == 0


def test_signalling_nan_count_is_a_usage_error() -> None:
    """``count=Decimal("sNaN")`` is rejected as a wrong type (Decimal is not a real
    number here), like any other Decimal count, instead of raising
    ``decimal.InvalidOperation`` from a comparison."""
    reporter = _dry()
    with pytest.raises(UsageError) as info:
        Metrics("Rel/sNaN", reporter).put_value("m", 1, count=Decimal("sNaN"))
    assert isinstance(info.value, TypeError)
    assert reporter.stats.recorded == 0


def test_timer_failure_count_is_not_lost_for_long_names() -> None:
    """A timer whose name is valid but leaves no room for the ``Failures`` suffix is
    either refused when created, or counts its failures: never silently loses them."""
    reporter = _dry()
    metrics = Metrics("Rel/LongTimer", reporter)
    try:
        timer = metrics.timer("n" * 250)
    except UsageError:
        return
    with pytest.raises(KeyError), timer:
        raise KeyError("boom")
    assert reporter.stats.recorded == 2  # the duration and the failure


def test_monitored_dimensions_beyond_the_limit_are_refused_where_set() -> None:
    """A monitored call whose fixed dimensions plus ``with_monitored_dimension`` ones
    would exceed 30 gets an error from the call that adds the 31st, instead of losing
    the call's timing silently at exit."""
    reporter = _dry()
    CloudWatchSyncMetrics.with_namespace("Rel/Dims").with_reporter(reporter)

    @CloudWatchSyncMetrics.monitored_task(
        metric_name="Handler", dimensions={f"D{i}": "v" for i in range(29)}
    )
    def handler() -> None:
        CloudWatchSyncMetrics.with_monitored_dimension("M1", "a")
        CloudWatchSyncMetrics.with_monitored_dimension("M2", "b")

    with pytest.raises(UsageError):
        handler()
    assert reporter.stats.recorded == 2  # the timing (30 dimensions) and the failure


def test_errors_log_mode_never_raises_from_timers() -> None:
    """``errors="log"`` promises that a bad metric call is logged, counted and dropped,
    never raised: that holds for ``Metrics.timer()`` too."""
    reporter = _dry(errors="log")
    timer = Metrics("Rel/LogMode", reporter).timer("")
    with timer:
        pass
    assert reporter.stats.invalid_dropped >= 1 and reporter.stats.recorded == 0


def test_errors_log_mode_never_raises_from_monitored_dimensions() -> None:
    """``errors="log"``: a bad ``with_monitored_dimension()`` inside a monitored call is
    logged, counted and dropped; the call itself is timed without it."""
    reporter = _dry(errors="log")
    CloudWatchSyncMetrics.with_namespace("Rel/LogMode").with_reporter(reporter)

    @CloudWatchSyncMetrics.monitored_task
    def handler() -> str:
        CloudWatchSyncMetrics.with_monitored_dimension("", "x")
        return "done"

    assert handler() == "done"
    assert reporter.stats.invalid_dropped == 1 and reporter.stats.recorded == 1


def test_buffered_is_exactly_zero_after_a_complete_flush_with_fractional_counts() -> None:
    """Fractional counts are allowed; once everything is delivered the reporter says
    so exactly: ``stats.buffered == 0`` and ``stop()`` returns True, also when called
    again (it is idempotent)."""
    rng = random.Random(1)
    reporter = _dry(config=CoreConfig(limits=Limits(max_datums_per_request=3)))
    metrics = Metrics("Rel/Fractional", reporter)
    for i in range(20):
        metrics.put_value(f"m{i % 7}", i, count=rng.uniform(0.5, 10))
    assert reporter.flush(5)
    assert reporter.stats.core.buffered_datums == 0
    assert reporter.stats.buffered == 0
    assert reporter.stop() and reporter.stop()


@pytest.mark.parametrize(
    ("cached", "junk"),
    [
        ([("A", "B")], ["AB"]),  # a 2-character string is not a (name, value) pair
        ([{"Name": "A", "Value": "1"}], [{"Name": "A", "Value": "1", "Extra": "x"}]),
    ],
    ids=["string-as-pair", "boto3-entry-with-extra-key"],
)
def test_validation_does_not_depend_on_what_was_recorded_before(cached: Any, junk: Any) -> None:
    """The same call gets the same verdict whatever was recorded before: dimensions a
    fresh ``Metrics`` refuses are refused after a look-alike valid call too."""
    reporter = _dry()
    with pytest.raises(UsageError):
        Metrics("Rel/Cache", reporter).put_value("m", 1, dimensions=junk)
    metrics = Metrics("Rel/Cache", reporter)
    metrics.put_value("m", 1, dimensions=cached)
    with pytest.raises(UsageError):
        metrics.put_value("m", 1, dimensions=junk)
    assert reporter.stats.recorded == 1
