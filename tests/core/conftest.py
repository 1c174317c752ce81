from __future__ import annotations

import random

import pytest

from cwmetrics_core import CoreConfig, MetricKey, MetricsCore, RetryPolicy

T0 = 1_789_999_980.0  # a period boundary (divisible by 60)


@pytest.fixture
def key() -> MetricKey:
    return MetricKey("App", "Latency", {"Op": "get"}, "Milliseconds")


def make_core(**overrides: object) -> MetricsCore:
    retry = overrides.pop("retry", RetryPolicy(rng=random.Random(7).random))
    return MetricsCore(CoreConfig(retry=retry, **overrides), now=T0)  # type: ignore[arg-type]
