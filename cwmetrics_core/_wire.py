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
fragments are computed once and cached on the :class:`~cwmetrics_core.MetricKey` as plain
strings (no container per key: a flush of many new series allocates nothing that the
garbage collector would keep tracking).

For the two encodings botocore writes itself (botocore JSON and query), an encoder also
measures a datum's exact size without building its text (:meth:`Encoder.measure`), so a
boto3 transport sends ``params`` that botocore serializes once, and the body is built only
when something asks for it (:meth:`Encoder.encode_measured`). Measuring reads every value
and count once; it keeps their text (only the numbers, joined), so building the body later
formats no number twice.

Where the time goes: a datum's values and counts are float objects scattered over the
heap, and every pass over them (hashing a value to find its cached text) costs a cache
miss per object; the encoders are written to make one pass over each, and the
aggregation store's ``entries()`` to copy only what a split needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from json.encoder import encode_basestring_ascii
from operator import add
from typing import TYPE_CHECKING, Any

from ._model import MetricDatum, MetricKey, Payload, Unit, WireFormat

if TYPE_CHECKING:
    from ._model import PutMetricDataRequest

__all__ = ["WireFormat", "Encoder", "encoder_for", "JSON_TARGET", "PUT_METRIC_DATA_FORMATS"]

#: ``X-Amz-Target`` of PutMetricData in AWS JSON 1.0.
JSON_TARGET = "GraniteServiceVersion20100801.PutMetricData"

_float_repr = float.__repr__
_NO_UNIT = Unit.NONE
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
#: The text of a count of 1.0 (the same object every time while it is cached).
_ONE = _qrepr(1.0)
#: In a datum's kept numbers (:meth:`Encoder.measure`): between the values' and the
#: counts' texts, and between two query texts (no number's text contains either).
_MARK = "\x01"
_SEP = "\x00"


class _LengthCache(dict[float, int]):
    """float -> len(text(float)): measuring a datum is one lookup per value."""

    __slots__ = ("_text",)
    limit = 200_000

    def __init__(self, text: Callable[[float], str]) -> None:
        super().__init__()
        self._text = text

    def __missing__(self, value: float) -> int:
        length = len(self._text(value))
        if value:  # 0.0 and -0.0 are equal keys but print differently: never cache
            if len(self) >= self.limit:
                self.clear()
            self[value] = length
        return length


_rlen = _LengthCache(_repr).__getitem__
_qlen = _LengthCache(_qrepr).__getitem__
#: "Values.member.1=", ... and "Counts.member.1=", ...: list prefixes for the query form.
_VALUE_MEMBERS = [f"Values.member.{k}=" for k in range(1, 151)]
_COUNT_MEMBERS = [f"Counts.member.{k}=" for k in range(1, 151)]


def _members(table: list[str], name: str, n: int) -> list[str]:
    """The first ``n`` list prefixes, growing the table for limits above CloudWatch's."""
    while len(table) < n:
        table.append(f"{name}.member.{len(table) + 1}=")
    return table[:n]


_LAYOUTS: dict[tuple[int, bool], list[str]] = {}


def _query_layout(n: int, counts: bool) -> list[str]:
    """The pieces of a query datum of ``n`` values, to copy and fill in:
    ``[head, p, "Timestamp=", time, p, "Values.member.1=", text, p, ..., tail]`` with
    the ``Counts`` members after the values when ``counts``; ``p`` is the datum's
    ``&MetricData.member.N.`` prefix."""
    layout = _LAYOUTS.get((n, counts))
    if layout is None:
        layout = ["", "", "Timestamp=", ""]
        for name in ("Values", "Counts") if counts else ("Values",):
            for k in range(1, n + 1):
                layout += ["", f"{name}.member.{k}=", ""]
        layout.append("")
        if len(_LAYOUTS) >= 1024:
            _LAYOUTS.clear()
        _LAYOUTS[(n, counts)] = layout
    return layout


def _query_text(
    head: str,
    tail: str,
    index: int,
    timestamp: float,
    values: Sequence[str],
    counts: Sequence[str] | None,
) -> str:
    """A value datum's query text from its key's parts and its numbers' texts: one join
    over a copy of a template list (see :func:`_query_layout`), whose slots are filled
    with C-level slice assignments (no string is made per value)."""
    p = f"&MetricData.member.{index}."
    n = len(values)
    if counts is None:
        parts = _query_layout(n, False).copy()
        parts[6::3] = values
        parts[4:-1:3] = [p] * n
    else:
        parts = _query_layout(n, True).copy()
        end = 3 * n + 4
        parts[6:end:3] = values
        parts[end + 2 :: 3] = counts
        parts[4:-1:3] = [p] * (2 * n)
    parts[0] = head.replace(_P, p)
    parts[1] = p
    parts[3] = _iso8601(timestamp)
    if tail:
        parts[-1] = tail.replace(_P, p)
    return "".join(parts)


