"""The Embedded Metric Format sink: aggregated series as EMF documents, one per line.

An EMF document is one CloudWatch Logs event that CloudWatch turns into metrics
("Specification: Embedded metric format", CloudWatch User Guide)::

    {"_aws":{"Timestamp":1700000040000,"CloudWatchMetrics":[{"Namespace":"MyApp",
      "Dimensions":[["Op"]],"Metrics":[{"Name":"Latency","Unit":"Milliseconds"},
      {"Name":"Errors","Unit":"Count"}]}]},"Op":"get","Latency":[12,15.5],"Errors":3}

:class:`EmfSink` packs the same queued datums as the PutMetricData sink (the aggregation
store and the delivery ledger do not change). What it adds:

* every datum of one namespace, dimension set and period shares a document: up to
  :data:`EMF_MAX_METRICS_PER_DIRECTIVE` metrics each (a metric name appears once per
  document, so a series split in several datums spreads over several documents);
* ``_aws.Timestamp`` is the period's start in integer milliseconds;
* values keep their counts. A datum whose counts are all 1 is a number (one value) or an
  array of at most :data:`EMF_MAX_VALUES_PER_METRIC` numbers; one with other counts is
  ``{"Values":[...],"Counts":[...],"Max":..,"Min":..,"Count":..,"Sum":..}`` (at most 100
  values each), or, when its counts are whole numbers adding up to at most 100 and that
  is shorter, an array repeating each value ``count`` times; a statistic set is
  ``{"Max":..,"Min":..,"Count":..,"Sum":..}``. These
  two object forms are not in the public spec's text; they are what the OpenTelemetry
  collector's ``awsemf`` exporter sends to CloudWatch Logs for histograms and summaries
  (``cWMetricHistogram`` / ``cWMetricStats``), and CloudWatch takes the sample count from
  the sum of ``Counts``. Nothing is ever turned into a bare value array that would lose a
  count;
* a document is at most ``max_document_bytes`` (one CloudWatch Logs event; one UDP
  datagram for the agent over UDP), measured on the exact text: a datum that does not fit
  is split over several documents with fewer values each.

A request's body is its documents, each followed by ``\\n``: what a Lambda function writes
to stdout, or the CloudWatch agent reads on its TCP/UDP port. Like the PutMetricData sink
it performs no I/O and counts nothing: a datum that cannot be written is reported through
``drop`` (``"invalid"``: its metric name collides with one of its dimension names or with
``_aws``, the root members EMF needs; ``"too_large"``: one value alone exceeds the
document limit).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

from ._errors import InvalidConfigError
from ._limits import (
    EMF_MAX_EVENT_BYTES,
    EMF_MAX_METRICS_PER_DIRECTIVE,
    EMF_MAX_VALUES_PER_METRIC,
    Limits,
)
from ._model import Entry, MetricKey, Payload, PutMetricDataRequest, Unit, payload_samples
from ._sink import DropReason, Sink
from ._wire import WireFormat

__all__ = ["EmfSink", "emf_number"]

_jstr: Callable[[str], str] = encode_basestring_ascii
_float_repr = float.__repr__
_INT_SAFE = 2.0**53


def emf_number(value: float) -> str:
    """JSON text of ``value``: integral values below 2**53 without ``.0`` (``12``,
    not ``12.0``), others as ``repr`` (``12.5``, ``1e+16``)."""
    if value.is_integer() and -_INT_SAFE <= value <= _INT_SAFE:
        return str(int(value))
    return _float_repr(value)


class _NumCache(dict[float, str]):
    __slots__ = ()

    def __missing__(self, value: float) -> str:
        text = emf_number(value)
        if not value:  # 0.0 and -0.0 are one key; both print "0" anyway
            return text
        if len(self) >= 200_000:
            self.clear()
        self[value] = text
        return text


_num = _NumCache().__getitem__


class _KeyParts:
    """The text of one key in a document (cached on the key)."""

    __slots__ = ("conflict", "definition", "dims_head", "dims_tail", "member")

    def __init__(self, key: MetricKey) -> None:
        names = [n for n, _v in key.dimensions]
        self.conflict = key.name == "_aws" or key.name in names or "_aws" in names
        definition = '{"Name":' + _jstr(key.name)
        if key.unit is not Unit.NONE:
            definition += ',"Unit":' + _jstr(key.unit.value)
        if key.storage_resolution != 60:
            definition += ',"StorageResolution":' + str(key.storage_resolution)
        self.definition = definition + "}"
        self.member = "," + _jstr(key.name) + ":"
        #: ``"Dimensions":[[...]]`` (an empty set is ``[[]]``) and the root members.
        self.dims_head = '"Dimensions":[[' + ",".join(_jstr(n) for n in names) + "]]"
        self.dims_tail = "".join("," + _jstr(n) + ":" + _jstr(v) for n, v in key.dimensions)


def _parts(key: MetricKey) -> _KeyParts:
    parts: _KeyParts | None = key._emf
    if parts is None:
        parts = _KeyParts(key)
        object.__setattr__(key, "_emf", parts)
    return parts


def _value_text(items: list[tuple[float, float]], max_values: int) -> str:
    """One metric target for ``(value, count)`` pairs (at most ``max_values`` pairs).

    Counts all 1: a number or an array. Otherwise the ``Values``/``Counts`` object, or,
    when every count is a whole number, the samples fit one array of ``max_values`` and
    that array is shorter, the values repeated (the spec's plain form, counts intact).
    """
    if all(c == 1.0 for _v, c in items):
        if len(items) == 1:
            return _num(items[0][0])
        return "[" + ",".join([_num(v) for v, _c in items]) + "]"
    values = [v for v, _c in items]
    counts = [c for _v, c in items]
    n = math.fsum(counts)
    total = math.fsum([v * c for v, c in items])
    text = (
        '{"Values":[' + ",".join(map(_num, values)) + '],"Counts":['
        + ",".join(map(_num, counts)) + '],"Max":' + _num(max(values)) + ',"Min":'
        + _num(min(values)) + ',"Count":' + _num(n) + ',"Sum":' + _num(total) + "}"
    )
    if n <= max_values and all(c.is_integer() for c in counts):
        # len("[" + ",".join(v repeated c times) + "]"), computed before building it
        expanded = 1 + sum((len(_num(v)) + 1) * int(c) for v, c in items)
        if expanded < len(text):
            return "[" + ",".join([_num(v) for v, c in items for _ in range(int(c))]) + "]"
    return text


def _stats_text(stats: tuple[float, float, float, float]) -> str:
    n, total, low, high = stats
    return (
        '{"Max":' + _num(high) + ',"Min":' + _num(low) + ',"Count":' + _num(n)
        + ',"Sum":' + _num(total) + "}"
    )


class _Doc:
    """A document being assembled: one namespace, dimension set and period."""

    __slots__ = ("defs", "head", "members", "names", "size", "tail")

    def __init__(self, head: str, tail: str) -> None:
        self.head = head  # '{"_aws":{...,"Metrics":['
        self.tail = tail  # ']}]}' + dimension members
        self.defs: list[str] = []
        self.members: list[str] = []
        self.names: set[str] = set()
        self.size = len(head) + len(tail) + 1  # + the closing "}"

    def text(self) -> str:
        return self.head + ",".join(self.defs) + self.tail + "".join(self.members) + "}"


def _growth(doc_empty: bool, definition: str, member: str) -> int:
    return len(definition) + (0 if doc_empty else 1) + len(member)


class EmfSink(Sink):
    """Packs datums into Embedded Metric Format documents (see the module docstring).

    Args:
        limits: the core's limits: ``max_values_per_datum`` and ``max_datums_per_request``
            must be the ones the aggregation store splits and counts with (the core
            passes its own); ``max_request_bytes`` bounds one request's body (documents
            written in one go).
        max_document_bytes: largest document, newline excluded (one CloudWatch Logs
            event; :data:`~cwmetrics_core._limits.EMF_MAX_EVENT_BYTES` by default).
        max_metrics_per_document: at most 100 (the spec's limit per directive).
        max_values_per_metric: at most 100 (the spec's limit per numeric array).
        log_group: ``_aws.LogGroupName`` for the CloudWatch agent (which log group the
            agent writes to); None leaves it to the agent's configuration.
        log_stream: ``_aws.LogStreamName``, likewise.

    Raises:
        InvalidConfigError: a limit out of range (the message names it and the bound).
    """

    __slots__ = (
        "_aws_extra", "limits", "log_group", "log_stream", "max_document_bytes",
        "max_metrics_per_document", "max_values_per_metric",
    )

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        max_document_bytes: int = EMF_MAX_EVENT_BYTES,
        max_metrics_per_document: int = EMF_MAX_METRICS_PER_DIRECTIVE,
        max_values_per_metric: int = EMF_MAX_VALUES_PER_METRIC,
        log_group: str | None = None,
        log_stream: str | None = None,
    ) -> None:
        self.limits = limits if limits is not None else Limits()
        for name, value, low, high in (
            ("max_document_bytes", max_document_bytes, 512, None),
            ("max_metrics_per_document", max_metrics_per_document, 1,
             EMF_MAX_METRICS_PER_DIRECTIVE),
            ("max_values_per_metric", max_values_per_metric, 1, EMF_MAX_VALUES_PER_METRIC),
        ):
            if type(value) is not int or value < low or (high is not None and value > high):
                bound = f"an int in {low}..{high}" if high is not None else f"an int >= {low}"
                raise InvalidConfigError(f"EmfSink.{name}", value, f"must be {bound}")
        for name, text in (("log_group", log_group), ("log_stream", log_stream)):
            if text is not None and (not isinstance(text, str) or not text):
                raise InvalidConfigError(f"EmfSink.{name}", text, "must be a non-empty str")
        self.max_document_bytes = max_document_bytes
        self.max_metrics_per_document = max_metrics_per_document
        self.max_values_per_metric = max_values_per_metric
        self.log_group = log_group
        self.log_stream = log_stream
        extra = ""
        if log_group is not None:
            extra += ',"LogGroupName":' + _jstr(log_group)
        if log_stream is not None:
            extra += ',"LogStreamName":' + _jstr(log_stream)
        self._aws_extra = extra

    @property
    def wire_format(self) -> WireFormat:
        return WireFormat.EMF

    def group_of(self, key: MetricKey) -> str:
        return key.namespace

    def __repr__(self) -> str:
        return (
            f"EmfSink(max_document_bytes={self.max_document_bytes}, "
            f"log_group={self.log_group!r})"
        )

    # ------------------------------------------------------------------ pieces
    def _head(self, namespace: str, timestamp: float, parts: _KeyParts) -> str:
        return (
            '{"_aws":{"Timestamp":' + str(round(timestamp * 1000)) + self._aws_extra
            + ',"CloudWatchMetrics":[{"Namespace":' + _jstr(namespace) + ","
            + parts.dims_head + ',"Metrics":['
        )

    def _pieces(self, payload: Payload, room: int) -> list[str] | None:
        """The metric targets of one datum, each within ``room`` characters of value
        text; None when a single value does not fit."""
        if payload.__class__ is tuple:
            text = _stats_text(payload)
            return [text] if len(text) <= room else None
        items = list(payload.items())  # type: ignore[union-attr]
        step = self.max_values_per_metric
        out: list[str] = []
        pending = [items[i : i + step] for i in range(0, len(items), step)]
        while pending:
            chunk = pending.pop(0)
            text = _value_text(chunk, step)
            if len(text) <= room:
                out.append(text)
            elif len(chunk) == 1:
                return None
            else:
                half = len(chunk) // 2
                pending[:0] = [chunk[:half], chunk[half:]]
        return out

    # ------------------------------------------------------------------ packing
    def pack(
        self,
        group: str,
        queue: deque[Entry],
        *,
        oldest: float,
        drop: Callable[[Entry, DropReason], None],
    ) -> tuple[PutMetricDataRequest, list[int]] | None:
        max_datums = self.limits.max_datums_per_request
        max_request = self.limits.max_request_bytes
        max_doc = self.max_document_bytes
        max_metrics = self.max_metrics_per_document
        docs: list[_Doc] = []
        open_docs: dict[tuple[Any, float], list[_Doc]] = {}
        chosen: list[Entry] = []
        total = 0
        while queue and len(chosen) < max_datums:
            entry = queue[0]
            key, timestamp, payload = entry[0], entry[1], entry[2]
            if timestamp < oldest:
                queue.popleft()
                drop(entry, "expired")
                continue
            parts = _parts(key)
            if parts.conflict:
                queue.popleft()
                drop(entry, "invalid")
                continue
            head = self._head(group, timestamp, parts)
            tail = "]}]}" + parts.dims_tail
            empty = len(head) + len(tail) + 1
            room = max_doc - empty - len(parts.definition) - len(parts.member)
            pieces = self._pieces(payload, room) if room > 0 else None
            if pieces is None:
                queue.popleft()
                drop(entry, "too_large")
                continue
            slot = (key.dimensions, timestamp)
            candidates = open_docs.get(slot, [])
            plan: list[tuple[_Doc | None, str]] = []
            taken: set[int] = set()
            grow = 0
            name = key.name
            for piece in pieces:
                member = parts.member + piece
                target: _Doc | None = None
                for candidate in candidates:
                    if (
                        id(candidate) not in taken
                        and len(candidate.defs) < max_metrics
                        and name not in candidate.names
                        and candidate.size + _growth(False, parts.definition, member) <= max_doc
                    ):
                        target = candidate
                        break
                if target is not None:
                    taken.add(id(target))
                    grow += _growth(False, parts.definition, member)
                else:
                    grow += empty + 1 + _growth(True, parts.definition, member)  # + "\n"
                plan.append((target, member))
            if chosen and total + grow > max_request:
                break
            for planned, member in plan:
                doc = planned if planned is not None else _Doc(head, tail)
                if planned is None:
                    docs.append(doc)
                    open_docs.setdefault(slot, []).append(doc)
                doc.size += _growth(not doc.defs, parts.definition, member)
                doc.defs.append(parts.definition)
                doc.members.append(member)
                doc.names.add(name)
            total += grow
            queue.popleft()
            chosen.append(entry)
        if not chosen:
            return None
        body = "".join([d.text() + "\n" for d in docs]).encode("ascii")
        payloads = [e[2] for e in chosen]
        samples = math.fsum([payload_samples(p) for p in payloads])
        request = PutMetricDataRequest.packed(
            group,
            [e[0] for e in chosen],
            [e[1] for e in chosen],
            payloads,
            samples,
            body,
            WireFormat.EMF,
            {"Content-Type": "application/x-ndjson", "x-amzn-logs-format": "json/emf"},
        )
        return request, [e[3] for e in chosen]
