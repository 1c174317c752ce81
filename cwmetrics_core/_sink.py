"""Sinks: where aggregated series go, as a limits table plus a codec.

A sink answers three questions for the core, and nothing else:

* which datums may share a request (:meth:`Sink.group_of`: the namespace, for
  PutMetricData);
* how one request is packed from queued datums under its limits, measured on the exact
  encoded body (:meth:`Sink.pack`, or step by step with a :class:`Packer` from
  :meth:`Sink.packer`, so an event loop can run between slices of a large request);
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
from functools import partial
from math import fsum

from ._limits import Limits
from ._model import Entry, MetricKey, Payload, PutMetricDataRequest, WireFormat
from ._wire import Encoder, encoder_for

__all__ = ["DropReason", "Packer", "PutMetricDataSink", "Sink"]

#: A :meth:`Packer.feed` budget that packs the whole request.
UNLIMITED = 1 << 62

#: Why a sink could not pack a datum: ``"expired"`` (older than the caller's horizon) or
#: ``"too_large"`` (alone it exceeds the request size limit: it can never be sent).
DropReason = str


class Packer:
    """One request being packed, a slice at a time (from :meth:`Sink.packer`).

    :meth:`feed` takes datums from the front of a queue into the request; it stops after
    ``budget`` datums, and the caller may do other work (an event loop may run) before it
    feeds the next slice. :meth:`finish` builds the request. Datums taken are held by the
    packer until then: :meth:`give_back` returns them to the front of a queue, in order,
    when the request is abandoned (the wire format changed, the data is discarded).
    """

    #: The group (namespace) of the request.
    group: str

    def feed(
        self,
        queue: deque[Entry],
        budget: int,
        *,
        oldest: float,
        drop: Callable[[Entry, DropReason], None],
    ) -> bool:
        """Take datums from the front of ``queue`` until ``budget`` is spent.

        ``budget`` is in units of work: a datum costs 1, plus 1 per 16 of its values (so
        a slice takes about the same time whatever the datums hold).

        Returns:
            True when the request is complete: full, the next datum does not fit, or
            ``queue`` ran out. False when the budget ran out first.
        """
        raise NotImplementedError

    def finish(self) -> tuple[PutMetricDataRequest, list[int]] | None:
        """The request and the attempts of its datums, or None when it holds none."""
        raise NotImplementedError

    def give_back(self, queue: deque[Entry]) -> None:
        """Put every datum taken back at the front of ``queue`` (this packer is then empty)."""
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class _OneShotPacker(Packer):
    """A packer for a sink that only implements :meth:`Sink.pack`: the whole request is
    packed by the first :meth:`feed`."""

    __slots__ = ("_packed", "_sink", "group")

    def __init__(self, sink: Sink, group: str) -> None:
        self._sink = sink
        self.group = group
        self._packed: tuple[PutMetricDataRequest, list[int]] | None = None

    def feed(
        self,
        queue: deque[Entry],
        budget: int,
        *,
        oldest: float,
        drop: Callable[[Entry, DropReason], None],
    ) -> bool:
        if self._packed is None:
            self._packed = self._sink.pack(self.group, queue, oldest=oldest, drop=drop)
        return True

    def finish(self) -> tuple[PutMetricDataRequest, list[int]] | None:
        packed, self._packed = self._packed, None
        return packed

    def give_back(self, queue: deque[Entry]) -> None:
        packed, self._packed = self._packed, None
        if packed is not None:
            request, attempts = packed
            taken = zip(request.keys, request.timestamps, request.payloads, attempts, strict=True)
            queue.extendleft(reversed(list(taken)))

    def __len__(self) -> int:
        return 0 if self._packed is None else len(self._packed[0])


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

    def packer(self, group: str) -> Packer:
        """A :class:`Packer` for one request of ``group``. The default packs the whole
        request at once with :meth:`pack`; a sink whose requests are large should pack in
        slices (as :class:`PutMetricDataSink` does)."""
        return _OneShotPacker(self, group)


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
        packer = self.packer(group)
        packer.feed(queue, UNLIMITED, oldest=oldest, drop=drop)
        return packer.finish()

    def packer(self, group: str) -> Packer:
        return _PutMetricDataPacker(self._codec, self.limits, group)


class _PutMetricDataPacker(Packer):
    """Packs one PutMetricData request datum by datum, measuring the exact body size.

    For codecs that only measure (botocore serializes ``params`` itself) no text is built:
    the request's body is encoded on demand.
    """

    __slots__ = (
        "_attempts",
        "_codec",
        "_frags",
        "_keys",
        "_limit_bytes",
        "_max_datums",
        "_numbers",
        "_payloads",
        "_samples",
        "_size",
        "_timestamps",
        "group",
    )

    def __init__(self, codec: Encoder, limits: Limits, group: str) -> None:
        self._codec = codec
        self.group = group
        self._size = len(codec.prefix(group)) + len(codec.suffix)
        self._limit_bytes = limits.max_request_bytes
        self._max_datums = limits.max_datums_per_request
        self._keys: list[MetricKey] = []
        self._timestamps: list[float] = []
        self._payloads: list[Payload] = []
        self._attempts: list[int] = []
        #: Samples of each datum, summed while its counts are fresh in the CPU cache.
        self._samples: list[float] = []
        self._frags: list[str] | None = None if codec.measure_only else []
        #: With a measuring codec: each datum's numbers as text (``codec.measure``).
        self._numbers: list[str] = []

    def __len__(self) -> int:
        return len(self._keys)

    def feed(
        self,
        queue: deque[Entry],
        budget: int,
        *,
        oldest: float,
        drop: Callable[[Entry, DropReason], None],
    ) -> bool:
        codec = self._codec
        measure = codec.measure if self._frags is None else None
        fragment = codec.fragment_of
        sep = len(codec.item_sep)
        size = self._size
        limit_bytes = self._limit_bytes
        n = len(self._keys)
        max_datums = self._max_datums
        # Bound methods: this loop runs once per datum.
        add_key, add_timestamp = self._keys.append, self._timestamps.append
        add_payload, add_attempts = self._payloads.append, self._attempts.append
        add_samples = self._samples.append
        add_text = (self._frags if self._frags is not None else self._numbers).append
        popleft = queue.popleft
        spent = 0
        complete = True
        while n < max_datums:
            if spent >= budget:
                complete = False
                break
            if not queue:
                break
            key, ts, payload, tries = entry = queue[0]
            if ts < oldest:
                popleft()
                drop(entry, "expired")
                continue
            if measure is not None:
                grow, text = measure(key, ts, payload, n + 1)
            else:
                text = fragment(key, ts, payload, n + 1)
                grow = len(text)
            if n:
                grow += sep
            if size + grow > limit_bytes:
                if n:
                    break
                popleft()
                drop(entry, "too_large")
                continue
            size += grow
            n += 1
            spent += 1 + (len(payload) >> 4)
            add_key(key)
            add_timestamp(ts)
            add_payload(payload)
            add_attempts(tries)
            add_samples(payload[0] if payload.__class__ is tuple else fsum(payload.values()))  # type: ignore[union-attr]
            add_text(text)
            popleft()
        self._size = size
        return complete

    def finish(self) -> tuple[PutMetricDataRequest, list[int]] | None:
        keys = self._keys
        if not keys:
            return None
        codec = self._codec
        payloads = self._payloads
        samples = fsum(self._samples)
        frags = self._frags
        body = (
            None if frags is None
            else (codec.prefix(self.group) + codec.item_sep.join(frags) + codec.suffix).encode(
                "ascii"
            )
        )
        request = PutMetricDataRequest.packed(
            self.group,
            keys,
            self._timestamps,
            payloads,
            samples,
            body,
            codec.wire_format,
            codec.headers,
            size=self._size,
            encode=partial(codec.encode_measured, self._numbers),
        )
        return request, self._attempts

    def give_back(self, queue: deque[Entry]) -> None:
        taken = zip(self._keys, self._timestamps, self._payloads, self._attempts, strict=True)
        queue.extendleft(reversed(list(taken)))
        self._keys, self._timestamps, self._payloads, self._attempts = [], [], [], []
        self._samples = []
        self._numbers = []
        if self._frags is not None:
            self._frags = []
        self._size = len(self._codec.prefix(self.group)) + len(self._codec.suffix)
