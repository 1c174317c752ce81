"""The public API as a type checker sees it: `mypy --strict` on small user programs.

Typos in a chained facade call, unknown unit names and reading `TimerRun.duration` as a
float are checked statically, not only at run time.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import get_args

import pytest

from cwmetrics_core import Unit

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[1]

SNIPPETS = {
    "good": """
        import asyncio
        from cloudwatch_metrics_client import Metrics, TimerRun
        from cloudwatch_metrics_client.aiocloudwatch import (
            CloudWatchAsyncMetricReporter, CloudWatchAsyncMetrics,
        )
        from cloudwatch_metrics_client.cloudwatch import (
            CloudWatchSyncMetricReporter, CloudWatchSyncMetrics,
        )
        from cwmetrics_core import Unit

        reporter = CloudWatchSyncMetricReporter(report_interval=60)
        facade: type[CloudWatchSyncMetrics] = (
            CloudWatchSyncMetrics.with_namespace("App").with_reporter(reporter)
        )
        facade.with_client(object()).with_namespace("Other")
        CloudWatchSyncMetrics.put_metric(MetricName="m", Value=1, Unit="Milliseconds")
        CloudWatchSyncMetrics.put_metric(MetricName="m", Value=1, Unit=Unit.COUNT)
        CloudWatchSyncMetrics.put_statistic(MetricName="m", Value=1, Unit="Bytes/Second")

        @CloudWatchSyncMetrics.monitored_task
        def handler(kind: str) -> int:
            CloudWatchSyncMetrics.with_monitored_dimension("Kind", kind).with_monitored_dimension(
                "Other", "x"
            )
            return 1

        @CloudWatchSyncMetrics.monitored_task(metric_name="t", unit="Microseconds")
        def other() -> None: ...

        with CloudWatchSyncMetrics.timer("Block", unit="Seconds") as run:
            pass
        elapsed: float = run.duration
        took: TimerRun = run
        n: int = handler("a")

        areporter = CloudWatchAsyncMetricReporter(report_interval=60)
        afacade: type[CloudWatchAsyncMetrics] = (
            CloudWatchAsyncMetrics.with_namespace("App").with_reporter(areporter)
        )

        async def main() -> None:
            await areporter.run()
            await CloudWatchAsyncMetrics.put_metric(MetricName="m", Value=1, Unit="Count")
            await CloudWatchAsyncMetrics.put_statistic(MetricName="m", Value=1, Unit="Percent")

        asyncio.run(main())
        Metrics("App", reporter)
    """,
    "typo": """
        from cloudwatch_metrics_client.cloudwatch import (
            CloudWatchSyncMetricReporter, CloudWatchSyncMetrics,
        )
        CloudWatchSyncMetrics.with_namespace("x").with_reportr(CloudWatchSyncMetricReporter())
    """,
    "async_typo": """
        from cloudwatch_metrics_client.aiocloudwatch import CloudWatchAsyncMetrics
        CloudWatchAsyncMetrics.with_namespace("x").with_monitored_dimenson("a", "b")
    """,
    "unit": """
        from cloudwatch_metrics_client.cloudwatch import CloudWatchSyncMetrics
        CloudWatchSyncMetrics.put_metric(MetricName="m", Value=1, Unit="Milisecondz")
    """,
    "async_unit": """
        from cloudwatch_metrics_client.aiocloudwatch import CloudWatchAsyncMetrics
        async def f() -> None:
            await CloudWatchAsyncMetrics.put_statistic(MetricName="m", Value=1, Unit="Bytez")
    """,
    "timer_unit": """
        from cloudwatch_metrics_client.cloudwatch import CloudWatchSyncMetrics
        CloudWatchSyncMetrics.timer("t", unit="Bytes")
    """,
}


@pytest.fixture(scope="module")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Run mypy --strict once over every snippet; errors per snippet."""
    folder = tmp_path_factory.mktemp("typing")
    files = []
    for name, code in SNIPPETS.items():
        path = folder / f"snippet_{name}.py"
        path.write_text(textwrap.dedent(code))
        files.append(str(path))
    stdout, stderr, _ = mypy_api.run(
        [
            "--strict",
            "--config-file=",
            "--python-version=3.10",
            "--no-incremental",
            "--cache-dir=" + str(folder / ".cache"),
            "--show-error-codes",
            "--no-error-summary",
            "--follow-imports=silent",
            *files,
        ]
    )
    assert not stderr, stderr
    errors: dict[str, list[str]] = {name: [] for name in SNIPPETS}
    for line in stdout.splitlines():
        found = re.search(r"snippet_(\w+)\.py:\d+: error: (.*)", line)
        if found:
            errors[found.group(1)].append(found.group(2))
    return errors


def test_correct_code_passes_strict(mypy_errors: dict[str, list[str]]) -> None:
    assert mypy_errors["good"] == []


@pytest.mark.parametrize(("snippet", "attribute"), [
    ("typo", "with_reportr"),
    ("async_typo", "with_monitored_dimenson"),
])  # fmt: skip
def test_chained_typo_is_an_error(
    mypy_errors: dict[str, list[str]], snippet: str, attribute: str
) -> None:
    (error,) = mypy_errors[snippet]
    assert f'has no attribute "{attribute}"' in error
    assert "[attr-defined]" in error


@pytest.mark.parametrize(("snippet", "unit"), [
    ("unit", "Milisecondz"),
    ("async_unit", "Bytez"),
    ("timer_unit", "Bytes"),
])  # fmt: skip
def test_unknown_unit_is_an_error(
    mypy_errors: dict[str, list[str]], snippet: str, unit: str
) -> None:
    (error,) = mypy_errors[snippet]
    assert f"Literal['{unit}']" in error
    assert "[arg-type]" in error


def test_unit_names_match_the_unit_enum() -> None:
    from cloudwatch_metrics_client import TimerUnitName, UnitName

    assert set(get_args(UnitName)) == {unit.value for unit in Unit}
    assert set(get_args(TimerUnitName)) == {"Seconds", "Milliseconds", "Microseconds"}
