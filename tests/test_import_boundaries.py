"""The test tooling stays off the library's import path.

``cwmetrics_transports.testing`` (the strict local CloudWatch, its fault layer and the
pytest plugin) is test tooling: importing or using the library must never load it, nor
moto, werkzeug or pytest. Only the demo (``cloudwatch-metrics-client demo``) starts a
local CloudWatch, so only ``cloudwatch_metrics_client/_demo.py`` may import it.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cwmetrics_core", "cwmetrics_transports", "cloudwatch_metrics_client")
TOOLING = "cwmetrics_transports.testing"
#: The one library module allowed to import the tooling (lazily, when the demo runs).
ALLOWED = {Path("cloudwatch_metrics_client/_demo.py")}
#: What the tooling would drag in with it.
TOOLING_ROOTS = (TOOLING, "moto", "werkzeug", "pytest", "_pytest", "flask")

_IMPORT_AND_USE = r"""
import asyncio, importlib, json, pkgutil, sys

TOOLING = "cwmetrics_transports.testing"
imported = []


def walk(name):
    # pkgutil.walk_packages imports every package it meets (the tooling too): recurse by
    # hand and never enter the tooling.
    module = importlib.import_module(name)
    imported.append(name)
    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
        child = f"{name}.{info.name}"
        if child != TOOLING:
            walk(child)


for package in ("cwmetrics_core", "cwmetrics_transports", "cloudwatch_metrics_client"):
    walk(package)

# Use the library as an application would: build every transport, sign a request, run a
# sync and an async reporter, ask the command line for its version.
from cloudwatch_metrics_client import Metrics
from cloudwatch_metrics_client.__main__ import main
from cloudwatch_metrics_client.aiocloudwatch import CloudWatchAsyncMetricReporter
from cloudwatch_metrics_client.cloudwatch import CloudWatchSyncMetricReporter
from cwmetrics_transports import (
    Boto3Transport, BotocoreSigner, DryRunTransport, HttpxTransport, StaticSigner,
)

signer = StaticSigner("AKID", "SECRET")
signer.sign("POST", "https://monitoring.us-east-1.amazonaws.com/", {}, b"{}",
            region="us-east-1", service="monitoring", amz_date="20260102T030405Z")
HttpxTransport(region="us-east-1", signer=signer).close()
HttpxTransport(region="us-east-1", signer=BotocoreSigner()).close()
Boto3Transport(region="us-east-1").close()

sync_transport = DryRunTransport()
with CloudWatchSyncMetricReporter(transport=sync_transport) as reporter:
    Metrics("Boundary", reporter).put_value("Sync", 1.0)
assert sync_transport.datums()


async def run_async():
    transport = DryRunTransport()
    async with CloudWatchAsyncMetricReporter(transport=transport) as reporter:
        Metrics("Boundary", reporter).put_value("Async", 1.0)
    assert transport.datums()

asyncio.run(run_async())
try:
    main(["--version"])
except SystemExit as exit:
    assert exit.code == 0, exit.code
print(json.dumps({"imported": imported, "modules": sorted(sys.modules)}))
"""


def test_importing_and_using_the_library_never_loads_the_test_tooling(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "PYTEST_", "PYTHON"))
    }
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_ACCESS_KEY_ID="AKIDBOUNDARY",
        AWS_SECRET_ACCESS_KEY="boundary-secret",
    )
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_AND_USE],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"cwmetrics_transports._httpx", "cloudwatch_metrics_client._demo"} <= set(
        result["imported"]
    )
    loaded = [
        name
        for name in result["modules"]
        if any(name == root or name.startswith(root + ".") for root in TOOLING_ROOTS)
    ]
    assert loaded == []


def _imports_of(tree: ast.AST, module: str) -> set[str]:
    """Absolute names of every module imported anywhere in ``tree`` (functions too)."""
    package = module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p.relative_to(ROOT), id=str(p.relative_to(ROOT)))
        for package in PACKAGES
        for p in sorted((ROOT / package).rglob("*.py"))
        if not p.relative_to(ROOT).as_posix().startswith("cwmetrics_transports/testing/")
    ],
)
def test_no_library_module_imports_the_test_tooling(path: Path) -> None:
    module = ".".join(path.with_suffix("").parts)
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    tooling = sorted(
        name
        for name in _imports_of(tree, module)
        if name == TOOLING or name.startswith(TOOLING + ".")
    )
    if path in ALLOWED:
        return
    assert tooling == [], f"{path} imports the test tooling: {tooling}"


def test_the_relative_import_resolution_is_checked() -> None:
    tree = ast.parse("from .testing import LocalCloudWatch\nfrom ..x import y\n")
    names = _imports_of(tree, "cwmetrics_transports._mod")
    assert "cwmetrics_transports.testing" in names
    assert "cwmetrics_transports.testing.LocalCloudWatch" in names
