"""Sinks: where aggregated series go, as a limits table plus a codec.

A sink answers three questions for the core, and nothing else:

* which datums may share a request (:meth:`Sink.group_of`: the namespace, for
  PutMetricData);
* how one request is packed from queued datums under its limits, measured on the exact
  encoded body (:meth:`Sink.pack`);
* what the encoding is called (:attr:`Sink.wire_format`).

:class:`PutMetricDataSink` is today's sink: PutMetricData in AWS JSON 1.0 or the query
protocol (the codecs in ``_wire.py``), under :class:`~cwmetrics_core.Limits`. An EMF or
OTLP sink implements the same three members with its own limits and codec; the
aggregation store and the delivery ledger do not change. Packing is pure: a sink never
counts anything, it reports what it could not pack through the ``drop`` callback.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from math import fsum

from ._limits import Limits
from ._model import Entry, MetricKey, PutMetricDataRequest
from ._wire import Encoder, WireFormat, encoder_for

__all__ = ["DropReason", "PutMetricDataSink", "Sink"]

#: Why a sink could not pack a datum: ``"expired"`` (older than the caller's horizon) or
#: ``"too_large"`` (alone it exceeds the request size limit: it can never be sent).
DropReason = str


class Sink:
    """The interface between the core and an encoding (subclass it for a new sink)."""

    #: The limits every packed request respects.
    limits: Limits

    @property
    def wire_format(self) -> WireFormat:
        """The encoding of the requests' bodies."""
        raise NotImplementedError

    def group_of(self, key: MetricKey) -> str:
        """Datums of one group may share a request; datums of two groups never do."""
        raise NotImplementedError

    def pack(
        self,
        group: str,
        queue: deque[Entry],
        *,
        oldest: float,
        drop: Callable[[Entry, DropReason], None],
    ) -> tuple[PutMetricDataRequest, list[int]] | None:
        """Take datums from the front of ``queue`` into one request within :attr:`limits`.

        Datums with a timestamp before ``oldest`` are taken off and passed to ``drop``
        with ``"expired"``; a datum too large for any request with ``"too_large"``.

        Returns:
            The request and the attempts of its datums (wire order), or None when the
            queue held nothing sendable.
        """
        raise NotImplementedError


class PutMetricDataSink(Sink):
    """CloudWatch PutMetricData: one namespace per request, 1000 datums, 1 MB measured.

    Args:
        wire_format: the encoding the transport sends (JSON 1.0, botocore's JSON, query).
        limits: request limits (CloudWatch's by default).
    """

    __slots__ = ("_codec", "limits")

    def __init__(self, wire_format: WireFormat | str, limits: Limits | None = None) -> None:
        self._codec: Encoder = encoder_for(wire_format)
        self.limits = limits if limits is not None else Limits()

    @property
    def wire_format(self) -> WireFormat:
        return self._codec.wire_format

    @property
    def codec(self) -> Encoder:
        """The encoder of request bodies."""
        return self._codec

    def group_of(self, key: MetricKey) -> str:
        return key.namespace

    def pack(
        self,
        group: str,
        queue: deque[Entry],
        *,
        oldest: float,
        drop: Callable[[Entry, DropReason], None],
    ) -> tuple[PutMetricDataRequest, list[int]] | None:
        codec = self._codec
        fragment = codec.fragment_of
        prefix = codec.prefix(group)
        sep = codec.item_sep
        suffix = codec.suffix
        size = len(prefix) + len(suffix)
        limit_bytes = self.limits.max_request_bytes
        max_datums = self.limits.max_datums_per_request
        chosen: list[Entry] = []
        frags: list[str] = []
        n = 0
        while queue and n < max_datums:
            entry = queue[0]
            if entry[1] < oldest:
                queue.popleft()
                drop(entry, "expired")
                continue
            frag = fragment(entry[0], entry[1], entry[2], n + 1)
            grow = len(frag) + (len(sep) if n else 0)
            if size + grow > limit_bytes:
                if n:
                    break
                queue.popleft()
                drop(entry, "too_large")
                continue
            size += grow
            n += 1
            chosen.append(entry)
            frags.append(frag)
            queue.popleft()
        if not n:
            return None
        payloads = [e[2] for e in chosen]
        samples = fsum(
            [fsum(p.values()) if p.__class__ is dict else p[0] for p in payloads]
        )
        body = (prefix + sep.join(frags) + suffix).encode("ascii")
        request = PutMetricDataRequest.packed(
            group,
            [e[0] for e in chosen],
            [e[1] for e in chosen],
            payloads,
            samples,
            body,
            codec.wire_format,
            codec.headers,
        )
        return request, [e[3] for e in chosen]
