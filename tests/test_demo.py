"""The demo (the project's main job) ends with a matching verdict on every transport."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cloudwatch_metrics_client.__main__ import main


@pytest.mark.parametrize("transport", ["httpx", "boto3", "dry-run"])
def test_demo_matches(transport: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--duration", "1.5", "--rate", "150", "--quiet",
                 "--transport", transport]) == 0
    out = capsys.readouterr().out
    assert "verdict: MATCH" in out
    assert "RequestLatency Route=/checkout" in out


def test_demo_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "latency.png"
    assert main(["demo", "--duration", "1", "--quiet", "--plot", str(target)]) == 0
    assert target.stat().st_size > 1000


def test_console_entry_point_runs_as_a_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cloudwatch_metrics_client", "demo", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert "--transport" in out.stdout and "--endpoint-url" in out.stdout
