"""pytest fixtures for [LocalCloudWatch][cwmetrics_transports.testing.LocalCloudWatch].

Registered automatically through the `pytest11` entry point once the package is
installed with its `testing` extra (`pip install 'cloudwatch-metrics-client[testing]'`);
`pytest_plugins = ["cwmetrics_transports.testing.pytest_plugin"]` in a top-level
`conftest.py` works too. Importing this module never needs moto: a fixture used without
the extra raises `MissingDependencyError` (an `ImportError`) naming that install line.

Fixtures:
    local_cloudwatch_server: one endpoint for the whole session.
    local_cloudwatch: that endpoint, reset (data, records, counters), faults cleared and
        running, before each test; faults are cleared and it is brought back up after.
    local_cloudwatch_env: `local_cloudwatch` with its `env()` applied to
        `os.environ` (and `AWS_SESSION_TOKEN` etc. removed) for the test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ._deps import require_server_dependencies
from ._server import ENV_VARS_TO_UNSET, LocalCloudWatch

__all__ = ["local_cloudwatch_server", "local_cloudwatch", "local_cloudwatch_env"]


@pytest.fixture(scope="session")
def local_cloudwatch_server() -> Iterator[LocalCloudWatch]:
    """One strict local CloudWatch endpoint shared by the session."""
    require_server_dependencies()
    server = LocalCloudWatch().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def local_cloudwatch(local_cloudwatch_server: LocalCloudWatch) -> Iterator[LocalCloudWatch]:
    """The session endpoint, reset and fault-free, running, for one test."""
    server = local_cloudwatch_server
    server.clear_faults()
    server.strict = True
    server.clock = time.time
    server.start()
    server.reset()
    try:
        yield server
    finally:
        server.clear_faults()
        server.strict = True
        server.clock = time.time
        server.start()


@pytest.fixture
def local_cloudwatch_env(
    local_cloudwatch: LocalCloudWatch, monkeypatch: pytest.MonkeyPatch
) -> LocalCloudWatch:
    """``local_cloudwatch`` with SDK environment variables pointing at it."""
    for name in ENV_VARS_TO_UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in local_cloudwatch.env().items():
        monkeypatch.setenv(name, value)
    return local_cloudwatch
