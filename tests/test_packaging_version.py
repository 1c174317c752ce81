"""One version everywhere: the three packages, the command line, the package metadata.

Fast checks on the source tree; tests/test_packaging.py checks the same against a built
wheel installed into a fresh venv.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import cloudwatch_metrics_client
import cwmetrics_core
import cwmetrics_transports
from cloudwatch_metrics_client.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def test_the_three_packages_export_one_version() -> None:
    version = cwmetrics_core.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?", version)
    assert cwmetrics_transports.__version__ == version
    assert cloudwatch_metrics_client.__version__ == version


def test_pyproject_reads_the_version_from_the_version_module() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'(?m)^dynamic = \["version"\]$', text)
    assert re.search(r'(?m)^version = \{ attr = "cwmetrics_core\._version\.__version__" \}$', text)
    assert not re.search(r'(?m)^version = "', text), "a second, static version in pyproject"


def test_version_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"cloudwatch-metrics-client {cwmetrics_core.__version__}\n"


def test_version_option_as_a_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cloudwatch_metrics_client", "--version"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == f"cloudwatch-metrics-client {cwmetrics_core.__version__}"