_MEMBER_LENGTHS: list[int] = [0]


def _member_lengths(n: int) -> int:
    """Characters of the first ``n`` ``Values.member.K=`` prefixes (``Counts`` alike)."""
    table = _MEMBER_LENGTHS
    while len(table) <= n:
        table.append(table[-1] + len(f"Values.member.{len(table)}="))
    return table[n]


def _slot_setter(name: str) -> Callable[[MetricKey, Any], None]:
    # The slot's descriptor: sets the slot directly (MetricKey refuses ``setattr``).
    return MetricKey.__dict__[name].__set__  # type: ignore[no-any-return]


_set_head = _slot_setter("_head")
_set_tail = _slot_setter("_tail")
_set_wf = _slot_setter("_wf")


def _set_parts(key: MetricKey, wire_format: WireFormat, head: str, tail: str) -> None:
    _set_head(key, head)
    _set_tail(key, tail)
    _set_wf(key, wire_format)


def _ones_table(one: str, sep: str) -> Callable[[int], str]:
    """``ones(n)``: ``n`` texts ``one`` joined by ``sep``, i.e. the text of ``n`` counts
    of 1.0 (which a datum leaves out: comparing texts is cheaper than a pass over the
    counts). Built on demand."""
    table = [""]

    def ones(n: int) -> str:
        while len(table) <= n:
            table.append(sep.join([one] * len(table)))
        return table[n]

    return ones


_QUERY_ONES = _ones_table("1.0", _SEP)


class Encoder:
    """Encodes one request as ``prefix + fragment(d1, 1) + item_sep + ... + suffix``.

    Subclasses are stateless apart from configuration; :func:`encoder_for` returns shared
    instances.
    """

    wire_format: WireFormat
    item_sep: str
    suffix: str
    headers: dict[str, str]
    #: True when the body is serialized by botocore from ``params`` (the packer then only
    #: measures, with :meth:`size_of`, and the body is built on demand).
    measure_only: bool = False

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

    def size_of(self, key: MetricKey, timestamp: float, payload: Payload, index: int) -> int:
        """``len(fragment_of(...))``, computed without building the text."""
        return len(self.fragment_of(key, timestamp, payload, index))

    def measure(
        self, key: MetricKey, timestamp: float, payload: Payload, index: int
    ) -> tuple[int, str]:
        """:meth:`size_of` of one compact datum, and the text of its numbers to keep for
        :meth:`encode_measured` ("" when there is nothing worth keeping).

        Measuring a datum means a pass over its values and counts; keeping their text
        (values and counts only, not the datum's fields) spares a second pass when the
        body is asked for, at about the body's size in memory while the request is held.
        """
        return self.size_of(key, timestamp, payload, index), ""

    def encode_measured(self, numbers: list[str], request: PutMetricDataRequest) -> bytes:
        """The body of a request packed with :meth:`measure`; ``numbers`` holds what it
        returned for each datum, in wire order."""
        return self.encode_request(request)

    def encode(self, namespace: str, datums: list[MetricDatum]) -> bytes:
        """Encode a whole request (no limit checks; the packer does those)."""
        frags = [self.fragment(d, i) for i, d in enumerate(datums, 1)]
        return (self.prefix(namespace) + self.item_sep.join(frags) + self.suffix).encode("ascii")

    def encode_request(self, request: PutMetricDataRequest) -> bytes:
        """The body of a packed request, from its compact datums."""
        frags = list(
            map(
                self.fragment_of,
                request.keys,
                request.timestamps,
                request.payloads,
                range(1, len(request.keys) + 1),
            )
        )
        return (
            self.prefix(request.namespace) + self.item_sep.join(frags) + self.suffix
        ).encode("ascii")


