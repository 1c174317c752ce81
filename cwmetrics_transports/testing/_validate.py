"""CloudWatch's PutMetricData rules, enforced the way the service enforces them.

The limits are written down here independently of ``cwmetrics_core`` on purpose: this
module is the reference the client is tested against, so it must not share its numbers.
"""

from __future__ import annotations

import calendar
import math
import re
from typing import Any

from ._model import AcceptedDatum, AcceptedPut, Protocol, StatisticSet
from ._protocol import CloudWatchError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_DATUMS",
    "MAX_VALUES",
    "MAX_DIMENSIONS",
    "STANDARD_UNITS",
    "normalise_put",
]

#: Largest uncompressed PutMetricData body (1 MiB).
MAX_BODY_BYTES = 1_048_576
#: Datums per request (``MetricData`` plus ``EntityMetricData`` datums).
MAX_DATUMS = 1000
#: ``Values`` entries per datum.
MAX_VALUES = 150
#: Dimensions per datum.
MAX_DIMENSIONS = 30
_MAX_NAME = 255
_MAX_DIMENSION_VALUE = 1024
_MAX_MAGNITUDE = 2.0**360
_MIN_MAGNITUDE = 2.0**-360
_MAX_AGE = 14 * 86400.0
_MAX_AHEAD = 2 * 3600.0
_RESOLUTIONS = (1, 60)
#: CloudWatch's ``StandardUnit`` enumeration.
STANDARD_UNITS = frozenset(
    {
        "Seconds", "Microseconds", "Milliseconds",
        "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
        "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
        "Percent", "Count",
        "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
        "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
        "Gigabits/Second", "Terabits/Second", "Count/Second",
        "None",
    }
)  # fmt: skip
_JSON_SPECIALS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$"
)


def _invalid(message: str) -> CloudWatchError:
    return CloudWatchError("InvalidParameterValue", message)


def _missing(path: str) -> CloudWatchError:
    return CloudWatchError("MissingParameter", f"The parameter {path} is required.")


def _combination(path: str, first: str, second: str) -> CloudWatchError:
    return CloudWatchError(
        "InvalidParameterCombination",
        f"The parameters {path}.{first} and {path}.{second} are mutually exclusive and "
        "you have specified both.",
    )


def _serialization(path: str, raw: object) -> CloudWatchError:
    return CloudWatchError(
        "SerializationException", f"Unexpected value {raw!r} for {path}: wrong type"
    )


