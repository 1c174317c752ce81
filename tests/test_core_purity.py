"""The sans-IO boundary, enforced: cwmetrics_core imports only harmless stdlib modules."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "cwmetrics_core"
FORBIDDEN = {
    "asyncio", "threading", "time", "socket", "selectors", "ssl", "http", "urllib.request",
    "subprocess", "logging", "os", "signal", "multiprocessing", "concurrent",
    "boto3", "botocore", "httpx", "aiobotocore", "aioboto3", "requests",
}
CLOCK_CALLS = {"time", "monotonic", "perf_counter", "now", "utcnow", "today"}


def _modules() -> list[Path]:
    return sorted(CORE.glob("*.py"))


def test_core_imports_only_the_standard_library() -> None:
    stdlib = set(sys.stdlib_module_names)
    for path in _modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in stdlib or top == "__future__", f"{path.name}: imports {name}"
                assert name not in FORBIDDEN and top not in FORBIDDEN, f"{path.name}: {name}"


def test_core_never_reads_a_clock_or_the_environment() -> None:
    for path in _modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
                raise AssertionError(f"{path.name}:{node.lineno} reads the environment")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in CLOCK_CALLS
            ):
                raise AssertionError(f"{path.name}:{node.lineno} reads a clock")


def test_importing_the_core_loads_no_io_module() -> None:
    import subprocess

    code = (
        "import sys; import cwmetrics_core; "
        "bad = {'asyncio','threading','socket','logging','boto3','botocore','httpx'} "
        "& set(sys.modules); print(sorted(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
