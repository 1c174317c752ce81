"""The twin transport interfaces (sync ``send``, async ``asend``) and ToThread."""

from __future__ import annotations

import asyncio
from types import TracebackType

from cwmetrics_core import PutMetricDataRequest, SendOutcome, WireFormat

__all__ = ["Transport", "AsyncTransport", "ToThread"]


class Transport:
    """A synchronous transport: ``send(request) -> SendOutcome``.

    Implementations never raise from :meth:`send` for a failed delivery; they return the
    failure as a :class:`~cwmetrics_core.SendOutcome`. :attr:`wire_format` tells the core
    which encoding to measure the 1 MB limit in.
    """

    #: The body encoding this transport puts on the wire.
    wire_format: WireFormat = WireFormat.JSON

    def send(self, request: PutMetricDataRequest) -> SendOutcome:
        """Send one request and report what happened."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections. Idempotent."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncTransport:
    """An asynchronous transport: ``await asend(request) -> SendOutcome``.

    Method names differ from :class:`Transport` so one class can implement both.
    """

    #: The body encoding this transport puts on the wire.
    wire_format: WireFormat = WireFormat.JSON

    async def asend(self, request: PutMetricDataRequest) -> SendOutcome:
        """Send one request and report what happened."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections. Idempotent."""

    async def __aenter__(self) -> AsyncTransport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class ToThread(AsyncTransport):
    """Use a sync :class:`Transport` from asyncio: each send runs in a worker thread.

    The event loop never blocks on the sync client's I/O.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.wire_format = inner.wire_format

    async def asend(self, request: PutMetricDataRequest) -> SendOutcome:
        """Run ``inner.send(request)`` in a worker thread."""
        return await asyncio.to_thread(self.inner.send, request)

    async def aclose(self) -> None:
        """Close the inner transport in a worker thread."""
        await asyncio.to_thread(self.inner.close)

    def __repr__(self) -> str:
        return f"ToThread({self.inner!r})"
