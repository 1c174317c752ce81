"""The API reference renders: no raw Sphinx roles, and the facades' classmethods shown."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLASSMETHODS = (
    "monitored_task",
    "with_namespace",
    "with_reporter",
    "with_client",
    "with_monitored_dimension",
    "timer",
    "put_metric",
    "put_statistic",
)
FACADES = (
    "cloudwatch_metrics_client.cloudwatch.CloudWatchSyncMetrics",
    "cloudwatch_metrics_client.aiocloudwatch.CloudWatchAsyncMetrics",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocstrings_handlers.python")
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(target)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return target


def test_no_sphinx_roles_left_in_any_page(site: Path) -> None:
    leftovers = {}
    for page in site.rglob("*.html"):
        found = re.findall(r":(?:class|meth|func|attr|mod|data|exc):`?", page.read_text())
        if found:
            leftovers[str(page.relative_to(site))] = len(found)
    assert leftovers == {}


def test_facade_classmethods_are_documented(site: Path) -> None:
    api = (site / "api" / "index.html").read_text()
    missing = [
        f"{facade}.{name}"
        for facade in FACADES
        for name in CLASSMETHODS
        if f'id="{facade}.{name}"' not in api
    ]
    assert missing == []


def test_roles_became_links(site: Path) -> None:
    api = (site / "api" / "index.html").read_text()
    # e.g. ":class:`~cwmetrics_core.SendOutcome`" in the transports' docstrings
    assert re.search(r'<a class="autorefs[^"]*"[^>]*href="#cwmetrics_core\.SendOutcome"', api)
    assert 'href="#cloudwatch_metrics_client.Metrics"' in api
