from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloudwatch_metrics_client import CloudWatchAsyncMetrics, CloudWatchSyncMetrics


@pytest.fixture(autouse=True)
def fresh_facades() -> Iterator[None]:
    """Each test starts with unconfigured class-level facades."""
    CloudWatchSyncMetrics._reset_default()
    CloudWatchAsyncMetrics._reset_default()
    yield
    CloudWatchSyncMetrics._reset_default()
    CloudWatchAsyncMetrics._reset_default()
