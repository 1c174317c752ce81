"""Pure wire encoders: datums to PutMetricData bodies, byte for byte.

Three encodings of the same datums:

* :attr:`WireFormat.JSON`: compact AWS JSON 1.0, what the raw HTTP transport sends
  (``X-Amz-Target: GraniteServiceVersion20100801.PutMetricData``).
* :attr:`WireFormat.BOTOCORE_JSON`: AWS JSON 1.0 exactly as botocore >= 1.43 serializes the
  request's ``params`` (``json.dumps`` default separators).
* :attr:`WireFormat.QUERY`: the query-protocol form body, exactly as botocore 1.40 (the
  version aioboto3 15.5 pins) serializes the same ``params``.

Every encoding is ASCII (JSON escapes non-ASCII, the form body percent-encodes it), so
``len(text)`` is the byte size: the packer measures exactly what goes on the wire. Per-key
fragments are computed once and cached on the :class:`~cwmetrics_core.MetricKey`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from itertools import repeat
from json.encoder import encode_basestring_ascii
from operator import add
from typing import Any

from ._model import MetricDatum, MetricKey, Payload, Unit

__all__ = ["WireFormat", "Encoder", "encoder_for", "JSON_TARGET", "PUT_METRIC_DATA_FORMATS"]

#: ``X-Amz-Target`` of PutMetricData in AWS JSON 1.0.
JSON_TARGET = "GraniteServiceVersion20100801.PutMetricData"

_float_repr = float.__repr__
#: json.dumps(s) for a str, without json.dumps' overhead (same C function, same output).
_jstr: Callable[[str], str] = encode_basestring_ascii


class _ReprCache(dict[float, str]):
    """float -> repr, filled on demand; values repeat a lot (rounded latencies, counts)."""

    __slots__ = ()
    limit = 200_000

    def __missing__(self, value: float) -> str:
        if not value:  # 0.0 and -0.0 are equal keys but print differently: never cache
            return _float_repr(value)
        if len(self) >= self.limit:
            self.clear()
        text = self[value] = _float_repr(value)
        return text


_reprs = _ReprCache()
_repr = _reprs.__getitem__


class _QueryReprCache(_ReprCache):
    """float -> form-encoded repr (``1e+16`` becomes ``1e%2B16``)."""

    __slots__ = ()

    def __missing__(self, value: float) -> str:
        text = _float_repr(value)
        if "+" in text:
            text = text.replace("+", "%2B")
        if not value:
            return text
        if len(self) >= self.limit:
            self.clear()
        self[value] = text
        return text


_qrepr = _QueryReprCache().__getitem__
#: "Values.member.1=", ... and "Counts.member.1=", ...: list prefixes for the query form.
_VALUE_MEMBERS = [f"Values.member.{k}=" for k in range(1, 151)]
_COUNT_MEMBERS = [f"Counts.member.{k}=" for k in range(1, 151)]


def _members(table: list[str], name: str, n: int) -> list[str]:
    """The first ``n`` list prefixes, growing the table for limits above CloudWatch's."""
    while len(table) < n:
        table.append(f"{name}.member.{len(table) + 1}=")
    return table[:n]


class WireFormat(str, enum.Enum):
    """The body encoding a transport sends; the packer measures 1 MB in it."""

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


def _new_cache(key: MetricKey) -> dict[Any, Any]:
    cache: dict[Any, Any] = {}
    object.__setattr__(key, "_cache", cache)
    return cache


class Encoder:
    """Encodes one request as ``prefix + fragment(d1, 1) + item_sep + ... + suffix``.

    Subclasses are stateless apart from configuration; :func:`encoder_for` returns shared
    instances.
    """

    wire_format: WireFormat
    item_sep: str
    suffix: str
    headers: dict[str, str]

    def prefix(self, namespace: str) -> str:
        """The body text before the first datum."""
        raise NotImplementedError

    def fragment(self, datum: MetricDatum, index: int) -> str:
        """The text of ``datum`` at 1-based position ``index`` in the request."""
        raise NotImplementedError

    def fragment_of(self, key: MetricKey, timestamp: float, payload: Payload, index: int) -> str:
        """The text of one compact datum (``{value: count}`` or a statistic tuple) at
        1-based position ``index``: the same text as :meth:`fragment` of that datum."""
        raise NotImplementedError

    def encode(self, namespace: str, datums: list[MetricDatum]) -> bytes:
        """Encode a whole request (no limit checks; the packer does those)."""
        frags = [self.fragment(d, i) for i, d in enumerate(datums, 1)]
        return (self.prefix(namespace) + self.item_sep.join(frags) + self.suffix).encode("ascii")


