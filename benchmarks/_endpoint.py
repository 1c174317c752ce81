"""The strict local endpoint (``LocalCloudWatch``) in its own process.

Run in-process, its server thread would compete with the code under test for the GIL and
inflate every timing and event-loop stall; in a spawned process it gets its own core.
Results (``stats()``, ``series()``) come back pickled over a pipe.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any


def _serve(conn: Connection) -> None:
    from cwmetrics_transports.testing import LocalCloudWatch

    cw = LocalCloudWatch().start()
    conn.send((cw.url, cw.env()))
    while True:
        method, args = conn.recv()
        if method == "close":
            cw.stop()
            conn.send((True, None))
            return
        try:
            if method == "set_strict":
                cw.strict = bool(args[0])
                value: Any = None
            else:
                value = getattr(cw, method)(*args)
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            conn.send((False, repr(exc)))
        else:
            conn.send((True, value))


class Endpoint:
    """A ``LocalCloudWatch`` running in a child process; a context manager."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self._proc.start()
        child.close()
        self.url: str
        self.env: dict[str, str]
        self.url, self.env = self._conn.recv()

    def call(self, method: str, *args: Any) -> Any:
        """Call ``LocalCloudWatch.<method>(*args)`` in the child; its result.

        Raises:
            RuntimeError: the call raised in the child.
        """
        self._conn.send((method, args))
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"LocalCloudWatch.{method} failed: {value}")
        return value

    def stats(self) -> Any:
        """``LocalCloudWatch.stats()`` (a ServerStats)."""
        return self.call("stats")

    def series(self) -> Any:
        """``LocalCloudWatch.series()``: exact per-series aggregates of accepted data."""
        return self.call("series")

    def reset(self) -> None:
        """Forget everything accepted and every counter."""
        self.call("reset")

    def set_strict(self, strict: bool) -> None:
        """Enforce CloudWatch's rules (True) or forward everything to moto (False)."""
        self.call("set_strict", strict)

    def close(self) -> None:
        """Stop the endpoint and its process."""
        if self._proc.is_alive():
            try:
                self.call("close")
            finally:
                self._proc.join(10)
                if self._proc.is_alive():
                    self._proc.terminate()

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
