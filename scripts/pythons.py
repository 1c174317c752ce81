"""Find an interpreter for every Python version the project supports (standard library only).

The supported versions are read from the ``Programming Language :: Python :: 3.X``
classifiers in pyproject.toml, so the test matrix and the package metadata cannot drift.
A candidate counts only if it runs and reports the right version: a pyenv shim named
``python3.10`` that is on PATH but not enabled (pyenv's "command not found") is rejected.

Where it looks, in order, for version 3.X:

1. ``$CWMETRICS_PYTHON3_X`` (for example ``CWMETRICS_PYTHON3_10=/opt/py310/bin/python3``);
2. ``python3.X`` on PATH;
3. pyenv installs: ``$PYENV_ROOT/versions/3.X.*/bin/python3.X`` (newest patch first);
4. ``/usr/local/bin/python3.X``, ``/usr/bin/python3.X``.

``python scripts/pythons.py`` prints one ``3.X path-or-MISSING`` line per supported version.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The version that runs the whole check (ruff, mypy, the docs build, pytest, packaging) in
# the project's .venv; every other supported version runs mypy and pytest in its own venv.
FULL_VERSION = "3.11"
_CLASSIFIER = re.compile(r'"Programming Language :: Python :: (3\.\d+)"')


def supported_versions(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The ``3.X`` versions named by pyproject's classifiers, oldest first."""
    found = set(_CLASSIFIER.findall(pyproject.read_text(encoding="utf-8")))
    if not found:
        raise RuntimeError(f"{pyproject}: no 'Programming Language :: Python :: 3.X' classifier")
    return sorted(found, key=lambda v: tuple(int(p) for p in v.split(".")))


def _version_of(executable: str) -> str | None:
    """``"3.X"`` if ``executable`` runs and is CPython 3.X with venv, else None."""
    try:
        proc = subprocess.run(
            [executable, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _candidates(version: str) -> list[str]:
    name = f"python{version}"
    found: list[str] = []
    explicit = os.environ.get(f"CWMETRICS_PYTHON{version.replace('.', '_')}")
    if explicit:
        found.append(explicit)
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    installs = sorted(
        (pyenv_root / "versions").glob(f"{version}.*"),
        key=lambda p: [int(x) if x.isdigit() else -1 for x in re.split(r"[.]", p.name)],
        reverse=True,
    )
    found += [str(p / "bin" / name) for p in installs if re.fullmatch(r"\d+\.\d+\.\d+", p.name)]
    found += [f"/usr/local/bin/{name}", f"/usr/bin/{name}"]
    return found


def find_python(version: str) -> str | None:
    """The path of a working interpreter for ``version`` ("3.X"), or None."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        return sys.executable
    for candidate in _candidates(version):
        if os.access(candidate, os.X_OK) and _version_of(candidate) == version:
            return candidate
    return None


def find_pythons() -> dict[str, str | None]:
    """Every supported version mapped to an interpreter path, or None when not installed."""
    return {version: find_python(version) for version in supported_versions()}


if __name__ == "__main__":
    for version, path in find_pythons().items():
        print(version, path or "MISSING")
