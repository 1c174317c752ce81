"""Value classes: units, metric keys (validated once), datums, requests and batches."""

from __future__ import annotations

import enum
import math
from _weakref import _remove_dead_weakref  # type: ignore[attr-defined]
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn
from weakref import KeyedRef

from ._errors import InvalidMetricError, MetricTypeError
from ._limits import (
    MAX_DIMENSION_VALUE_LENGTH,
    MAX_DIMENSIONS,
    MAX_NAME_LENGTH,
)
from ._numbers import check_storage_resolution

__all__ = [
    "WireFormat", "Unit", "MetricKey", "MetricDatum", "PutMetricDataRequest", "Batch",
    "DimensionsLike",
    "normalise_dimensions", "check_namespace", "parse_unit", "Payload", "Entry",
    "payload_samples", "datum_of", "datum_params",
]

#: What a ``dimensions`` argument may be: a mapping, or an iterable of ``(name, value)`` pairs.
DimensionsLike = Mapping[str, str] | Iterable[tuple[str, str]]


class WireFormat(str, enum.Enum):
    """The body encoding a transport sends; the packer measures 1 MB in it.

    Defined here, beside the requests that carry it, so that the codecs (``_wire.py``)
    depend on the value classes and never the other way round.
    """

    JSON = "json"
    BOTOCORE_JSON = "botocore-json"
    QUERY = "query"
    #: Embedded Metric Format documents, one per line (``cwmetrics_core.EmfSink``; no
    #: PutMetricData encoder).
    EMF = "emf"
    #: OpenTelemetry metrics (``cwmetrics_core.OtlpSink``; encoded as protobuf by
    #: ``cwmetrics_transports.OtlpTransport``; no PutMetricData encoder).
    OTLP = "otlp"

    def __str__(self) -> str:
        return self.value


class Unit(str, enum.Enum):
    """CloudWatch's ``StandardUnit`` values. ``Unit("Milliseconds")`` parses the wire name."""

    SECONDS = "Seconds"
    MICROSECONDS = "Microseconds"
    MILLISECONDS = "Milliseconds"
    BYTES = "Bytes"
    KILOBYTES = "Kilobytes"
    MEGABYTES = "Megabytes"
    GIGABYTES = "Gigabytes"
    TERABYTES = "Terabytes"
    BITS = "Bits"
    KILOBITS = "Kilobits"
    MEGABITS = "Megabits"
    GIGABITS = "Gigabits"
    TERABITS = "Terabits"
    PERCENT = "Percent"
    COUNT = "Count"
    BYTES_PER_SECOND = "Bytes/Second"
    KILOBYTES_PER_SECOND = "Kilobytes/Second"
    MEGABYTES_PER_SECOND = "Megabytes/Second"
    GIGABYTES_PER_SECOND = "Gigabytes/Second"
    TERABYTES_PER_SECOND = "Terabytes/Second"
    BITS_PER_SECOND = "Bits/Second"
    KILOBITS_PER_SECOND = "Kilobits/Second"
    MEGABITS_PER_SECOND = "Megabits/Second"
    GIGABITS_PER_SECOND = "Gigabits/Second"
    TERABITS_PER_SECOND = "Terabits/Second"
    COUNT_PER_SECOND = "Count/Second"
    NONE = "None"

    def __str__(self) -> str:
        return self.value


_UNITS_BY_NAME: dict[str, Unit] = {u.value: u for u in Unit}
_UNITS_BY_NAME.update({u.value.lower(): u for u in Unit})


def parse_unit(unit: object, field: str = "Unit") -> Unit:
    """Return the :class:`Unit` for ``unit`` (a Unit, its wire name, any case; None = NONE).

    Raises:
        InvalidMetricError: an unknown unit name.
        MetricTypeError: not a string or Unit.
    """
    if isinstance(unit, Unit):
        return unit
    if unit is None:
        return Unit.NONE
    if not isinstance(unit, str):
        raise MetricTypeError(field, unit, "must be a Unit or one of CloudWatch's unit names")
    found = _UNITS_BY_NAME.get(unit) or _UNITS_BY_NAME.get(unit.lower())
    if found is None:
        raise InvalidMetricError(
            field, unit, "unknown unit; expected one of: " + ", ".join(u.value for u in Unit)
        )
    return found


