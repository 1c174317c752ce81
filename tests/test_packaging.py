"""The package as released: built, checked, and installed into fresh virtual environments.

The sdist is built from a copy of the source tree and the wheel from the sdist, as
``python -m build`` does for a release. Then:

* the wheel holds every module and ``py.typed`` of the three packages, and nothing else;
* ``twine check --strict`` passes on both;
* on every supported Python found on the machine, the wheel installs with no index and no
  extra into a venv that then holds nothing but the package (``pip list``); every module
  imports, the README's offline (DryRunTransport) example runs, and ``--version`` agrees
  with the wheel's metadata;
* each extra installed alone (``boto3``, ``httpx``, ``aiobotocore``) brings what its
  transport needs: one datum is sent through it to a local CloudWatch on 127.0.0.1.

Slow (a build, a venv per Python and per extra, the extras' downloads): run by the
``packaging`` session of the test matrix, see noxfile.py.
"""

from __future__ import annotations

import email.parser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import cloudwatch_metrics_client
import cwmetrics_core
import cwmetrics_transports
from cwmetrics_transports.testing import LocalCloudWatch
from tests.test_docs import python_blocks

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cwmetrics_core", "cwmetrics_transports", "cloudwatch_metrics_client")
DIST_NAME = "cloudwatch-metrics-client"
TIMEOUT = 300

_spec = importlib.util.spec_from_file_location("_cwm_pythons", ROOT / "scripts" / "pythons.py")
assert _spec is not None and _spec.loader is not None
pythons = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pythons)

# What each extra must make work, and distributions that must stay out of its venv.
EXTRAS = {
    "boto3": ("boto3", {"httpx", "aiobotocore"}),
    "httpx": ("httpx", {"boto3", "aiobotocore"}),
    "aiobotocore": ("aiobotocore", {"boto3", "httpx"}),
}


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path


def _run(*argv: str | Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=TIMEOUT, check=False,
        **kwargs,  # type: ignore[call-overload]
    )  # fmt: skip
    assert proc.returncode == 0, (
        f"{' '.join(map(str, argv))} failed ({proc.returncode}):\n"
        f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    )
    return proc


