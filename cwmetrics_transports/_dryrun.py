"""DryRunTransport: the dry-run logger and the test double, sync and async."""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from cwmetrics_core import PutMetricDataRequest, SendOutcome, WireFormat

from ._base import AsyncTransport, Transport

__all__ = ["DryRunTransport"]

_OK = SendOutcome(ok=True, http_status=200)


class DryRunTransport(Transport, AsyncTransport):
    """Sends nothing: logs each request and keeps it for inspection.

    Use it to run an application without AWS (``--transport dry-run``), or as the test
    double in your own tests: record, flush, then assert on :attr:`requests` or
    :meth:`datums`. Scripted ``outcomes`` simulate failures: each send consumes the next
    outcome (then ``ok`` once they run out).

    Args:
        outcomes: outcomes to return, in order, before returning success.
        logger: where to log (INFO: namespace, datums, bytes; DEBUG: every datum).
        keep: how many requests to keep (oldest are forgotten; 1000 by default, so a
            long dry run stays bounded); None keeps all.
        wire_format: the encoding to ask the core for (JSON by default).

    Example::

        transport = DryRunTransport(outcomes=[SendOutcome(ok=False, http_status=503,
                                                          error_code="ServiceUnavailable")])
    """

    def __init__(
        self,
        outcomes: Iterable[SendOutcome] = (),
        *,
        logger: logging.Logger | None = None,
        keep: int | None = 1000,
        wire_format: WireFormat = WireFormat.JSON,
    ) -> None:
        self._outcomes: Iterator[SendOutcome] = iter(list(outcomes))
        self._log = logger or logging.getLogger("cwmetrics_transports.dryrun")
        self._lock = threading.Lock()
        #: Every request answered ok, in order (bounded by ``keep``).
        self.requests: collections.deque[PutMetricDataRequest] = collections.deque(maxlen=keep)
        #: Every (request, outcome) pair, failures included (bounded by ``keep``).
        self.attempts: collections.deque[tuple[PutMetricDataRequest, SendOutcome]] = (
            collections.deque(maxlen=keep)
        )
        self.wire_format = wire_format
        self.closed = False

    def script(self, outcomes: Iterable[SendOutcome]) -> None:
        """Replace the scripted outcomes still to come."""
        with self._lock:
            self._outcomes = iter(list(outcomes))

    def send(self, request: PutMetricDataRequest) -> SendOutcome:
        """Log ``request``, keep it, return the next scripted outcome (default ok)."""
        with self._lock:
            outcome = next(self._outcomes, _OK)
            self.attempts.append((request, outcome))
            if outcome.ok:
                self.requests.append(request)
        self._log.info(
            "dry-run PutMetricData namespace=%s datums=%d bytes=%d -> %s",
            request.namespace,
            len(request),
            request.size,
            "ok" if outcome.ok else outcome.error_code,
        )
        if self._log.isEnabledFor(logging.DEBUG):
            for datum in request.datums:
                self._log.debug("  %r", datum)
        return outcome

    async def asend(self, request: PutMetricDataRequest) -> SendOutcome:
        """Same as :meth:`send`; never blocks."""
        return self.send(request)

    def close(self) -> None:
        """Mark closed (kept requests stay readable)."""
        self.closed = True

    async def aclose(self) -> None:
        """Mark closed."""
        self.close()

    def datums(self) -> list[dict[str, Any]]:
        """Every datum of every accepted request, as boto3 ``MetricData`` entries."""
        with self._lock:
            requests = list(self.requests)
        return [d for r in requests for d in r.params["MetricData"]]

    def totals(self) -> dict[tuple[str, str, tuple[tuple[str, str], ...]], dict[str, float]]:
        """Per series ``(namespace, name, dimensions)``: SampleCount, Sum, Minimum, Maximum
        over the kept requests."""
        out: dict[tuple[str, str, tuple[tuple[str, str], ...]], dict[str, float]] = {}
        with self._lock:
            requests = list(self.requests)
        for request in requests:
            for datum in request.datums:
                key = (datum.key.namespace, datum.key.name, datum.key.dimensions)
                if datum.statistics is not None:
                    n, s, lo, hi = datum.statistics
                else:
                    values = datum.values or ()
                    counts = datum.counts or (1.0,) * len(values)
                    n = sum(counts)
                    s = sum(v * c for v, c in zip(values, counts, strict=True))
                    lo, hi = min(values), max(values)
                acc = out.setdefault(
                    key, {"SampleCount": 0.0, "Sum": 0.0, "Minimum": lo, "Maximum": hi}
                )
                acc["SampleCount"] += n
                acc["Sum"] += s
                acc["Minimum"] = min(acc["Minimum"], lo)
                acc["Maximum"] = max(acc["Maximum"], hi)
        return out

    def __repr__(self) -> str:
        return f"DryRunTransport(requests={len(self.requests)})"