def _check_text(field: str, value: object, max_len: int, *, ascii_only: bool) -> str:
    if not isinstance(value, str):
        raise MetricTypeError(field, value, "must be a str")
    if not 1 <= len(value) <= max_len:
        raise InvalidMetricError(field, value, f"length {len(value)} outside 1..{max_len}")
    if value.isspace():
        raise InvalidMetricError(field, value, "must contain a non-whitespace character")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidMetricError(field, value, "must not contain ASCII control characters")
    if ascii_only and not value.isascii():
        raise InvalidMetricError(field, value, "must contain only ASCII characters")
    return value


def check_namespace(namespace: object) -> str:
    """Validate a CloudWatch namespace and return it.

    Raises:
        InvalidMetricError: empty, longer than 255, non-ASCII, starting with ``:`` or ``AWS/``.
    """
    ns = _check_text("Namespace", namespace, MAX_NAME_LENGTH, ascii_only=True)
    if ns.startswith(":"):
        raise InvalidMetricError("Namespace", ns, "must not start with ':'")
    if ns.startswith("AWS/"):
        raise InvalidMetricError("Namespace", ns, "'AWS/' namespaces are reserved for AWS")
    return ns


def normalise_dimensions(dimensions: object) -> tuple[tuple[str, str], ...]:
    """Validate dimensions and return them as ``(name, value)`` pairs sorted by name.

    Accepts a mapping or an iterable of pairs.

    Raises:
        InvalidMetricError: more than 30, an empty/over-long/non-ASCII name or value, a
            name starting with ``:``, or a duplicate name.
        MetricTypeError: not a mapping or pairs, or a name/value that is not a str.
    """
    return _normalise_dimensions(dimensions)


def _normalise_dimensions(dimensions: object) -> tuple[tuple[str, str], ...]:
    if isinstance(dimensions, Mapping):
        pairs: list[Any] = list(dimensions.items())
    elif isinstance(dimensions, (str, bytes)) or not isinstance(dimensions, Iterable):
        raise MetricTypeError(
            "Dimensions", dimensions, "must be a mapping or an iterable of (name, value) pairs"
        )
    else:
        pairs = list(dimensions)
    if len(pairs) > MAX_DIMENSIONS:
        raise InvalidMetricError(
            "Dimensions", dimensions, f"{len(pairs)} dimensions; at most {MAX_DIMENSIONS} allowed"
        )
    seen: dict[str, str] = {}
    for i, pair in enumerate(pairs):
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise MetricTypeError(f"Dimensions[{i}]", pair, "must be a (name, value) pair")
        name = _check_text(f"Dimensions[{i}].Name", pair[0], MAX_NAME_LENGTH, ascii_only=True)
        if name.startswith(":"):
            raise InvalidMetricError(f"Dimensions[{i}].Name", name, "must not start with ':'")
        value = _check_text(
            f"Dimensions[{name}].Value", pair[1], MAX_DIMENSION_VALUE_LENGTH, ascii_only=True
        )
        if name in seen:
            raise InvalidMetricError(f"Dimensions[{i}].Name", name, "duplicate dimension name")
        seen[name] = value
    return tuple(sorted(seen.items()))


#: The live keys by value: ``(namespace, name, dimensions, unit wire name, resolution)``
#: -> a weak reference to the one key with that value (see ``MetricKey.__new__``).
_KEYS: dict[tuple[str, str, tuple[tuple[str, str], ...], str, int], Any] = {}