class _JsonEncoder(Encoder):
    def __init__(
        self, wire_format: WireFormat, item_sep: str, key_sep: str, measure_only: bool
    ) -> None:
        self.wire_format = wire_format
        self.item_sep = item_sep
        self.measure_only = measure_only
        self._key_sep = key_sep
        self.suffix = "]}"
        self._values_key = self._q("Values") + "["
        self._counts_key = self._q("Counts") + "["
        # Fixed characters of a value datum besides the key, timestamp and numbers:
        # sep + '"Values":[' + ']' (+ sep + '"Counts":[' + ']').
        self._values_fixed = len(item_sep) + len(self._values_key) + 1
        self._counts_fixed = len(item_sep) + len(self._counts_key) + 1
        sep, q = item_sep, self._q
        # Constant pieces of a key's text, and its tail per (unit, storage resolution).
        self._name_key = "{" + q("MetricName")
        self._dims_key = sep + q("Dimensions") + "["
        self._dim_name = "{" + q("Name")
        self._dim_value = sep + q("Value")
        self._ts_key = sep + q("Timestamp")
        #: The key's text after its data, by unit (storage resolution 60).
        self._tails: dict[Unit, str] = {}
        self._ones = _ones_table("1.0", item_sep)
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
        if key._wf is self.wire_format:
            return key._head, key._tail
        dims = key.dimensions
        if not dims:
            head = f"{self._name_key}{_jstr(key.name)}{self._ts_key}"
        elif len(dims) == 1:
            ((n, v),) = dims
            head = (
                f"{self._name_key}{_jstr(key.name)}{self._dims_key}{self._dim_name}{_jstr(n)}"
                f"{self._dim_value}{_jstr(v)}}}]{self._ts_key}"
            )
        else:
            dn, dv = self._dim_name, self._dim_value
            text = self.item_sep.join([f"{dn}{_jstr(n)}{dv}{_jstr(v)}}}" for n, v in dims])
            head = f"{self._name_key}{_jstr(key.name)}{self._dims_key}{text}]{self._ts_key}"
        unit = key.unit
        tail = self._tails.get(unit) if key.storage_resolution == 60 else None
        if tail is None:
            tail = self._tail_of(unit, key.storage_resolution)
        _set_head(key, head)
        _set_tail(key, tail)
        _set_wf(key, self.wire_format)
        return head, tail

    def _tail_of(self, unit: Unit, storage_resolution: int) -> str:
        sep, q = self.item_sep, self._q
        tail = ""
        if unit is not _NO_UNIT:
            tail += sep + q("Unit") + _jstr(unit.value)
        if storage_resolution != 60:
            tail += sep + q("StorageResolution") + str(storage_resolution)
        tail += "}"
        if storage_resolution == 60:
            self._tails[unit] = tail
        return tail

    def fragment(self, datum: MetricDatum, index: int) -> str:
        return self._fragment(
            datum.key, datum.timestamp, datum.values or (), datum.counts, datum.statistics
        )

    def fragment_of(self, key: MetricKey, timestamp: float, payload: Payload, index: int) -> str:
        if payload.__class__ is tuple:
            return self._fragment(key, timestamp, (), None, payload)
        if key._wf is self.wire_format:
            head, tail = key._head, key._tail
        else:
            head, tail = self._key_parts(key)
        sep = self.item_sep
        if len(payload) == 1:  # the common case of a flush of many series: no joins
            ((value, count),) = payload.items()
            if count == 1.0:
                return f"{head}{int(timestamp)}{sep}{self._values_key}{_repr(value)}]{tail}"
        # One pass over the counts: their text, compared with that of all ones.
        counts = sep.join(map(_repr, payload.values()))  # type: ignore[union-attr]
        if counts == self._ones(len(payload)):
            return (
                f"{head}{int(timestamp)}{sep}{self._values_key}{sep.join(map(_repr, payload))}]"
                f"{tail}"
            )
        return (
            f"{head}{int(timestamp)}{sep}{self._values_key}{sep.join(map(_repr, payload))}]"
            f"{sep}{self._counts_key}{counts}]{tail}"
        )

    def size_of(self, key: MetricKey, timestamp: float, payload: Payload, index: int) -> int:
        if payload.__class__ is tuple:
            return len(self._fragment(key, timestamp, (), None, payload))
        if key._wf is self.wire_format:
            head, tail = key._head, key._tail
        else:
            head, tail = self._key_parts(key)
        n = len(payload)
        size = (
            len(head) + len(str(int(timestamp))) + len(tail) + self._values_fixed
            + len(self.item_sep) * (n - 1) + sum(map(_rlen, payload))
        )
        counts = self.item_sep.join(map(_repr, payload.values()))  # type: ignore[union-attr]
        if counts != self._ones(n):
            size += self._counts_fixed + len(counts)
        return size

    def measure(
        self, key: MetricKey, timestamp: float, payload: Payload, index: int
    ) -> tuple[int, str]:
        if payload.__class__ is tuple:
            return len(self._fragment(key, timestamp, (), None, payload)), ""
        if key._wf is self.wire_format:
            head, tail = key._head, key._tail
        else:
            head, tail = self._key_parts(key)
        sep = self.item_sep
        values = sep.join(map(_repr, payload))
        counts = sep.join(map(_repr, payload.values()))  # type: ignore[union-attr]
        size = len(head) + len(str(int(timestamp))) + len(tail) + self._values_fixed + len(values)
        if counts == self._ones(len(payload)):
            return size, values
        return size + self._counts_fixed + len(counts), f"{values}{_MARK}{counts}"

    def encode_measured(self, numbers: list[str], request: PutMetricDataRequest) -> bytes:
        sep, values_key, counts_key = self.item_sep, self._values_key, self._counts_key
        frags = []
        for key, timestamp, payload, text in zip(
            request.keys, request.timestamps, request.payloads, numbers, strict=True
        ):
            if payload.__class__ is tuple:
                frags.append(self._fragment(key, timestamp, (), None, payload))
                continue
            head, tail = self._key_parts(key)
            values, mark, counts = text.partition(_MARK)
            if mark:
                frags.append(
                    f"{head}{int(timestamp)}{sep}{values_key}{values}]{sep}{counts_key}{counts}]"
                    f"{tail}"
                )
            else:
                frags.append(f"{head}{int(timestamp)}{sep}{values_key}{values}]{tail}")
        return f"{self.prefix(request.namespace)}{sep.join(frags)}{self.suffix}".encode("ascii")

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


