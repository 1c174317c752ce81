"""The twin transport interfaces (sync ``send``, async ``asend``) and ToThread."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from cwmetrics_core import (
    EmfSink,
    Limits,
    OtlpSink,
    PutMetricDataRequest,
    PutMetricDataSink,
    SendOutcome,
    Sink,
    WireFormat,
)

__all__ = ["Transport", "AsyncTransport", "ToThread", "sink_for"]


def _default_sink(wire_format: WireFormat | str, limits: Limits) -> Sink:
    if WireFormat(wire_format) is WireFormat.EMF:
        return EmfSink(limits)
    if WireFormat(wire_format) is WireFormat.OTLP:
        return OtlpSink(limits)
    return PutMetricDataSink(wire_format, limits)


def sink_for(transport: object, limits: Limits) -> Sink:
    """The sink ``transport`` declares it needs, for a core with ``limits``.

    A transport with a ``make_sink(limits)`` method (every subclass of
    :class:`Transport` / :class:`AsyncTransport`) chooses its own (``EmfTransport``: an
    ``EmfSink``); any other object gets a PutMetricData sink in its ``wire_format``.
    Drivers bind the result with ``core.set_sink(...)``.
    """
    make = getattr(transport, "make_sink", None)
    if make is not None:
        sink = make(limits)
        if not isinstance(sink, Sink):
            raise TypeError(f"{type(transport).__name__}.make_sink() returned {sink!r}, not a Sink")
        return sink
    return _default_sink(getattr(transport, "wire_format", WireFormat.JSON), limits)


class Transport:
    """A synchronous transport: ``send(request) -> SendOutcome``.

    Implementations never raise from :meth:`send` for a failed delivery; they return the
    failure as a :class:`~cwmetrics_core.SendOutcome`. :attr:`wire_format` tells the core
    which encoding to measure the 1 MB limit in.
    """

    #: The body encoding this transport puts on the wire.
    wire_format: WireFormat = WireFormat.JSON

    def make_sink(self, limits: Limits) -> Sink:
        """The sink requests for this transport are packed with: PutMetricData in
        :attr:`wire_format` (EMF documents for ``WireFormat.EMF``) unless a subclass
        needs another."""
        return _default_sink(self.wire_format, limits)

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

    def make_sink(self, limits: Limits) -> Sink:
        """The sink requests for this transport are packed with (see
        :meth:`Transport.make_sink`)."""
        return _default_sink(self.wire_format, limits)

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


T = TypeVar("T")


def _settle(future: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    if future.done():  # the awaiting task was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]


async def run_in_daemon_thread(func: Callable[[], T]) -> T:
    """Run ``func`` in a new daemon thread and await its result.

    Unlike ``asyncio.to_thread`` (the loop's default executor), ``asyncio.run()`` does not
    wait for these threads at shutdown, so a hung sync client cannot hold up the exit of
    an asyncio program beyond the reporter's own timeout.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def work() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = func()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_settle, future, result, error)

    threading.Thread(target=work, name="cwmetrics-send", daemon=True).start()
    return await future


class ToThread(AsyncTransport):
    """Use a sync :class:`Transport` from asyncio: each send runs in a worker thread.

    The event loop never blocks on the sync client's I/O, and the worker is a daemon
    thread, so a hung client never holds up the program's exit.
    """

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.wire_format = inner.wire_format

    def make_sink(self, limits: Limits) -> Sink:
        """The inner transport's sink."""
        return sink_for(self.inner, limits)

    async def asend(self, request: PutMetricDataRequest) -> SendOutcome:
        """Run ``inner.send(request)`` in a worker thread."""
        return await run_in_daemon_thread(functools.partial(self.inner.send, request))

    async def aclose(self) -> None:
        """Close the inner transport in a worker thread."""
        await run_in_daemon_thread(self.inner.close)

    def __repr__(self) -> str:
        return f"ToThread({self.inner!r})"
