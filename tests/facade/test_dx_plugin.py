"""The local CloudWatch's pytest plugin: a `testing` extra, a `pytest11` entry point, and
an install hint instead of `No module named 'werkzeug'`."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HINT = "pip install 'cloudwatch-metrics-client[testing]'"

#: Makes moto and its server's packages unimportable, as in an install without the extra.
BLOCKER = textwrap.dedent(
    """
    import sys

    class _Missing:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("werkzeug", "moto", "flask"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _Missing())
    for _name in [n for n in sys.modules if n.split(".")[0] in ("werkzeug", "moto", "flask")]:
        del sys.modules[_name]
    """
)


def test_testing_extra_and_entry_point_are_declared() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    testing = project["optional-dependencies"]["testing"]
    assert any(req.startswith("moto[server]") for req in testing)
    assert any(req.startswith("boto3") for req in testing)
    plugins = project["entry-points"]["pytest11"]
    assert "cwmetrics_transports.testing.pytest_plugin" in plugins.values()


def test_entry_point_is_installed() -> None:
    values = {ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    assert "cwmetrics_transports.testing.pytest_plugin" in values


def test_fixture_without_the_extra_names_the_install_line(tmp_path: Path) -> None:
    # No pytest_plugins line: the fixture comes from the entry point. The blocker is
    # installed by conftest.py, after the plugin was loaded (loading never needs moto).
    (tmp_path / "conftest.py").write_text(BLOCKER)
    (tmp_path / "test_user.py").write_text(
        "def test_uses_endpoint(local_cloudwatch):\n    pass\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 1, out  # the test errors; pytest itself started fine
    assert "1 error" in out, out
    error_lines = [line for line in out.splitlines() if line.startswith("E ")]
    assert any("MissingDependencyError" in line and HINT in line for line in error_lines), out


def test_starting_the_endpoint_without_the_extra_names_the_install_line() -> None:
    code = BLOCKER + textwrap.dedent(
        """
        from cwmetrics_transports.testing import LocalCloudWatch
        try:
            LocalCloudWatch().start()
        except ImportError as exc:
            print(type(exc).__name__, exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.startswith("MissingDependencyError ")
    assert HINT in out
    assert "'werkzeug" in out  # and says what is missing