def _forget(ref: Any, _remove: Any = _remove_dead_weakref, _keys: Any = _KEYS) -> None:
    # Called when a key dies: remove its entry unless a new key already took the slot.
    # (Bound as defaults: still reachable while the interpreter tears modules down.)
    _remove(_keys, ref.key)


def _intern(
    cls: type[MetricKey],
    identity: tuple[str, str, tuple[tuple[str, str], ...], str, int],
    unit: Unit,
) -> MetricKey:
    """The live key equal to ``identity``, or a new one registered as it.

    Lock-free and safe under threads: ``dict.setdefault`` is atomic for these plain
    tuple keys, and a dead entry is removed only while it is still dead
    (``_remove_dead_weakref``), so two live keys with one value never coexist.
    """
    while True:
        ref = _KEYS.get(identity)
        if ref is not None:
            key = ref()
            if key is not None:
                return key  # type: ignore[no-any-return]
            _remove_dead_weakref(_KEYS, identity)
            continue
        key = object.__new__(cls)
        setter = object.__setattr__
        setter(key, "namespace", identity[0])
        setter(key, "name", identity[1])
        setter(key, "dimensions", identity[2])
        setter(key, "unit", unit)
        setter(key, "storage_resolution", identity[4])
        setter(key, "_wf", None)  # wire fragments, filled in by the first encoder
        setter(key, "_emf", None)
        ref = KeyedRef(key, _forget, identity)
        if _KEYS.setdefault(identity, ref) is ref:
            return key
        # Another thread registered this value first: use its key (loop re-reads it).


class MetricKey:
    """Identity of one CloudWatch time series, validated once on construction.

    Build a key once and reuse it: recording with a ready key costs a few dict operations.
    Dimension order never creates a new series (dimensions are stored sorted by name).
    Keys are immutable, hashable and compare by value.

    Args:
        namespace: CloudWatch namespace, 1-255 ASCII characters, not ``AWS/...``.
        name: metric name, 1-255 characters.
        dimensions: a mapping or ``(name, value)`` pairs; at most 30; names 1-255 and
            values 1-1024 ASCII characters.
        unit: a :class:`Unit` or its wire name (``"Milliseconds"``); default ``None``.
        storage_resolution: 60 (standard) or 1 (high resolution), seconds: any real
            number equal to one of them (``60.0``, ``numpy.int64(1)``), never a bool.

    Raises:
        InvalidMetricError: any field CloudWatch would reject (the message names the
            field, the value and the limit).
        MetricTypeError: a field of the wrong type.
    """

    __slots__ = (
        "__weakref__", "_emf", "_head", "_tail", "_wf", "dimensions", "name", "namespace",
        "storage_resolution", "unit",
    )

    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    unit: Unit
    storage_resolution: int
    # The key's wire text in the encoding last asked for (``_wf``), as plain strings: a
    # cache that adds no object for the garbage collector to track (see ``_wire.py``).
    _wf: WireFormat | None
    _head: str
    _tail: str
    # The EMF sink's parts of this key (``_emf.py``), None until it first packs the key.
    _emf: Any

    # Keys are interned: while a key is alive, building an equal one returns that same
    # object. Equality by value is then identity, so hashing and comparing a key is the
    # interpreter's own pointer hash, with no Python-level __hash__/__eq__ call on the
    # recording path (each dict lookup keyed by a key would otherwise run one).
    def __new__(
        cls,
        namespace: str,
        name: str,
        dimensions: DimensionsLike = (),
        unit: Unit | str = Unit.NONE,
        storage_resolution: int = 60,
    ) -> MetricKey:
        ns = check_namespace(namespace)
        metric_name = _check_text("MetricName", name, MAX_NAME_LENGTH, ascii_only=False)
        dims = _normalise_dimensions(dimensions)
        parsed_unit = parse_unit(unit)
        storage_resolution = check_storage_resolution(storage_resolution)
        identity = (ns, metric_name, dims, parsed_unit.value, storage_resolution)
        return _intern(cls, identity, parsed_unit)

    def __init__(
        self,
        namespace: str,
        name: str,
        dimensions: DimensionsLike = (),
        unit: Unit | str = Unit.NONE,
        storage_resolution: int = 60,
    ) -> None:
        # The signature only (for readers and tools): __new__ validated and interned the
        # key, and the returned key may be an existing one, so nothing is set here.
        pass

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"MetricKey is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"MetricKey is immutable; cannot delete {name!r}")

    def __copy__(self) -> MetricKey:
        return self

    def __deepcopy__(self, memo: object) -> MetricKey:
        return self

    def __repr__(self) -> str:
        return (
            f"MetricKey(namespace={self.namespace!r}, name={self.name!r}, "
            f"dimensions={dict(self.dimensions)!r}, unit={self.unit.value!r}, "
            f"storage_resolution={self.storage_resolution})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            MetricKey,
            (self.namespace, self.name, self.dimensions, self.unit, self.storage_resolution),
        )

    def with_dimensions(self, dimensions: DimensionsLike) -> MetricKey:
        """Return a key like this one with ``dimensions`` merged over its own.

        Raises:
            InvalidMetricError: as the constructor.
        """
        merged = dict(self.dimensions)
        merged.update(dict(dimensions) if isinstance(dimensions, Mapping) else dimensions)
        return MetricKey(self.namespace, self.name, merged, self.unit, self.storage_resolution)


