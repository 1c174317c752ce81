"""``LocalCloudWatch``: a strict CloudWatch endpoint on 127.0.0.1 built on moto."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._clients import FAKE_CREDENTIALS, ClientProtocol, make_client
from ._deps import require_server_dependencies
from ._faults import FaultInjector
from ._middleware import SOCKET_ENVIRON_KEY, CloudWatchMiddleware
from ._model import (
    AcceptedDatum,
    AcceptedPut,
    Recorder,
    RequestLogEntry,
    SeriesKey,
    SeriesStats,
    ServerStats,
    aggregate,
)

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

__all__ = ["LocalCloudWatch", "ENV_VARS_TO_UNSET"]

#: Variables :meth:`LocalCloudWatch.env` users should remove so nothing else wins.
ENV_VARS_TO_UNSET = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL")


@functools.lru_cache(maxsize=1)
def _handler_class() -> type[WSGIRequestHandler]:
    """moto's request handler, quiet, exposing the client socket to the middleware."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class _Handler(MotoRequestHandler):
        def make_environ(self) -> dict[str, Any]:
            environ = super().make_environ()
            environ[SOCKET_ENVIRON_KEY] = self.connection
            return environ

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            """Do not log every request to stderr."""

    return _Handler


def _reset_moto_cloudwatch() -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    for account_backends in list(cloudwatch_backends.values()):
        account_backends.reset()


