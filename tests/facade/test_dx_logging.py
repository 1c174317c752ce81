"""One documented logger tree: `cloudwatch_metrics_client` and `cwmetrics_transports`,
each with a NullHandler; `cwmetrics_core` never logs."""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import cloudwatch_metrics_client
import cwmetrics_core
from cloudwatch_metrics_client import Metrics
from cloudwatch_metrics_client.cloudwatch import CloudWatchSyncMetricReporter
from cwmetrics_transports import DryRunTransport

ROOTS = ("cloudwatch_metrics_client", "cwmetrics_transports")


@pytest.mark.parametrize("root", ROOTS)
def test_each_package_root_logger_has_a_null_handler(root: str) -> None:
    handlers = logging.getLogger(root).handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_every_library_logger_is_under_a_documented_root() -> None:
    # A fresh interpreter: import everything, create what creates loggers, list them.
    code = (
        "import logging, cloudwatch_metrics_client, cwmetrics_transports,"
        " cwmetrics_transports.testing, cloudwatch_metrics_client._demo\n"
        "from cwmetrics_transports import DryRunTransport, HttpxTransport\n"
        "DryRunTransport()\n"
        "names = [n for n in logging.root.manager.loggerDict if 'cwmetrics' in n"
        " or 'cloudwatch' in n]\n"
        "print('\\n'.join(sorted(names)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert "cwmetrics_transports.dryrun" in out
    assert "cwmetrics_transports.httpx" in out
    strays = [n for n in out if n.split(".")[0] not in ROOTS]
    assert strays == []


def test_records_carry_the_documented_names(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    transport = DryRunTransport()
    reporter = CloudWatchSyncMetricReporter(transport=transport, flush_on_exit=False)
    Metrics("App", reporter).put_value("m", 1)
    assert reporter.flush(timeout=5)
    names = {r.name for r in caplog.records}
    assert "cwmetrics_transports.dryrun" in names
    assert all(n.split(".")[0] in (*ROOTS, "botocore", "urllib3", "asyncio") for n in names)


def test_core_never_logs() -> None:
    folder = Path(cwmetrics_core.__file__).parent
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "logging" for a in node.names), path
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "logging", path
            if isinstance(node, ast.Attribute):
                assert node.attr != "getLogger", path


def test_logger_names_are_documented() -> None:
    text = (Path(cloudwatch_metrics_client.__file__).parents[1] / "README.md").read_text()
    for name in (*ROOTS, "cwmetrics_transports.httpx", "cwmetrics_transports.dryrun"):
        assert f"`{name}`" in text, name