class MetricDatum:
    """One ``MetricData`` entry of a request: a key, a period timestamp and its data.

    Exactly one of ``values`` (with ``counts``, ``None`` meaning all ones) or
    ``statistics`` (``(sample_count, sum, minimum, maximum)``) is set.
    """

    __slots__ = ("attempts", "counts", "key", "samples", "statistics", "timestamp", "values")

    def __init__(
        self,
        key: MetricKey,
        timestamp: float,
        values: tuple[float, ...] | None = None,
        counts: tuple[float, ...] | None = None,
        statistics: tuple[float, float, float, float] | None = None,
    ) -> None:
        self.key = key
        self.timestamp = timestamp
        self.values = values
        self.counts = counts
        self.statistics = statistics
        #: How many times this datum was handed out and came back failed.
        self.attempts = 0
        if statistics is not None:
            self.samples: float = statistics[0]
        elif counts is not None:
            self.samples = math.fsum(counts)
        else:
            self.samples = float(len(values or ()))

    def _identity(self) -> tuple[Any, ...]:
        return (self.key, self.timestamp, self.values, self.counts, self.statistics)

    def __eq__(self, other: object) -> bool:
        """Datums compare by their data (key, timestamp, values, counts, statistics); the
        ``attempts`` bookkeeping is not part of it."""
        if not isinstance(other, MetricDatum):
            return NotImplemented
        return self is other or self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        data = (
            f"statistics={self.statistics!r}"
            if self.statistics is not None
            else f"values={len(self.values or ())}, samples={self.samples:g}"
        )
        return f"MetricDatum({self.key!r}, timestamp={self.timestamp:g}, {data})"

    def to_params(self) -> dict[str, Any]:
        """The datum as boto3 ``put_metric_data`` ``MetricData`` entry."""
        key = self.key
        entry: dict[str, Any] = {"MetricName": key.name}
        if key.dimensions:
            entry["Dimensions"] = [{"Name": n, "Value": v} for n, v in key.dimensions]
        entry["Timestamp"] = int(self.timestamp)
        if self.statistics is not None:
            count, total, low, high = self.statistics
            entry["StatisticValues"] = {
                "SampleCount": count,
                "Sum": total,
                "Minimum": low,
                "Maximum": high,
            }
        else:
            entry["Values"] = list(self.values or ())
            if self.counts is not None:
                entry["Counts"] = list(self.counts)
        if key.unit is not Unit.NONE:
            entry["Unit"] = key.unit.value
        if key.storage_resolution != 60:
            entry["StorageResolution"] = key.storage_resolution
        return entry