class _Reader:
    """Converts raw request fields (JSON values or query strings) and checks the rules."""

    def __init__(self, protocol: Protocol, strict: bool) -> None:
        self.protocol = protocol
        self.strict = strict

    def string(self, raw: object, path: str) -> str:
        if not isinstance(raw, str):
            raise _serialization(path, raw)
        return raw

    def bounded(self, raw: object, path: str, maximum: int) -> str:
        text = self.string(raw, path)
        if self.strict and not 1 <= len(text) <= maximum:
            raise _invalid(
                f"The parameter {path} must be between 1 and {maximum} characters long "
                f"(got {len(text)})."
            )
        return text

    def number(self, raw: object, path: str) -> float:
        if isinstance(raw, bool):
            raise _serialization(path, raw)
        if isinstance(raw, (int, float)):
            try:
                value = float(raw)
            except OverflowError:
                value = math.inf if raw > 0 else -math.inf
        elif isinstance(raw, str) and self.protocol == "json":
            if raw not in _JSON_SPECIALS:
                raise _serialization(path, raw)
            value = _JSON_SPECIALS[raw]
        elif isinstance(raw, str):
            try:
                value = float(raw)
            except ValueError:
                raise _invalid(f"The value {raw} for parameter {path} is invalid.") from None
        else:
            raise _serialization(path, raw)
        if self.strict:
            if math.isnan(value) or math.isinf(value):
                text = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
                raise _invalid(f"The value {text} for parameter {path} is invalid.")
            magnitude = abs(value)
            if magnitude > _MAX_MAGNITUDE or 0.0 < magnitude < _MIN_MAGNITUDE:
                raise _invalid(
                    f"The value {value!r} for parameter {path} is invalid: values must be "
                    "within -2^360..2^360 and 0 or at least 2^-360 in magnitude."
                )
        return value

    def integer(self, raw: object, path: str) -> int:
        if isinstance(raw, bool):
            raise _serialization(path, raw)
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str) and self.protocol != "json":
            try:
                return int(raw)
            except ValueError:
                raise _invalid(f"The value {raw} for parameter {path} is invalid.") from None
        raise _serialization(path, raw)

    def timestamp(self, raw: object, path: str) -> float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if not isinstance(raw, str):
            raise _serialization(path, raw)
        match = _ISO_RE.match(raw.strip())
        if match is None:
            try:
                return float(raw)
            except ValueError:
                raise _invalid(f"The value {raw} for parameter {path} is invalid.") from None
        year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
        fraction = float(match.group(7)) if match.group(7) else 0.0
        try:
            epoch = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
        except (ValueError, OverflowError):
            raise _invalid(f"The value {raw} for parameter {path} is invalid.") from None
        if match.group(9):
            offset = int(match.group(10)) * 3600 + int(match.group(11)) * 60
            epoch -= offset if match.group(9) == "+" else -offset
        return epoch + fraction

    def sequence(self, raw: object, path: str) -> list[Any]:
        if not isinstance(raw, list):
            raise _serialization(path, raw)
        return raw

    def mapping(self, raw: object, path: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise _serialization(path, raw)
        return raw


def _dimensions(reader: _Reader, raw: object, path: str) -> tuple[tuple[str, str], ...]:
    items = reader.sequence(raw, path)
    if reader.strict and len(items) > MAX_DIMENSIONS:
        raise _invalid(f"The collection {path} must not have a size greater than {MAX_DIMENSIONS}.")
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, item in enumerate(items, 1):
        item_path = f"{path}.member.{index}"
        fields = reader.mapping(item, item_path)
        if "Name" not in fields:
            raise _missing(f"{item_path}.Name")
        if "Value" not in fields:
            raise _missing(f"{item_path}.Value")
        name = reader.bounded(fields["Name"], f"{item_path}.Name", _MAX_NAME)
        value = reader.bounded(fields["Value"], f"{item_path}.Value", _MAX_DIMENSION_VALUE)
        if reader.strict and name in seen:
            raise _invalid(
                f"No metric may have duplicate dimension names: {name!r} appears more "
                f"than once in {path}."
            )
        seen.add(name)
        pairs.append((name, value))
    return tuple(sorted(pairs))


def _statistic_set(reader: _Reader, raw: object, path: str) -> StatisticSet:
    fields = reader.mapping(raw, path)
    numbers: dict[str, float] = {}
    for key in ("SampleCount", "Sum", "Minimum", "Maximum"):
        if key not in fields:
            raise _missing(f"{path}.{key}")
        numbers[key] = reader.number(fields[key], f"{path}.{key}")
    if reader.strict and numbers["SampleCount"] <= 0:
        raise _invalid(
            f"The value {numbers['SampleCount']!r} for parameter {path}.SampleCount is "
            "invalid: it must be greater than 0."
        )
    if reader.strict and numbers["Minimum"] > numbers["Maximum"]:
        raise _invalid(
            f"The values for parameters {path}.Minimum and {path}.Maximum are invalid: "
            "Minimum must not be greater than Maximum."
        )
    return StatisticSet(
        sample_count=numbers["SampleCount"],
        sum=numbers["Sum"],
        minimum=numbers["Minimum"],
        maximum=numbers["Maximum"],
    )


def _datum(reader: _Reader, raw: object, path: str, now: float) -> AcceptedDatum:
    fields = reader.mapping(raw, path)
    if "MetricName" not in fields:
        raise _missing(f"{path}.MetricName")
    name = reader.bounded(fields["MetricName"], f"{path}.MetricName", _MAX_NAME)
    dimensions = _dimensions(reader, fields.get("Dimensions", []), f"{path}.Dimensions")

    raw_values = reader.sequence(fields.get("Values", []), f"{path}.Values")
    raw_counts = reader.sequence(fields.get("Counts", []), f"{path}.Counts")
    has_value = fields.get("Value") is not None
    has_values = bool(raw_values)
    has_stats = fields.get("StatisticValues") is not None
    if has_value and has_values:
        raise _combination(path, "Value", "Values")
    if has_stats and (has_value or has_values):
        raise _combination(path, "Value" if has_value else "Values", "StatisticValues")
    if not (has_value or has_values or has_stats):
        raise CloudWatchError(
            "MissingParameter",
            f"One of the parameters {path}.Value, {path}.Values or {path}.StatisticValues "
            "is required.",
        )
    if reader.strict and len(raw_values) > MAX_VALUES:
        raise _invalid(
            f"The collection {path}.Values must not have a size greater than {MAX_VALUES}."
        )
    if reader.strict and raw_counts and len(raw_counts) != len(raw_values):
        raise _invalid(
            f"The parameters {path}.Values and {path}.Counts must be arrays of the same "
            f"size (got {len(raw_values)} and {len(raw_counts)})."
        )

    statistic_values: StatisticSet | None = None
    values: tuple[float, ...] = ()
    counts: tuple[float, ...] = ()
    if has_stats:
        statistic_values = _statistic_set(
            reader, fields["StatisticValues"], f"{path}.StatisticValues"
        )
    elif has_value:
        values = (reader.number(fields["Value"], f"{path}.Value"),)
        counts = (1.0,)
    else:
        values = tuple(
            reader.number(v, f"{path}.Values.member.{i}") for i, v in enumerate(raw_values, 1)
        )
        counts = tuple(
            reader.number(c, f"{path}.Counts.member.{i}") for i, c in enumerate(raw_counts, 1)
        ) or (1.0,) * len(values)
        for index, count in enumerate(counts, 1):
            if reader.strict and count < 0:
                raise _invalid(
                    f"The value {count!r} for parameter {path}.Counts.member.{index} is "
                    "invalid: counts must not be negative."
                )

    timestamp = now
    if fields.get("Timestamp") is not None:
        timestamp = reader.timestamp(fields["Timestamp"], f"{path}.Timestamp")
        if reader.strict and timestamp < now - _MAX_AGE:
            raise _invalid(
                f"The parameter {path}.Timestamp must specify a time within the past two weeks."
            )
        if reader.strict and timestamp > now + _MAX_AHEAD:
            raise _invalid(
                f"The parameter {path}.Timestamp must specify a time no more than two "
                "hours in the future."
            )

    resolution = 60
    if fields.get("StorageResolution") is not None:
        resolution = reader.integer(fields["StorageResolution"], f"{path}.StorageResolution")
        if reader.strict and resolution not in _RESOLUTIONS:
            raise _invalid(
                f"The value {resolution} for parameter {path}.StorageResolution is invalid: "
                "it must be 1 or 60."
            )

    unit: str | None = None
    if fields.get("Unit") is not None:
        unit = reader.string(fields["Unit"], f"{path}.Unit")
        if reader.strict and unit not in STANDARD_UNITS:
            raise _invalid(f"The value {unit} for parameter {path}.Unit is invalid.")

    return AcceptedDatum(
        metric_name=name,
        dimensions=dimensions,
        timestamp=timestamp,
        unit=unit,
        storage_resolution=resolution,
        values=values,
        counts=counts,
        statistic_values=statistic_values,
    )


def normalise_put(
    request: dict[str, Any], protocol: Protocol, now: float, *, strict: bool = True
) -> AcceptedPut:
    """Check a decoded PutMetricData request and normalise it.

    Args:
        request: the decoded body (JSON object, or the query form via
            :func:`~cwmetrics_transports.testing._protocol.parse_query_body`).
        protocol: the wire protocol (``"json"`` or ``"query"``).
        now: the server's wall clock (epoch seconds) for timestamp checks/defaults.
        strict: enforce CloudWatch's limits; ``False`` only converts types.

    Returns:
        The normalised request.

    Raises:
        CloudWatchError: the first rule the request breaks, with CloudWatch's code.
    """
    reader = _Reader(protocol, strict)
    if "Namespace" not in request:
        raise _missing("Namespace")
    if "MetricData" not in request and "EntityMetricData" not in request:
        raise _missing("MetricData")
    located: list[tuple[str, object]] = [
        (f"MetricData.member.{i}", d)
        for i, d in enumerate(reader.sequence(request.get("MetricData", []), "MetricData"), 1)
    ]
    entities = reader.sequence(request.get("EntityMetricData", []), "EntityMetricData")
    for e_index, entity in enumerate(entities, 1):
        e_path = f"EntityMetricData.member.{e_index}"
        entity_data = reader.mapping(entity, e_path).get("MetricData", [])
        located.extend(
            (f"{e_path}.MetricData.member.{i}", d)
            for i, d in enumerate(reader.sequence(entity_data, f"{e_path}.MetricData"), 1)
        )
    if not located:
        raise _missing("MetricData")
    if strict and len(located) > MAX_DATUMS:
        raise _invalid(
            f"The collection MetricData must not have a size greater than {MAX_DATUMS} "
            f"(got {len(located)})."
        )
    namespace = reader.bounded(request["Namespace"], "Namespace", _MAX_NAME)
    if strict and (namespace.startswith("AWS/") or namespace.startswith(":")):
        raise _invalid(
            f"The value {namespace} for parameter Namespace is invalid: it must not start "
            "with 'AWS/' or ':'."
        )
    datums = tuple(_datum(reader, raw, path, now) for path, raw in located)
    return AcceptedPut(namespace=namespace, datums=datums, protocol=protocol, received_at=now)


def _json_datum(reader: _Reader, raw: object, path: str) -> dict[str, Any]:
    fields = reader.mapping(raw, path)
    out: dict[str, Any] = {}
    for key, value in fields.items():
        sub = f"{path}.{key}"
        if key in ("Value",):
            out[key] = reader.number(value, sub)
        elif key in ("Values", "Counts"):
            items = reader.sequence(value, sub)
            if items:
                out[key] = [reader.number(v, f"{sub}.member.{i}") for i, v in enumerate(items, 1)]
        elif key == "StatisticValues":
            stats = reader.mapping(value, sub)
            out[key] = {k: reader.number(v, f"{sub}.{k}") for k, v in stats.items()}
        elif key == "Timestamp":
            out[key] = reader.timestamp(value, sub)
        elif key == "StorageResolution":
            out[key] = reader.integer(value, sub)
        elif key == "Dimensions":
            items = reader.sequence(value, sub)
            out[key] = [
                dict(reader.mapping(d, f"{sub}.member.{i}")) for i, d in enumerate(items, 1)
            ]
        else:
            out[key] = value
    return out


def query_to_json(request: dict[str, Any]) -> dict[str, Any]:
    """Re-encode a decoded query-protocol PutMetricData as the JSON 1.0 request body.

    Used to forward query requests to moto: moto's form parser is quadratic in the number
    of form fields (a 1000-datum, 9-dimension request takes ~16 s), its JSON path is not.
    Field order is kept; ``EntityMetricData`` is dropped (moto ignores it anyway).

    Args:
        request: the output of
            :func:`~cwmetrics_transports.testing._protocol.parse_query_body`.

    Returns:
        The equivalent JSON request object.

    Raises:
        CloudWatchError: a field that cannot be converted (only possible when not strict).
    """
    reader = _Reader("query", strict=False)
    out: dict[str, Any] = {}
    if "Namespace" in request:
        out["Namespace"] = request["Namespace"]
    if "MetricData" in request:
        data = reader.sequence(request["MetricData"], "MetricData")
        out["MetricData"] = [
            _json_datum(reader, d, f"MetricData.member.{i}") for i, d in enumerate(data, 1)
        ]
    return out
