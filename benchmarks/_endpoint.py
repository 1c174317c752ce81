"""The strict local endpoint (``LocalCloudWatch``) in its own process.

Run in-process, its server thread would compete with the code under test for the GIL and
inflate every timing and event-loop stall; in a spawned process it gets its own core.
Results (``stats()``, ``series()``) come back pickled over a pipe.

``Endpoint(store_samples=False)`` (the wire section) answers exactly as before (the
middleware validates every request by CloudWatch's rules and records what it accepts;
moto still parses each request, applies its own checks and renders the answer) but moto
does not keep one Python object per sample for its read APIs, which no benchmark calls:
for a 200,000-sample request that bookkeeping took about 4 s of the endpoint's time.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any


def _validate_only(self: Any, namespace: str, metric_data: list[dict[str, Any]]) -> None:
    """moto's ``put_metric_data`` without storing: its own checks, in its own order."""
    for i, metric in enumerate(metric_data):
        self._validate_parameters_put_metric_data(metric, i + 1)


def _serve(conn: Connection, store_samples: bool = True) -> None:
    from cwmetrics_transports.testing import LocalCloudWatch

    if not store_samples:
        from moto.cloudwatch.models import CloudWatchBackend

        if not hasattr(CloudWatchBackend, "_validate_parameters_put_metric_data"):
            raise RuntimeError("this moto has no _validate_parameters_put_metric_data")
        CloudWatchBackend.put_metric_data = _validate_only  # type: ignore[method-assign]
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
    """A ``LocalCloudWatch`` running in a child process; a context manager.

    Args:
        store_samples: ``False``: moto validates and answers but keeps nothing (see the
            module docstring); the endpoint's own record (``stats()``, ``series()``) is
            complete either way.
    """

    def __init__(self, *, store_samples: bool = True) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, store_samples), daemon=True)
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
