"""A validator for Embedded Metric Format documents, written from AWS's specification.

"Specification: Embedded metric format" (CloudWatch User Guide) gives a JSON schema for the
root node and the rules a schema cannot say. The schema below is that one brought to the
current text: a DimensionSet holds at most 30 keys (9 in the 2019 text), a MetricDefinition
may carry ``StorageResolution`` 1 or 60, ``Metrics`` holds at most 100 definitions.
:func:`check_document` adds the cross-member rules: every referenced dimension is a
string member of the root, every metric a numeric member or an array of at most 100
numbers, and the two value objects CloudWatch Logs accepts beyond the spec's text (what the
OpenTelemetry collector's awsemf exporter sends): ``{"Values","Counts","Max","Min","Count",
"Sum"}`` with equal-length arrays of at most 100, and ``{"Max","Min","Count","Sum"}``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import jsonschema

UNITS = (
    "Seconds|Microseconds|Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|Terabytes|Bits|"
    "Kilobits|Megabits|Gigabits|Terabits|Percent|Count|Bytes/Second|Kilobytes/Second|"
    "Megabytes/Second|Gigabytes/Second|Terabytes/Second|Bits/Second|Kilobits/Second|"
    "Megabits/Second|Gigabits/Second|Terabits/Second|Count/Second|None"
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "LogGroupName": {"type": "string", "minLength": 1},
                "LogStreamName": {"type": "string", "minLength": 1},
                "CloudWatchMetrics": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 255},
                            "Dimensions": {
                                "type": "array",
                                "minItems": 1,
                                "items": {
                                    "type": "array",
                                    "minItems": 0,
                                    "maxItems": 30,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 255},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "minItems": 1,
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": {
                                            "type": "string", "minLength": 1, "maxLength": 255,
                                        },
                                        "Unit": {"type": "string", "pattern": f"^({UNITS})$"},
                                        "StorageResolution": {"enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}

_VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
_NUMBER = (int, float)


def _is_number(value: object) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool) and math.isfinite(value)


def check_value(name: str, value: object) -> None:
    """One metric target: a number, an array of <= 100 numbers, or a value object."""
    if _is_number(value):
        return
    if isinstance(value, list):
        assert 1 <= len(value) <= 100, f"{name}: {len(value)} values (1..100)"
        assert all(_is_number(v) for v in value), f"{name}: non-numeric array member"
        return
    assert isinstance(value, dict), f"{name}: {value!r} is not a metric value"
    stats = {"Max", "Min", "Count", "Sum"}
    if "Values" in value:
        assert set(value) == stats | {"Values", "Counts"}, f"{name}: members {sorted(value)}"
        values, counts = value["Values"], value["Counts"]
        assert 1 <= len(values) == len(counts) <= 100, f"{name}: {len(values)}/{len(counts)}"
        assert all(_is_number(v) for v in values + counts)
        assert all(c > 0 for c in counts), f"{name}: a count <= 0"
        assert math.isclose(value["Count"], math.fsum(counts), rel_tol=1e-12)
        assert value["Min"] == min(values) and value["Max"] == max(values)
    else:
        assert set(value) == stats, f"{name}: members {sorted(value)}"
    assert all(_is_number(value[k]) for k in stats)
    assert value["Min"] <= value["Max"] and value["Count"] > 0


def check_document(line: str | bytes, max_bytes: int | None = None) -> dict[str, Any]:
    """Validate one document (schema + the spec's cross-member rules); returns it parsed."""
    text = line.decode("ascii") if isinstance(line, bytes) else line
    if max_bytes is not None:
        assert len(text.encode("utf-8")) <= max_bytes, f"{len(text)} bytes > {max_bytes}"
    doc = json.loads(text)
    _VALIDATOR.validate(doc)
    names_seen: set[str] = set()
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for key in dimension_set:
                assert isinstance(doc.get(key), str), f"dimension {key!r} is not a root string"
                assert 1 <= len(doc[key]) <= 1024
        for definition in directive["Metrics"]:
            name = definition["Name"]
            assert name in doc, f"metric {name!r} has no root member"
            assert name not in names_seen, f"metric {name!r} twice in one document"
            names_seen.add(name)
            check_value(name, doc[name])
    return doc


def documents(body: str | bytes, max_bytes: int | None = None) -> list[dict[str, Any]]:
    """Every line of ``body`` validated; the body must end with a newline."""
    text = body.decode("ascii") if isinstance(body, bytes) else body
    assert text.endswith("\n") or not text
    return [check_document(line, max_bytes) for line in text.splitlines() if line]


Series = tuple[str, str, tuple[tuple[str, str], ...]]


def totals(docs: list[dict[str, Any]]) -> dict[Series, dict[str, float]]:
    """Per series (namespace, metric, dimensions): SampleCount, Sum, Minimum, Maximum,
    parsed back the way CloudWatch reads the documents."""
    out: dict[Series, dict[str, float]] = {}
    for doc in docs:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dims = tuple(sorted((k, doc[k]) for k in dimension_set))
                for definition in directive["Metrics"]:
                    value = doc[definition["Name"]]
                    if isinstance(value, dict) and "Values" in value:
                        n = math.fsum(value["Counts"])
                        pairs = zip(value["Values"], value["Counts"], strict=True)
                        s = math.fsum(v * c for v, c in pairs)
                        lo, hi = value["Min"], value["Max"]
                    elif isinstance(value, dict):
                        n, s, lo, hi = value["Count"], value["Sum"], value["Min"], value["Max"]
                    else:
                        values = value if isinstance(value, list) else [value]
                        n, s, lo, hi = len(values), math.fsum(values), min(values), max(values)
                    key = (directive["Namespace"], definition["Name"], dims)
                    acc = out.setdefault(
                        key, {"SampleCount": 0.0, "Sum": 0.0, "Minimum": lo, "Maximum": hi}
                    )
                    acc["SampleCount"] += n
                    acc["Sum"] += s
                    acc["Minimum"] = min(acc["Minimum"], lo)
                    acc["Maximum"] = max(acc["Maximum"], hi)
    return out
