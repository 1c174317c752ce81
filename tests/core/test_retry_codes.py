"""Failure classification: one verdict per PutMetricData error, whatever the protocol.

CloudWatch names each error twice: a query-protocol code (``MissingParameter``) and an AWS
JSON ``__type`` (``MissingRequiredParameterException``). A JSON response carries the query
code in the ``x-amzn-query-error`` header; without that header a transport only has the
JSON name. Both must lead to the same decision.
"""

from __future__ import annotations

import pytest

from cwmetrics_core import Disposition, MetricKey, RetryPolicy, SendOutcome

from .conftest import T0, make_core

# (query code, AWS JSON name, HTTP status, disposition), from botocore's CloudWatch model:
# the errors PutMetricData declares, plus the other content errors of the service.
ERRORS = [
    ("InvalidParameterValue", "InvalidParameterValueException", 400, Disposition.SPLIT),
    ("MissingParameter", "MissingRequiredParameterException", 400, Disposition.SPLIT),
    (
        "InvalidParameterCombination",
        "InvalidParameterCombinationException",
        400,
        Disposition.SPLIT,
    ),
    ("ValidationError", "ValidationException", 400, Disposition.SPLIT),
    ("InvalidFormat", "InvalidFormatFault", 400, Disposition.SPLIT),
    ("InternalServiceError", "InternalServiceFault", 500, Disposition.RETRY),
]


def _forms(query: str, json_name: str) -> list[str]:
    """Every spelling a transport may report: header code, bare and namespaced __type."""
    return [
        query,
        f"{query};Sender",
        json_name,
        f"com.amazonaws.cloudwatch#{json_name}",
        f"com.amazonaws.cloudwatch.v2010_08_01#{json_name}:http://internal.amazon.com/",
    ]


@pytest.mark.parametrize(("query", "json_name", "status", "disposition"), ERRORS)
def test_query_and_json_names_are_classified_alike(
    query: str, json_name: str, status: int, disposition: Disposition
) -> None:
    policy = RetryPolicy()
    for code in _forms(query, json_name):
        for http_status in (status, None):
            outcome = SendOutcome(ok=False, http_status=http_status, error_code=code)
            assert policy.classify(outcome) is disposition, (code, http_status)


@pytest.mark.parametrize(
    "code", ["MissingRequiredParameterException", "InvalidParameterCombinationException"]
)
def test_json_content_errors_bisect_instead_of_dropping_the_batch(code: str) -> None:
    core = make_core()
    for i in range(8):
        core.record_value(MetricKey("App", "m", {"i": str(i)}), float(i), T0)
    core.flush(T0)
    batch = core.next_batch(T0)
    assert batch is not None and len(batch.request) == 8
    action = core.failed(batch, T0, SendOutcome(ok=False, http_status=400, error_code=code))
    assert action.disposition is Disposition.SPLIT
    assert action.dropped == ()  # isolated, not dropped whole
    stats = core.stats
    assert stats.splits == 1 and stats.dropped_rejected == 0 and stats.dropped_invalid == 0
    halves = [core.next_batch(T0), core.next_batch(T0)]
    assert [len(b.request) for b in halves if b is not None] == [4, 4]


def test_throttling_is_recognised_in_every_spelling() -> None:
    policy = RetryPolicy()
    for code in ("Throttling", "Throttling;Sender", "com.amazonaws.cloudwatch#Throttling"):
        outcome = SendOutcome(ok=False, http_status=400, error_code=code)
        assert policy.classify(outcome) is Disposition.RETRY
        assert policy.is_throttle(outcome)


def test_unknown_client_errors_are_still_dropped() -> None:
    outcome = SendOutcome(ok=False, http_status=403, error_code="AccessDenied")
    assert RetryPolicy().classify(outcome) is Disposition.DROP
