"""The strict local endpoint (``LocalCloudWatch``) in its own process.

Run in-process, its server thread would compete with the code under test for the GIL and
inflate every timing and event-loop stall; in a spawned process it gets its own core.
Results (``stats()``, ``series()``) come back pickled over a pipe.

``Endpoint(store_samples=False)`` (the wire and flush sections) gives the same answers
(the middleware validates every request by CloudWatch's rules and records what it
accepts; moto's own PutMetricData checks still run, and its answers are kept) without
what no benchmark reads: moto's storage of one Python object per sample (for its read
APIs, which no benchmark calls) and its request dispatch and generic parser (the body
is JSON 1.0: ``json.loads`` reads it). See :func:`lean_moto`.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any


def lean_moto() -> Callable[[], None]:
    """PutMetricData through moto's own checks and answer, minus moto's storage and its
    request dispatch (routing, generic parsing: most of the endpoint's CPU).

    The middleware forwards PutMetricData to moto as JSON 1.0 (it re-encodes query
    requests first). Here such a request's body is read with ``json.loads`` and every
    datum goes through moto's ``_validate_parameters_put_metric_data`` in moto's order; a
    datum it rejects sends the request on to moto unchanged (moto renders its error),
    otherwise the answer is moto's success answer (``{}``, its headers, a fresh request
    id). Every other request goes to moto as before. Returns a function that undoes it.
    """
    import io
    import json
    import secrets
    import string

    from moto.cloudwatch.models import CloudWatchBackend
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if not hasattr(CloudWatchBackend, "_validate_parameters_put_metric_data"):
        raise RuntimeError("this moto has no _validate_parameters_put_metric_data")
    validate = CloudWatchBackend._validate_parameters_put_metric_data
    original = DomainDispatcherApplication.__call__
    alphabet = string.ascii_letters + string.digits

    def __call__(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).endswith(".PutMetricData"):
            return original(self, environ, start_response)
        body = environ["wsgi.input"].read()
        try:
            params = json.loads(body)
            for i, metric in enumerate(params.get("MetricData") or []):
                validate(None, metric, i + 1)  # reads only its arguments
        except Exception:  # noqa: BLE001 - moto answers it, its own way
            environ["wsgi.input"] = io.BytesIO(body)
            return original(self, environ, start_response)
        request_id = "".join(secrets.choice(alphabet) for _ in range(52))
        start_response(
            "200 OK",
            [
                ("Content-Type", "text"),
                ("x-amzn-RequestId", request_id),
                ("Content-Length", "2"),
                ("access-control-allow-origin", "*"),
            ],
        )
        return [b"{}"]

    DomainDispatcherApplication.__call__ = __call__  # type: ignore[method-assign]

    def undo() -> None:
        DomainDispatcherApplication.__call__ = original  # type: ignore[method-assign]

    return undo


def _serve(conn: Connection, store_samples: bool = True) -> None:
    from cwmetrics_transports.testing import LocalCloudWatch

    if not store_samples:
        lean_moto()
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