def _clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """No PYTHONPATH (the venv must not see the source tree), no AWS settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "PYTHON", "VIRTUAL_ENV", "NOX_"))
    }
    env.update(
        {
            "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
            **extra,
        }
    )
    return env


def _source_files() -> set[str]:
    """Every file of the three packages in the source tree, as wheel paths."""
    files = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files.add(path.relative_to(ROOT).as_posix())
    return files


def _modules(names: set[str]) -> list[str]:
    """Module names of the .py files in ``names`` (wheel paths)."""
    modules = []
    for name in sorted(names):
        if name.endswith(".py"):
            parts = name[: -len(".py")].split("/")
            if parts[-1] == "__init__":
                parts.pop()
            modules.append(".".join(parts))
    return modules


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """The sdist (from a copy of the source tree) and the wheel built from that sdist."""
    tmp = tmp_path_factory.mktemp("dist")
    src = tmp / "src"
    shutil.copytree(
        ROOT, src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".nox", "build", "dist", "site", "*.egg-info", "__pycache__",
            ".mypy_cache", ".ruff_cache", ".hypothesis", ".pytest_cache", ".peer-*",
        ),
    )  # fmt: skip
    out = tmp / "out"
    _run(sys.executable, "-m", "build", "--outdir", out, src)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Dists(sdist, wheel)


@pytest.fixture(scope="session")
def wheel_metadata(dists: Dists) -> email.message.Message:
    with zipfile.ZipFile(dists.wheel) as whl:
        (name,) = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(whl.read(name).decode("utf-8"))


def test_wheel_holds_every_module_and_py_typed(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as whl:
        names = {n for n in whl.namelist() if ".dist-info/" not in n}
    expected = _source_files()
    assert {f"{p}/py.typed" for p in PACKAGES} <= expected, "a package lost its py.typed"
    assert expected - names == set(), "files of the packages missing from the wheel"
    assert names - expected == set(), "files in the wheel that are not the packages' files"
    assert {n.split("/")[0] for n in names} == set(PACKAGES)


def test_sdist_holds_the_wheel_sources(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    missing = (_source_files() | {"pyproject.toml", "README.md"}) - names
    assert missing == set(), "files missing from the sdist"


def test_twine_check(dists: Dists) -> None:
    out = _run(sys.executable, "-m", "twine", "check", "--strict", dists.sdist, dists.wheel)
    assert out.stdout.count("PASSED") == 2, out.stdout


def test_metadata_version_is_the_packages_version(
    dists: Dists, wheel_metadata: email.message.Message
) -> None:
    version = wheel_metadata["Version"]
    assert version == cwmetrics_core.__version__
    assert version == cwmetrics_transports.__version__
    assert version == cloudwatch_metrics_client.__version__
    assert dists.wheel.name.startswith(f"{DIST_NAME.replace('-', '_')}-{version}-py3-none-any")
    assert wheel_metadata["Requires-Python"] == ">=3.10"
    # The classifiers name exactly the versions the matrix tests.
    classified = {
        c.rsplit(" :: ", 1)[1]
        for c in wheel_metadata.get_all("Classifier") or []
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert sorted(classified) == pythons.supported_versions()
    assert min(classified, key=lambda v: int(v.split(".")[1])) == "3.10"


def _make_venv(where: Path, python: str) -> Path:
    """A fresh venv without pip (ensurepip costs seconds): pip runs from outside."""
    _run(python, "-m", "venv", "--without-pip", where)
    return where / "bin" / "python"


def _pip(python: Path, *args: str | Path, env: dict[str, str]) -> str:
    """This environment's pip, acting on the venv of ``python`` (pip's ``--python``)."""
    return _run(sys.executable, "-m", "pip", "--python", python, *args, env=env).stdout


def _installed(python: Path, env: dict[str, str]) -> dict[str, str]:
    out = _pip(python, "list", "--format=json", env=env)
    return {d["name"].lower(): d["version"] for d in json.loads(out)}


_IMPORT_ALL = textwrap.dedent(
    """
    import importlib, json, sys
    failed = {}
    for name in json.loads(sys.argv[1]):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            failed[name] = f"{type(exc).__name__}: {exc} (missing: {exc.name})"
    site = [m.__file__ for m in map(sys.modules.get, json.loads(sys.argv[2]))]
    print(json.dumps({"failed": failed, "files": site}))
    """
)


def _offline_example() -> str:
    """The README's runnable python blocks that use DryRunTransport, in order."""
    blocks = [
        b.code
        for b in python_blocks(ROOT / "README.md")
        if b.skip_reason is None and "DryRunTransport" in b.code
    ]
    assert blocks, "README.md has no runnable DryRunTransport example"
    return "\n\n".join(blocks)