class _JsonEncoder(Encoder):
    def __init__(self, wire_format: WireFormat, item_sep: str, key_sep: str) -> None:
        self.wire_format = wire_format
        self.item_sep = item_sep
        self._key_sep = key_sep
        self.suffix = "]}"
        self._values_key = self._q("Values") + "["
        self._counts_key = self._q("Counts") + "["
        self.headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": JSON_TARGET,
        }

    def _q(self, name: str) -> str:
        return '"' + name + '"' + self._key_sep

    def prefix(self, namespace: str) -> str:
        return "{" + self._q("Namespace") + _jstr(namespace) + self.item_sep + (
            self._q("MetricData") + "["
        )

    def _key_parts(self, key: MetricKey) -> tuple[str, str]:
        cache = key._cache
        if cache is None:
            cache = _new_cache(key)
        cached: tuple[str, str] | None = cache.get(self.wire_format)
        if cached is not None:
            return cached
        sep, q = self.item_sep, self._q
        head = "{" + q("MetricName") + _jstr(key.name)
        if key.dimensions:
            dims = sep.join(
                "{" + q("Name") + _jstr(n) + sep + q("Value") + _jstr(v) + "}"
                for n, v in key.dimensions
            )
            head += sep + q("Dimensions") + "[" + dims + "]"
        head += sep + q("Timestamp")
        tail = ""
        if key.unit is not Unit.NONE:
            tail += sep + q("Unit") + _jstr(key.unit.value)
        if key.storage_resolution != 60:
            tail += sep + q("StorageResolution") + str(key.storage_resolution)
        tail += "}"
        cache[self.wire_format] = (head, tail)
        return head, tail

    def fragment(self, datum: MetricDatum, index: int) -> str:
        return self._fragment(
            datum.key, datum.timestamp, datum.values or (), datum.counts, datum.statistics
        )

    def fragment_of(self, key: MetricKey, timestamp: float, payload: Payload, index: int) -> str:
        if payload.__class__ is tuple:
            return self._fragment(key, timestamp, (), None, payload)
        cache = key._cache
        parts = cache.get(self.wire_format) if cache is not None else None
        head, tail = parts if parts is not None else self._key_parts(key)
        sep = self.item_sep
        data = self._values_key + sep.join(map(_repr, payload)) + "]"
        counts = payload.values()  # type: ignore[union-attr]
        if len(counts) != list(counts).count(1.0):
            data += sep + self._counts_key + sep.join(map(_repr, counts)) + "]"
        return head + str(int(timestamp)) + sep + data + tail

    def _fragment(
        self,
        key: MetricKey,
        timestamp: float,
        values: Iterable[float],
        counts: tuple[float, ...] | None,
        statistics: tuple[float, float, float, float] | None,
    ) -> str:
        head, tail = self._key_parts(key)
        sep, q = self.item_sep, self._q
        if statistics is not None:
            count, total, low, high = statistics
            data = (
                q("StatisticValues") + "{" + q("SampleCount") + _float_repr(count) + sep
                + q("Sum") + _float_repr(total) + sep + q("Minimum") + _float_repr(low) + sep
                + q("Maximum") + _float_repr(high) + "}"
            )
        else:
            data = q("Values") + "[" + sep.join(map(_repr, values)) + "]"
            if counts is not None:
                data += sep + q("Counts") + "[" + sep.join(map(_repr, counts)) + "]"
        return head + str(int(timestamp)) + sep + data + tail


def _qnum(value: float) -> str:
    text = _float_repr(value)
    return text.replace("+", "%2B") if "+" in text else text


_FORM_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote_plus(text: str) -> str:
    """``application/x-www-form-urlencoded`` quoting of ``text``, exactly as
    ``urllib.parse.quote_plus`` does it (UTF-8, space as ``+``), without importing urllib
    into the core. Used for per-key fragments, which are cached."""
    return "".join(
        chr(byte) if byte in _FORM_SAFE else "+" if byte == 0x20 else f"%{byte:02X}"
        for byte in text.encode("utf-8")
    )


_ISO_CACHE: dict[int, str] = {}


def _iso8601(epoch: float) -> str:
    """Form-encoded ISO 8601 for a period timestamp (datums of a period share it)."""
    seconds = int(epoch)
    text = _ISO_CACHE.get(seconds)
    if text is None:
        if len(_ISO_CACHE) >= 4096:
            _ISO_CACHE.clear()
        text = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime(
            "%Y-%m-%dT%H%%3A%M%%3A%SZ"
        )
        _ISO_CACHE[seconds] = text
    return text