class PutMetricDataRequest:
    """A ready-to-send PutMetricData request, within every limit, measured exactly.

    The core builds requests from compact datums (see :meth:`packed`): parallel lists of
    keys, timestamps and payloads, so a request in flight adds no per-datum object for the
    garbage collector to walk. :attr:`datums` and :attr:`params` are built on use.

    For :attr:`WireFormat.BOTOCORE_JSON` and :attr:`WireFormat.QUERY` (botocore serializes
    :attr:`params` itself) the core measures the exact size of the body botocore will
    write without building it, and :attr:`body` is encoded on first access only: a
    boto3/aiobotocore transport never encodes a request twice.

    Attributes:
        namespace: the request's namespace (requests never mix namespaces).
        wire_format: the encoding of :attr:`body`.
        size: the exact byte size of :attr:`body` (what the packer measured against the
            request size limit).
        headers: the protocol headers a raw HTTP transport must send with ``body``
            (``Content-Type`` and, for JSON, ``X-Amz-Target``).
        samples: total sample count carried (sum of counts / sample counts).
    """

    __slots__ = (
        "_body", "_datums", "_encode", "headers", "keys", "namespace", "payloads", "samples",
        "size", "timestamps", "wire_format",
    )

    def __init__(
        self,
        namespace: str,
        datums: tuple[MetricDatum, ...],
        body: bytes,
        wire_format: WireFormat,
        headers: dict[str, str],
    ) -> None:
        self.namespace = namespace
        self._datums: tuple[MetricDatum, ...] | None = datums
        self._body: bytes | None = body
        self._encode: Callable[[PutMetricDataRequest], bytes] | None = None
        self.size = len(body)
        self.wire_format = wire_format
        self.headers = headers
        self.samples = math.fsum(d.samples for d in datums)
        #: The datums' keys, timestamps and payloads, in wire order.
        self.keys: list[MetricKey] = [d.key for d in datums]
        self.timestamps: list[float] = [d.timestamp for d in datums]
        self.payloads: list[Payload] = [_payload_of(d) for d in datums]

    @classmethod
    def packed(
        cls,
        namespace: str,
        keys: list[MetricKey],
        timestamps: list[float],
        payloads: list[Payload],
        samples: float,
        body: bytes | None,
        wire_format: WireFormat,
        headers: dict[str, str],
        *,
        size: int | None = None,
        encode: Callable[[PutMetricDataRequest], bytes] | None = None,
    ) -> PutMetricDataRequest:
        """A request from compact datums (what the packer produces); no datum objects.

        Either ``body`` (then ``size`` is its length), or ``size`` and ``encode``: the
        function that builds the body of exactly ``size`` bytes on first use.
        """
        self = cls.__new__(cls)
        self.namespace = namespace
        self._datums = None
        self._body = body
        self._encode = encode
        if body is not None:
            self.size = len(body)
        elif size is None or encode is None:
            raise TypeError("packed() needs a body, or a size and an encode function")
        else:
            self.size = size
        self.wire_format = wire_format
        self.headers = headers
        self.samples = samples
        self.keys = keys
        self.timestamps = timestamps
        self.payloads = payloads
        return self

    @property
    def body(self) -> bytes:
        """The exact encoded body in :attr:`wire_format` (:attr:`size` bytes)."""
        body = self._body
        if body is None:
            assert self._encode is not None
            body = self._body = self._encode(self)
        return body

    @body.setter
    def body(self, body: bytes) -> None:
        self._body = body
        self.size = len(body)

    @property
    def datums(self) -> tuple[MetricDatum, ...]:
        """The datums, in wire order (built from the compact form on first use)."""
        if self._datums is None:
            self._datums = tuple(
                datum_of(k, t, p)
                for k, t, p in zip(self.keys, self.timestamps, self.payloads, strict=True)
            )
        return self._datums

    @property
    def params(self) -> dict[str, Any]:
        """Keyword arguments for boto3's ``client.put_metric_data(**params)``, built from
        the compact datums on each access (no :class:`MetricDatum` in between; nothing is
        kept while the request is in flight).

        botocore serializing these params writes byte-for-byte the body the core measured
        for :attr:`WireFormat.BOTOCORE_JSON` and :attr:`WireFormat.QUERY`.
        """
        return {
            "Namespace": self.namespace,
            "MetricData": list(map(datum_params, self.keys, self.timestamps, self.payloads)),
        }

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return (
            f"PutMetricDataRequest(namespace={self.namespace!r}, datums={len(self.keys)}, "
            f"bytes={self.size}, wire_format={self.wire_format.value!r})"
        )