@pytest.mark.parametrize("version", pythons.supported_versions())
def test_wheel_installs_alone_and_works_without_extras(
    version: str,
    dists: Dists,
    wheel_metadata: email.message.Message,
    tmp_path: Path,
) -> None:
    interpreter = pythons.find_python(version)
    if interpreter is None:
        pytest.skip(f"SKIPPED: Python {version} is not installed")
    env = _clean_env(tmp_path)
    python = _make_venv(tmp_path / "venv", interpreter)
    # No index: the core must need nothing that is not in the wheel.
    _pip(python, "install", "-q", "--no-index", dists.wheel, env=env)

    installed = _installed(python, env)
    assert installed.pop(DIST_NAME) == wheel_metadata["Version"]
    assert installed == {}, f"third-party packages installed with the core: {installed}"

    with zipfile.ZipFile(dists.wheel) as whl:
        modules = _modules(set(whl.namelist()))
    # Modules that need an extra's package by design (imported only lazily by the library),
    # each with the one package it may miss here.
    needs_extra = {
        "cwmetrics_transports.testing.pytest_plugin": "pytest",  # a pytest plugin
        "cwmetrics_transports._deadline": "httpcore",  # the httpx transport's sync deadline
    }
    out = _run(
        python, "-I", "-c", _IMPORT_ALL,
        json.dumps([m for m in modules if not m.endswith("__main__")]), json.dumps(PACKAGES),
        cwd=tmp_path, env=env,
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert set(result["failed"]) <= set(needs_extra), result["failed"]
    for module, error in result["failed"].items():
        assert f"missing: {needs_extra[module]})" in error, (module, error)
    site_packages = str(tmp_path / "venv")
    assert all(f.startswith(site_packages) for f in result["files"]), result["files"]

    example = tmp_path / "offline_example.py"
    example.write_text(_offline_example(), encoding="utf-8")
    _run(python, "-I", example, cwd=tmp_path, env=env)

    expected = f"{DIST_NAME} {wheel_metadata['Version']}"
    assert _run(tmp_path / "venv" / "bin" / DIST_NAME, "--version", env=env).stdout.strip() == (
        expected
    )
    module_run = _run(python, "-I", "-m", "cloudwatch_metrics_client", "--version", env=env)
    assert module_run.stdout.strip() == expected
    versions = _run(
        python, "-I", "-c",
        "import cwmetrics_core as a, cwmetrics_transports as b, cloudwatch_metrics_client as c;"
        "print(a.__version__, b.__version__, c.__version__)",
        env=env,
    )  # fmt: skip
    assert versions.stdout.split() == [wheel_metadata["Version"]] * 3


_SEND_ONE = {
    "boto3": """
        from cwmetrics_transports import Boto3Transport

        with Boto3Transport(region=REGION, endpoint_url=URL, allow_insecure_http=True) as t:
            for request in requests(t.wire_format):
                outcome = t.send(request)
                assert outcome.ok, outcome
        """,
    "httpx": """
        from cwmetrics_transports import HttpxTransport

        # Signed by botocore (part of the extra) with the environment's keys.
        with HttpxTransport(region=REGION, endpoint_url=URL, allow_insecure_http=True) as t:
            for request in requests(None):
                outcome = t.send(request)
                assert outcome.ok, outcome
        """,
    "aiobotocore": """
        import asyncio

        from cwmetrics_transports import AioBotocoreTransport


        async def main():
            t = await AioBotocoreTransport.create(
                region=REGION, endpoint_url=URL, allow_insecure_http=True
            )
            try:
                for request in requests(t.wire_format):
                    outcome = await t.asend(request)
                    assert outcome.ok, outcome
            finally:
                await t.aclose()


        asyncio.run(main())
        """,
}

_SEND_PRELUDE = """
import sys, time

from cwmetrics_core import CoreConfig, MetricKey, MetricsCore

URL, REGION, EXTRA = sys.argv[1], sys.argv[2], sys.argv[3]


def requests(wire_format):
    \"\"\"The requests for one datum, in the transport's wire format.\"\"\"
    config = CoreConfig() if wire_format is None else CoreConfig(wire_format=wire_format)
    core = MetricsCore(config, now=time.time())
    core.record_value(MetricKey("Packaging", "Extra", {"Extra": EXTRA}), 42.0, time.time())
    core.close(time.time())
    batches = core.batches_to_send(time.time())
    for batch in batches:
        core.ack(batch, time.time())
    return [batch.request for batch in batches]
"""


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_each_extra_alone_brings_its_transport(
    extra: str, dists: Dists, tmp_path: Path
) -> None:
    library, absent = EXTRAS[extra]
    env = _clean_env(tmp_path)
    python = _make_venv(tmp_path / "venv", sys.executable)
    _pip(python, "install", "-q", f"{dists.wheel}[{extra}]", env=env)
    installed = _installed(python, env)
    assert library in installed and DIST_NAME in installed
    assert absent.isdisjoint(installed), f"[{extra}] pulled in {absent & set(installed)}"

    script = tmp_path / "send_one.py"
    script.write_text(_SEND_PRELUDE + textwrap.dedent(_SEND_ONE[extra]), encoding="utf-8")
    with LocalCloudWatch() as cw:
        run_env = _clean_env(tmp_path, **cw.env())
        _run(python, "-I", script, cw.url, cw.region, extra, cwd=tmp_path, env=run_env)
        stats = cw.series_stats("Packaging", "Extra", {"Extra": extra})
    assert stats.sample_count == 1 and stats.sum == 42.0