class _QueryEncoder(Encoder):
    wire_format = WireFormat.QUERY
    item_sep = ""
    suffix = ""
    def __init__(self) -> None:
        self.headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

    def prefix(self, namespace: str) -> str:
        return "Action=PutMetricData&Version=2010-08-01&Namespace=" + quote_plus(namespace)

    @staticmethod
    def _key_parts(key: MetricKey) -> tuple[list[str], list[str]]:
        cache = key._cache
        if cache is None:
            cache = _new_cache(key)
        cached: tuple[list[str], list[str]] | None = cache.get(WireFormat.QUERY)
        if cached is not None:
            return cached
        head = ["MetricName=" + quote_plus(key.name)]
        for j, (n, v) in enumerate(key.dimensions, 1):
            head.append(f"Dimensions.member.{j}.Name=" + quote_plus(n))
            head.append(f"Dimensions.member.{j}.Value=" + quote_plus(v))
        tail = []
        if key.unit is not Unit.NONE:
            tail.append("Unit=" + quote_plus(key.unit.value))
        if key.storage_resolution != 60:
            tail.append(f"StorageResolution={key.storage_resolution}")
        cache[WireFormat.QUERY] = (head, tail)
        return head, tail

    def fragment(self, datum: MetricDatum, index: int) -> str:
        return self._fragment(
            datum.key, datum.timestamp, datum.values or (), datum.counts, datum.statistics, index
        )

    def fragment_of(self, key: MetricKey, timestamp: float, payload: Payload, index: int) -> str:
        if payload.__class__ is tuple:
            return self._fragment(key, timestamp, (), None, payload, index)
        counts = tuple(payload.values())  # type: ignore[union-attr]
        return self._fragment(
            key,
            timestamp,
            tuple(payload),
            None if counts.count(1.0) == len(counts) else counts,
            None,
            index,
        )

    def _fragment(
        self,
        key: MetricKey,
        timestamp: float,
        values: tuple[float, ...],
        counts: tuple[float, ...] | None,
        statistics: tuple[float, float, float, float] | None,
        index: int,
    ) -> str:
        head, tail = self._key_parts(key)
        p = f"&MetricData.member.{index}."
        parts = [p + h for h in head]
        parts.append(p + "Timestamp=" + _iso8601(timestamp))
        if statistics is not None:
            count, total, low, high = statistics
            s = p + "StatisticValues."
            parts.append(s + "SampleCount=" + _qnum(count))
            parts.append(s + "Sum=" + _qnum(total))
            parts.append(s + "Minimum=" + _qnum(low))
            parts.append(s + "Maximum=" + _qnum(high))
        else:
            # C-level maps: p + "Values.member.{k}=" + repr(value), for every value.
            n = len(values)
            parts.append(
                "".join(
                    map(
                        add,
                        map(add, repeat(p, n), _members(_VALUE_MEMBERS, "Values", n)),
                        map(_qrepr, values),
                    )
                )
            )
            if counts is not None:
                parts.append(
                    "".join(
                        map(
                            add,
                            map(add, repeat(p, n), _members(_COUNT_MEMBERS, "Counts", n)),
                            map(_qrepr, counts),
                        )
                    )
                )
        parts.extend(p + t for t in tail)
        return "".join(parts)


_ENCODERS: dict[WireFormat, Encoder] = {
    WireFormat.JSON: _JsonEncoder(WireFormat.JSON, ",", ":"),
    WireFormat.BOTOCORE_JSON: _JsonEncoder(WireFormat.BOTOCORE_JSON, ", ", ": "),
    WireFormat.QUERY: _QueryEncoder(),
}


#: The encodings of PutMetricData (every :class:`WireFormat` but ``EMF`` and ``OTLP``).
PUT_METRIC_DATA_FORMATS: tuple[WireFormat, ...] = tuple(_ENCODERS)


def encoder_for(wire_format: WireFormat | str) -> Encoder:
    """The shared encoder for ``wire_format`` (a :class:`WireFormat` or its value).

    Raises:
        ValueError: an unknown format, or ``"emf"`` (packed by ``EmfSink``, not encoded
            as PutMetricData).
    """
    fmt = WireFormat(wire_format)
    if fmt not in _ENCODERS:
        raise ValueError(
            f"{fmt.value!r} is not a PutMetricData encoding (use EmfSink or OtlpSink)"
        )
    return _ENCODERS[fmt]