def datum_params(key: MetricKey, timestamp: float, payload: Payload) -> dict[str, Any]:
    """One compact datum as a boto3 ``MetricData`` entry (what :meth:`MetricDatum.to_params`
    returns for the same datum; the order of the fields is the order botocore's JSON
    serializer writes them in)."""
    entry: dict[str, Any] = {"MetricName": key.name}
    if key.dimensions:
        entry["Dimensions"] = [{"Name": n, "Value": v} for n, v in key.dimensions]
    entry["Timestamp"] = int(timestamp)
    if payload.__class__ is tuple:
        count, total, low, high = payload
        entry["StatisticValues"] = {"SampleCount": count, "Sum": total, "Minimum": low,
                                    "Maximum": high}  # fmt: skip
    else:
        entry["Values"] = list(payload)
        counts = list(payload.values())  # type: ignore[union-attr]
        if counts.count(1.0) != len(counts):
            entry["Counts"] = counts
    if key.unit is not Unit.NONE:
        entry["Unit"] = key.unit.value
    if key.storage_resolution != 60:
        entry["StorageResolution"] = key.storage_resolution
    return entry


#: A datum's data, compactly: ``{value: count}`` (at most one datum's worth of values) or
#: ``(sample_count, sum, minimum, maximum)``. Dicts of floats are not tracked by the GC.
Payload = dict[float, float] | tuple[float, float, float, float]
#: One datum, compactly: ``(key, period timestamp, payload, attempts so far)``.
Entry = tuple[MetricKey, float, Payload, int]


def payload_samples(payload: Payload) -> float:
    """Samples a payload carries: the sum of its counts, or its sample count."""
    if payload.__class__ is tuple:
        return payload[0]
    return math.fsum(payload.values())  # type: ignore[union-attr]


def datum_of(key: MetricKey, timestamp: float, payload: Payload) -> MetricDatum:
    """The :class:`MetricDatum` of a compact datum."""
    if payload.__class__ is tuple:
        return MetricDatum(key, timestamp, statistics=payload)
    counts = tuple(payload.values())  # type: ignore[union-attr]
    return MetricDatum(
        key, timestamp, tuple(payload), None if counts.count(1.0) == len(counts) else counts
    )


def _payload_of(datum: MetricDatum) -> Payload:
    if datum.statistics is not None:
        return datum.statistics
    values = datum.values or ()
    counts = datum.counts if datum.counts is not None else (1.0,) * len(values)
    payload: dict[float, float] = {}
    for value, count in zip(values, counts, strict=False):
        payload[value] = payload.get(value, 0.0) + count
    return payload


class Batch:
    """A request handed out by the core, in flight until ``ack()`` or ``failed()``.

    Attributes:
        id: unique (per core) batch number.
        request: the :class:`PutMetricDataRequest` to send.
        attempt: 1 for a first send; higher when the datums were sent before and failed.
    """

    __slots__ = ("attempt", "id", "request")

    def __init__(self, id: int, request: PutMetricDataRequest, attempt: int) -> None:
        self.id = id
        self.request = request
        self.attempt = attempt

    def __repr__(self) -> str:
        return f"Batch(id={self.id}, attempt={self.attempt}, request={self.request!r})"