class LocalCloudWatch:
    """A real HTTP CloudWatch endpoint on localhost, strict like the service.

    moto (imported on first :meth:`start`) stores the data and answers the read APIs;
    a WSGI middleware in front of it rejects every PutMetricData CloudWatch would
    reject (same code, HTTP status and error shape for both the JSON 1.0 and the query
    protocol), records what it accepts, and injects faults on demand.

    Note that moto keeps its data in process-wide globals: two instances in one process
    share the stored metrics (but not the records, counters or faults kept here).

    Fault switches (PutMetricData only, thread-safe, switchable while running):
    :meth:`fail_next`, :meth:`fail_randomly`, :meth:`fail_for`, :meth:`slow_down`,
    :meth:`drop_next`, :meth:`clear_faults`; :meth:`down`/:meth:`up` take the endpoint
    off and back on the same port.

    Records: :meth:`stats`, :meth:`accepted_puts`, :meth:`accepted_datums`,
    :meth:`series`, :meth:`series_stats`, :meth:`request_log`.

    Args:
        host: interface to listen on.
        port: TCP port; 0 picks a free one on the first :meth:`start` and keeps it.
        region: the region clients should use (:meth:`env`, :meth:`boto3_client`).
        strict: enforce CloudWatch's PutMetricData rules; ``False`` forwards
            everything to moto (which enforces almost none of them).

    Example:
        >>> with LocalCloudWatch() as cw:  # doctest: +SKIP
        ...     cw.boto3_client().put_metric_data(Namespace="App", MetricData=[...])
        ...     cw.series_stats("App", "Latency").sample_count
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "us-east-1",
        strict: bool = True,
    ) -> None:
        self.host = host
        self.region = region
        self._port = port
        self._lock = threading.RLock()
        self._recorder = Recorder()
        self.faults = FaultInjector()
        self._middleware = CloudWatchMiddleware(self._recorder, self.faults, strict=strict)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def strict(self) -> bool:
        """Whether CloudWatch's rules are enforced (settable at runtime)."""
        return self._middleware.strict

    @strict.setter
    def strict(self, value: bool) -> None:
        self._middleware.strict = value

    @property
    def clock(self) -> Callable[[], float]:
        """The wall clock used for timestamp checks (settable; default ``time.time``)."""
        return self._middleware.clock

    @clock.setter
    def clock(self, value: Callable[[], float]) -> None:
        self._middleware.clock = value

    @property
    def port(self) -> int:
        """The TCP port (fixed after the first :meth:`start`).

        Raises:
            RuntimeError: port 0 was requested and the server was never started.
        """
        if self._port == 0:
            raise RuntimeError("LocalCloudWatch has no port yet: call start() first")
        return self._port

    @property
    def url(self) -> str:
        """The endpoint URL, ``"http://127.0.0.1:<port>"``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the endpoint is accepting connections."""
        return self._server is not None

    def start(self) -> LocalCloudWatch:
        """Start serving (idempotent). Restarts reuse the port of the first start.

        Returns:
            ``self``, for chaining.

        Raises:
            OSError: the port cannot be bound.
            MissingDependencyError: moto's server is not installed (names the extra).
        """
        require_server_dependencies()
        from werkzeug.serving import make_server

        with self._lock:
            if self._server is not None:
                return self
            if self._middleware.app is None:
                from moto.moto_server.werkzeug_app import (
                    DomainDispatcherApplication,
                    create_backend_app,
                )

                self._middleware.app = DomainDispatcherApplication(create_backend_app)
            server = make_server(
                self.host,
                self._port,
                self._middleware,
                threaded=True,
                request_handler=_handler_class(),
            )
            self._port = int(server.server_address[1])
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"LocalCloudWatch:{self._port}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
            return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent); state is kept.

        Requests already being handled finish in the background; new connections are
        refused until :meth:`start`.
        """
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            if server is None:
                return
            server.shutdown()
            if thread is not None:
                thread.join()
            server.server_close()

    def down(self) -> None:
        """Take the endpoint down (connections refused); same as :meth:`stop`."""
        self.stop()

    def up(self) -> None:
        """Bring the endpoint back on the same port; same as :meth:`start`."""
        self.start()

    def __enter__(self) -> LocalCloudWatch:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ clients

    def env(self) -> dict[str, str]:
        """Environment variables pointing AWS SDKs' CloudWatch clients here.

        Only CloudWatch is redirected (``AWS_ENDPOINT_URL_CLOUDWATCH``, not
        ``AWS_ENDPOINT_URL``). Remove the variables in :data:`ENV_VARS_TO_UNSET`
        (``AWS_SESSION_TOKEN``...) when applying them.

        Returns:
            ``AWS_ENDPOINT_URL_CLOUDWATCH``, ``AWS_DEFAULT_REGION``,
            ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` (``"testing"``).
        """
        return {
            "AWS_ENDPOINT_URL_CLOUDWATCH": self.url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS[0],
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS[1],
        }

    def boto3_client(self, *, protocol: ClientProtocol = None, config: Any = None) -> Any:
        """A boto3 CloudWatch client pointed at this endpoint.

        Args:
            protocol: force ``"json"`` or ``"query"`` (``None``: botocore's default,
                JSON 1.0 on botocore 1.43+); ``"query"`` mimics botocore <= 1.40.
            config: a ``botocore.config.Config`` merged over the defaults, e.g.
                ``Config(parameter_validation=False, retries={"total_max_attempts": 1})``.

        Returns:
            The client.
        """
        return make_client(self.url, self.region, protocol=protocol, config=config)

    # ------------------------------------------------------------------ records

    def reset(self, *, wait: float = 5.0) -> None:
        """Clear moto's CloudWatch data, the accepted record, counters and the log.

        First waits (up to ``wait`` seconds) for requests still being handled, e.g. a
        response delayed by :meth:`slow_down` in a previous test, so they cannot land in
        the fresh record. Faults are not cleared (see :meth:`clear_faults`).

        Args:
            wait: seconds to wait at most for in-flight requests (0: do not wait).
        """
        if wait > 0:
            self._middleware.wait_idle(wait)
        self._recorder.clear()
        if self._middleware.app is not None:
            _reset_moto_cloudwatch()

    @property
    def in_flight(self) -> int:
        """Requests currently being handled."""
        return self._middleware.in_flight

    def stats(self) -> ServerStats:
        """A snapshot of the counters and the request log (see :class:`ServerStats`)."""
        return self._recorder.stats()

    def request_log(self) -> list[RequestLogEntry]:
        """Every request received, oldest first."""
        return list(self._recorder.stats().log)

    def accepted_puts(self) -> list[AcceptedPut]:
        """Every accepted PutMetricData request, normalised, oldest first."""
        return self._recorder.puts()

    def accepted_datums(
        self, namespace: str | None = None, metric_name: str | None = None
    ) -> list[tuple[str, AcceptedDatum]]:
        """Accepted datums as ``(namespace, datum)``, optionally filtered.

        Args:
            namespace: only this namespace.
            metric_name: only this metric name.

        Returns:
            The datums in arrival order.
        """
        return list(self._recorder.datums(namespace, metric_name))

    def series(self) -> dict[SeriesKey, SeriesStats]:
        """Exact per-series aggregates of everything accepted.

        Returns:
            ``(namespace, metric name, sorted dimension pairs)`` -> :class:`SeriesStats`.
        """
        return self._recorder.series()

    def series_stats(
        self,
        namespace: str,
        metric_name: str,
        dimensions: Mapping[str, str] | None = None,
    ) -> SeriesStats:
        """Exact aggregate of one series (empty aggregate if nothing was accepted).

        Args:
            namespace: the namespace.
            metric_name: the metric name.
            dimensions: the exact dimension set (``None`` or ``{}``: no dimensions).

        Returns:
            SampleCount/Sum/Minimum/Maximum and the value multiset.
        """
        wanted = tuple(sorted((dimensions or {}).items()))
        return aggregate(
            datum
            for _, datum in self._recorder.datums(namespace, metric_name)
            if datum.dimensions == wanted
        )

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 500,
        code: str = "InternalServiceError",
        message: str | None = None,
    ) -> None:
        """Answer the next ``n`` PutMetricData requests with an error (not applied).

        Args:
            n: number of requests.
            status: HTTP status, e.g. 500, 503 (``ServiceUnavailable``) or 400
                (``Throttling``).
            code: the error code.
            message: the error message.
        """
        self.faults.fail_next(n, status=status, code=code, message=message)

    def fail_randomly(
        self,
        probability: float,
        *,
        seed: int = 0,
        status: int = 500,
        code: str = "InternalServiceError",
        message: str | None = None,
    ) -> None:
        """Fail PutMetricData requests with ``probability`` (seeded, reproducible).

        Args:
            probability: in ``[0, 1]``; 0 switches it off.
            seed: seed of the ``random.Random`` drawing one number per request.
            status: HTTP status.
            code: the error code.
            message: the error message.
        """
        self.faults.fail_randomly(probability, seed=seed, status=status, code=code, message=message)

    def fail_for(
        self,
        seconds: float,
        *,
        status: int = 503,
        code: str = "ServiceUnavailable",
        message: str | None = None,
    ) -> None:
        """Fail every PutMetricData request for the next ``seconds``.

        Args:
            seconds: window length from now.
            status: HTTP status.
            code: the error code.
            message: the error message.
        """
        self.faults.fail_for(seconds, status=status, code=code, message=message)

    def slow_down(self, seconds: float, *, count: int | None = None) -> None:
        """Sleep ``seconds`` before answering PutMetricData requests (still applied).

        Args:
            seconds: delay per response; 0 switches it off.
            count: only the next ``count`` answered requests (``None``: until cleared).
        """
        self.faults.slow_down(seconds, count=count)

    def drop_next(self, n: int = 1, *, after_apply: bool = False) -> None:
        """Close the next ``n`` PutMetricData connections without any response.

        Args:
            n: number of requests.
            after_apply: ``False``: nothing is stored; ``True``: the data is stored and
                recorded as accepted, but the client never sees the answer. Counted in
                ``stats().dropped_before_apply`` / ``dropped_after_apply``.
        """
        self.faults.drop_next(n, after_apply=after_apply)

    def clear_faults(self) -> None:
        """Switch every fault off (does not restart a stopped endpoint)."""
        self.faults.clear()

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` requests were received.

        Args:
            count: the request total to wait for.
            timeout: seconds to wait at most.

        Returns:
            Whether the total was reached in time.
        """
        deadline = time.monotonic() + timeout
        while self._recorder.stats().requests_total < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True