#: Matches a text that form quoting leaves as it is (the common case for names).
_FORM_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch
_FORM_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote_plus(text: str) -> str:
    """``application/x-www-form-urlencoded`` quoting of ``text``, exactly as
    ``urllib.parse.quote_plus`` does it (UTF-8, space as ``+``), without importing urllib
    into the core. Used for per-key fragments, which are cached."""
    if _FORM_PLAIN(text):
        return text
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


#: Stands for ``&MetricData.member.N.`` in a query key's cached text (no name, dimension or
#: unit can contain it: control characters are rejected and the rest is percent-encoded).
_P = "\x00"


class _QueryEncoder(Encoder):
    wire_format = WireFormat.QUERY
    item_sep = ""
    suffix = ""
    measure_only = True

    def __init__(self) -> None:
        self.headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}

    def prefix(self, namespace: str) -> str:
        return "Action=PutMetricData&Version=2010-08-01&Namespace=" + quote_plus(namespace)

    @staticmethod
    def _key_parts(key: MetricKey) -> tuple[str, str]:
        """The key's fields before and after the datum's own, with :data:`_P` where the
        member prefix goes."""
        if key._wf is WireFormat.QUERY:
            return key._head, key._tail
        head = [_P + "MetricName=" + quote_plus(key.name)]
        for j, (n, v) in enumerate(key.dimensions, 1):
            head.append(f"{_P}Dimensions.member.{j}.Name=" + quote_plus(n))
            head.append(f"{_P}Dimensions.member.{j}.Value=" + quote_plus(v))
        tail = ""
        if key.unit is not _NO_UNIT:
            tail += _P + "Unit=" + quote_plus(key.unit.value)
        if key.storage_resolution != 60:
            tail += f"{_P}StorageResolution={key.storage_resolution}"
        parts = ("".join(head), tail)
        _set_parts(key, WireFormat.QUERY, *parts)
        return parts

    def fragment(self, datum: MetricDatum, index: int) -> str:
        return self._fragment(
            datum.key, datum.timestamp, datum.values or (), datum.counts, datum.statistics, index
        )

    def fragment_of(self, key: MetricKey, timestamp: float, payload: Payload, index: int) -> str:
        if payload.__class__ is tuple:
            return self._fragment(key, timestamp, (), None, payload, index)
        if not payload:
            return self._fragment(key, timestamp, (), None, None, index)
        if key._wf is WireFormat.QUERY:
            head, tail = key._head, key._tail
        else:
            head, tail = self._key_parts(key)
        counts = tuple(map(_qrepr, payload.values()))  # type: ignore[union-attr]
        return _query_text(
            head,
            tail,
            index,
            timestamp,
            tuple(map(_qrepr, payload)),
            None if counts.count(_ONE) == len(counts) else counts,
        )

    def measure(
        self, key: MetricKey, timestamp: float, payload: Payload, index: int
    ) -> tuple[int, str]:
        if payload.__class__ is tuple or not payload:
            return self.size_of(key, timestamp, payload, index), ""
        head, tail = self._key_parts(key)
        lp = len(f"&MetricData.member.{index}.")
        n = len(payload)
        values = _SEP.join(map(_qrepr, payload))
        counts = _SEP.join(map(_qrepr, payload.values()))  # type: ignore[union-attr]
        # Each field is prefix + text; the cached key text holds a 1-character _P per field.
        size = (
            len(head) + len(tail) + (head.count(_P) + tail.count(_P)) * (lp - 1)
            + lp + 10 + len(_iso8601(timestamp))  # the prefix, "Timestamp=", the time
            + n * lp + _member_lengths(n) + len(values) - (n - 1)
        )
        if counts == _QUERY_ONES(n):
            return size, values
        size += n * lp + _member_lengths(n) + len(counts) - (n - 1)
        return size, f"{values}{_MARK}{counts}"

    def encode_measured(self, numbers: list[str], request: PutMetricDataRequest) -> bytes:
        frags = []
        for index, (key, timestamp, payload, text) in enumerate(
            zip(request.keys, request.timestamps, request.payloads, numbers, strict=True), 1
        ):
            if not text:  # a statistic set (or no values)
                frags.append(self.fragment_of(key, timestamp, payload, index))
                continue
            head, tail = self._key_parts(key)
            values, mark, counts = text.partition(_MARK)
            frags.append(
                _query_text(
                    head,
                    tail,
                    index,
                    timestamp,
                    values.split(_SEP),
                    counts.split(_SEP) if mark else None,
                )
            )
        return (self.prefix(request.namespace) + "".join(frags)).encode("ascii")

    def size_of(self, key: MetricKey, timestamp: float, payload: Payload, index: int) -> int:
        if payload.__class__ is tuple:
            return len(self._fragment(key, timestamp, (), None, payload, index))
        if key._wf is WireFormat.QUERY:
            head, tail = key._head, key._tail
        else:
            head, tail = self._key_parts(key)
        lp = len(f"&MetricData.member.{index}.")
        n = len(payload)
        # Each field is prefix + text; the cached key text holds a 1-character _P per field.
        size = (
            len(head) + len(tail) + (head.count(_P) + tail.count(_P)) * (lp - 1)
            + lp + 10 + len(_iso8601(timestamp))  # the prefix, "Timestamp=", the time
            + n * lp + _member_lengths(n) + sum(map(_qlen, payload))
        )
        counts = tuple(map(_qrepr, payload.values()))  # type: ignore[union-attr]
        if counts.count(_ONE) != n:
            size += n * lp + _member_lengths(n) + sum(map(len, counts))
        return size

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
        parts = [head.replace(_P, p), p + "Timestamp=" + _iso8601(timestamp)]
        if statistics is not None:
            count, total, low, high = statistics
            s = p + "StatisticValues."
            parts.append(s + "SampleCount=" + _qnum(count))
            parts.append(s + "Sum=" + _qnum(total))
            parts.append(s + "Minimum=" + _qnum(low))
            parts.append(s + "Maximum=" + _qnum(high))
        else:
            # p + "Values.member.{k}=" + repr(value) for every value, as
            # p + p.join("Values.member.{k}=" + repr(value)): C-level maps, one concatenation
            # per value.
            n = len(values)
            if n:
                members = _members(_VALUE_MEMBERS, "Values", n)
                parts.append(p + p.join(map(add, members, map(_qrepr, values))))
            if counts is not None and n:
                members = _members(_COUNT_MEMBERS, "Counts", n)
                parts.append(p + p.join(map(add, members, map(_qrepr, counts))))
        if tail:
            parts.append(tail.replace(_P, p))
        return "".join(parts)


_ENCODERS: dict[WireFormat, Encoder] = {
    WireFormat.JSON: _JsonEncoder(WireFormat.JSON, ",", ":", measure_only=False),
    WireFormat.BOTOCORE_JSON: _JsonEncoder(WireFormat.BOTOCORE_JSON, ", ", ": ", measure_only=True),
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
