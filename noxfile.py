"""The test matrix: one nox session per supported Python, plus the packaging checks.

``bash scripts/test.sh`` runs every session below (the versions in parallel, each into its
own log) and prints one combined result; run one by hand with, for example,
``.venv/bin/nox -s tests-3.12`` or ``.venv/bin/nox -s full -- tests/core``.

* ``full``: the whole check in the project's own ``.venv`` (Python 3.11): ruff,
  ``mypy --strict``, ``mkdocs build --strict`` and pytest.
* ``tests-3.X``: every other supported Python in its own venv under ``.nox/``, with the
  ``test`` extra minus the docs toolchain and ruff (those give the same answer on every
  version): ``mypy --strict --python-version 3.X`` (but for the version the full session's
  mypy already checks, pyproject's ``python_version``) and pytest minus the docs tests, the
  benchmarks' smoke runs, the typing test (``FULL_SESSION_ONLY``: the same answer on every
  version), the load tests (tests/reliability/test_load.py: minutes of CPU and gigabytes
  each) and the ``slow_e2e`` tests (real multi-process servers: seconds each, and the same answer on
  every version as long as the library's own tests pass there).
* ``packaging``: tests/test_packaging.py (sdist and wheel built, checked and installed into
  fresh venvs, with no extra and with each extra alone).

Interpreters are found by scripts/pythons.py (PATH, then pyenv's installs), never
downloaded. The supported versions are pyproject's ``Python :: 3.X`` classifiers.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))
from pythons import FULL_VERSION, find_python, supported_versions  # noqa: E402

nox.options.default_venv_backend = "uv|venv"  # uv: seconds per venv, not minutes
nox.options.download_python = "never"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["full", "packaging"] + [
    f"tests-{v}" for v in supported_versions() if v != FULL_VERSION
]

REPORTS = ROOT / "build" / "test-matrix"
# Needs the docs toolchain (mkdocs); runs in the full session only.
DOCS_BUILD_TEST = "tests/test_docs.py::test_mkdocs_build_strict"
PACKAGING_TESTS = "tests/test_packaging.py"
# The load tests (16 threads x 100 000 events through the local CloudWatch) take minutes of
# CPU and grow the pytest process past 3 GB (13.8 GB seen in one run): two at once can
# exhaust a 24 GB machine. They run in the full session only.
LOAD_TESTS = "tests/reliability/test_load.py"
# Checks whose answer does not depend on the Python running pytest, run by the full session
# only to keep the matrix inside its 15-minute budget: the docs' examples and site build
# (about 30 s per session), the benchmarks' smoke runs, and the typing test (mypy run as a
# subprocess; every version's session runs mypy for its own version anyway).
FULL_SESSION_ONLY = ("tests/test_docs.py", "tests/test_benchmarks_smoke.py", "tests/test_typing.py")
# Left out of the other versions' venvs: the docs toolchain (mkdocs*), the linter, and the
# tools that drive the matrix and the packaging session (run from .venv only).
_NOT_ON_OTHER_VERSIONS = re.compile(r"^(mkdocs[\w-]*|ruff|nox|build|twine|uv)\b", re.IGNORECASE)


def _junit(name: str) -> str:
    REPORTS.mkdir(parents=True, exist_ok=True)
    return f"--junitxml={REPORTS / (name + '.xml')}"


def _test_requirements() -> list[str]:
    """pip arguments for the ``test`` extra minus the docs toolchain and ruff.

    The self-reference (``cloudwatch-metrics-client[all,demo]``) becomes the editable
    install's extras, so a requirement added to ``test`` reaches every version.
    """
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"(?ms)^test = \[\n(.*?)^\]", text)
    if block is None:
        raise RuntimeError("pyproject.toml: no `test = [...]` extra")
    requirements = re.findall(r'"([^"]+)"', block.group(1))
    extras: list[str] = []
    others: list[str] = []
    for req in requirements:
        own = re.fullmatch(r"cloudwatch-metrics-client\[([^\]]+)\]", req)
        if own:
            extras += [e.strip() for e in own.group(1).split(",")]
        elif not _NOT_ON_OTHER_VERSIONS.match(req):
            others.append(req)
    project = "." + (f"[{','.join(extras)}]" if extras else "")
    return ["-e", project, *others]


def _mypy_config_version() -> str | None:
    """``python_version`` of pyproject's ``[tool.mypy]`` (what the full session checks)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'(?ms)^\[tool\.mypy\]$.*?^python_version = "([\d.]+)"', text)
    return match.group(1) if match else None


@nox.session(python=False)
def full(session: nox.Session) -> None:
    """ruff, mypy --strict, mkdocs build --strict and pytest, in the running environment."""
    py = sys.executable
    session.log(f"Python {sys.version.split()[0]} ({py})")
    session.run(py, "-m", "ruff", "check", ".")
    session.run(py, "-m", "mypy")
    session.run(
        py, "-m", "mkdocs", "build", "--strict", "-d", session.create_tmp() + "/site",
        env={"NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    session.run(
        py, "-m", "pytest", "-q", "-p", "no:cacheprovider", _junit("full"),
        # The build above is this test's check; the packaging session runs its file.
        "--deselect", DOCS_BUILD_TEST, "--ignore", PACKAGING_TESTS,
        *session.posargs,
    )  # fmt: skip


@nox.session(python=False)
def packaging(session: nox.Session) -> None:
    """Build, check and install the sdist and wheel (tests/test_packaging.py)."""
    session.run(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", _junit("packaging"),
        PACKAGING_TESTS, *session.posargs,
    )  # fmt: skip


def _version_session(version: str) -> None:
    def tests(session: nox.Session) -> None:
        session.install(*_test_requirements())
        session.run(
            "python", "-c",
            f"import sys; assert sys.version_info[:2] == {tuple(map(int, version.split('.')))}",
        )  # fmt: skip
        if version == _mypy_config_version():
            session.log(f"mypy: the full session already checks python_version = {version}")
        else:
            session.run(
                "mypy", "--python-version", version,
                "--cache-dir", str(ROOT / ".mypy_cache" / f"py{version}"),
            )  # fmt: skip
        session.run(
            "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", _junit(f"tests-{version}"),
            "--ignore", PACKAGING_TESTS, "--ignore", LOAD_TESTS,
            *(arg for path in FULL_SESSION_ONLY for arg in ("--ignore", path)),
            "-m", "not slow_e2e", *session.posargs,
        )  # fmt: skip

    tests.__doc__ = (
        f"mypy --strict and pytest (minus docs, load and slow_e2e tests) on Python {version}."
    )
    nox.session(name=f"tests-{version}", python=find_python(version) or version)(tests)


for _version in supported_versions():
    if _version != FULL_VERSION:
        _version_session(_version)
