"""OtlpTransport: OTLP/HTTP protobuf to CloudWatch's OTLP endpoint or any collector.

The core packs OTLP data points (:class:`~cwmetrics_core.OtlpSink`, bound because this
transport declares it in :meth:`OtlpTransport.make_sink`); this transport encodes them
with ``opentelemetry-proto`` (``ExportMetricsServiceRequest``), gzips the body, signs it
with botocore's SigV4 (service ``monitoring``) unless ``sign=False``, posts it with httpx
and reads the answer:

* 2xx: sent. An ``ExportMetricsServiceResponse`` whose ``partial_success`` names rejected
  data points makes those points dropped: the service does not say which ones, so the
  request's samples are counted in proportion (``rejected / points``) in
  ``stats.dropped_rejected`` (:attr:`~cwmetrics_core.SendOutcome.rejected_samples`), and
  the service's message is logged as a warning. They are never resent (OTLP forbids it);
* 429, 502, 503, 504: retried with the core's backoff, never sooner than ``Retry-After``;
* 400: the content was rejected: the core bisects the request, as PutMetricData's;
* 413: bisected too; other statuses as PutMetricData's (403: dropped, 5xx: retried).

Every send, the sync one included, ends within ``timeout`` seconds in total (pool wait,
connect, TLS, upload and the whole answer), as :class:`HttpxTransport`'s.
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cwmetrics_core import (
    Limits,
    OtlpRequest,
    OtlpSink,
    PutMetricDataRequest,
    SendOutcome,
    WireFormat,
)
from cwmetrics_core import __version__ as _core_version
from cwmetrics_core._otlp import SCOPE_VERSION, ucum_unit
from cwmetrics_core._retry import INVALID_CODES, error_name

from ._awsconfig import check_profile, config_variable, configured_endpoint
from ._base import AsyncTransport, Transport
from ._errors import (
    CredentialsError,
    TransportError,
    check_endpoint,
    outcome_from_http,
    require,
)

if TYPE_CHECKING:
    import ssl

    import httpx

__all__ = ["OtlpTransport", "OTLP_PATH", "encode_request"]

#: The path of the OTLP/HTTP metrics service.
OTLP_PATH = "/v1/metrics"
_SERVICE = "monitoring"
_USER_AGENT = f"cloudwatch-metrics-client/{_core_version}"
_PROTOBUF = "application/x-protobuf"
_DELTA = 1  # AGGREGATION_TEMPORALITY_DELTA
_RETRYABLE = {429: "Throttling", 502: "BadGateway", 503: "ServiceUnavailable",
              504: "GatewayTimeout"}
_CLOSED = SendOutcome(ok=False, error_code="TransportClosed", message="transport is closed")
_SIGNED = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")

log = logging.getLogger("cwmetrics_transports.otlp")


def _proto() -> Any:
    try:
        from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
        from opentelemetry.proto.common.v1 import common_pb2
        from opentelemetry.proto.metrics.v1 import metrics_pb2
        from opentelemetry.proto.resource.v1 import resource_pb2
    except ImportError:
        require("opentelemetry-proto", "otlp")
    return metrics_service_pb2, common_pb2, metrics_pb2, resource_pb2


def _nanos(seconds: float) -> int:
    return round(seconds * 1e9)


def encode_request(
    request: OtlpRequest, resource: Mapping[str, str] | None = None
) -> bytes:
    """The ``ExportMetricsServiceRequest`` protobuf of a packed request (uncompressed).

    Raises:
        MissingDependencyError: ``opentelemetry-proto`` is not installed.
    """
    service_pb2, common_pb2, _metrics, _resource = _proto()
    KeyValue = common_pb2.KeyValue
    AnyValue = common_pb2.AnyValue
    message = service_pb2.ExportMetricsServiceRequest()
    rm = message.resource_metrics.add()
    if resource:
        rm.resource.attributes.extend(
            [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in resource.items()]
        )
    sm = rm.scope_metrics.add()
    sm.scope.name = request.namespace
    sm.scope.version = SCOPE_VERSION
    metrics: dict[tuple[str, str, bool], Any] = {}
    for point in request.points:
        key = point.key
        unit = ucum_unit(key.unit)
        ident = (key.name, unit, point.is_histogram)
        metric = metrics.get(ident)
        if metric is None:
            metric = metrics[ident] = sm.metrics.add(name=key.name, unit=unit)
            data = metric.exponential_histogram if point.is_histogram else metric.histogram
            data.aggregation_temporality = _DELTA
        attributes = [
            KeyValue(key=n, value=AnyValue(string_value=v)) for n, v in key.dimensions
        ]
        start = _nanos(point.start)
        end = _nanos(point.end)
        hist = point.histogram
        if hist is not None:
            dp = metric.exponential_histogram.data_points.add(
                start_time_unix_nano=start,
                time_unix_nano=end,
                count=hist.count,
                sum=hist.sum,
                scale=hist.scale,
                zero_count=hist.zero_count,
                min=hist.min,
                max=hist.max,
            )
            if hist.positive:
                dp.positive.offset = hist.positive_offset
                dp.positive.bucket_counts.extend(hist.positive)
            if hist.negative:
                dp.negative.offset = hist.negative_offset
                dp.negative.bucket_counts.extend(hist.negative)
        else:
            assert point.statistics is not None
            count, total, low, high = point.statistics
            dp = metric.histogram.data_points.add(
                start_time_unix_nano=start,
                time_unix_nano=end,
                count=count,
                sum=total,
                min=low,
                max=high,
            )
        dp.attributes.extend(attributes)
    return bytes(message.SerializeToString())


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _status_message(body: bytes) -> str:
    """The readable text of an error body (a ``google.rpc.Status`` protobuf carries its
    message as plain UTF-8 inside; control bytes are dropped)."""
    text = body[:1024].decode("utf-8", "replace")
    return "".join(c for c in text if c.isprintable()).strip()[:512]


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


class OtlpTransport(Transport, AsyncTransport):
    """Sends metrics as OTLP/HTTP protobuf: ``send(request)`` and ``await asend(request)``.

    Args:
        endpoint_url: the full OTLP metrics URL (e.g. ``http://127.0.0.1:4318/v1/metrics``
            for the CloudWatch agent or a collector; a URL without a path gets
            ``/v1/metrics``). None: the endpoint the AWS configuration sets for CloudWatch
            (``AWS_ENDPOINT_URL_CLOUDWATCH``, ``AWS_ENDPOINT_URL``, the profile) plus
            ``/v1/metrics``, else ``https://monitoring.<region>.amazonaws.com/v1/metrics``.
        region: the signing region (and the default endpoint's); else ``AWS_REGION``,
            else botocore's (``AWS_DEFAULT_REGION``, the profile).
        sign: sign every request with botocore's SigV4 (service ``monitoring``), with
            credentials from botocore's chain. ``False`` for a collector, the agent, or
            a bearer token passed in ``headers``.
        headers: extra HTTP headers (``{"Authorization": "Bearer ..."}``); signed too.
        resource: resource attributes (``{"service.name": "checkout"}``).
        timeout: total seconds for one send; an expired send returns
            ``error_code="Timeout"`` (retried; it may still have been applied).
        compress: gzip the body (CloudWatch accepts gzip and none).
        max_buckets: buckets per sign of each exponential histogram (see
            :class:`~cwmetrics_core.OtlpSink`).
        allow_insecure_http: allow plain ``http://`` to a host that is not loopback.
        verify: verify TLS certificates, or an ``ssl.SSLContext``.
        credentials: a botocore ``Credentials`` object to sign with instead of the chain.

    Raises:
        MissingDependencyError: httpx, botocore (when signing) or opentelemetry-proto is
            not installed (``pip install 'cloudwatch-metrics-client[otlp]'``).
        InvalidEndpointError / InsecureEndpointError: a bad endpoint.
        TransportError: no region when one is needed; a bad setting.
    """

    wire_format = WireFormat.OTLP

    def __init__(
        self,
        endpoint_url: str | None = None,
        region: str | None = None,
        *,
        sign: bool = True,
        headers: Mapping[str, str] | None = None,
        resource: Mapping[str, str] | None = None,
        timeout: float | None = 10.0,
        compress: bool = True,
        max_buckets: int = 160,
        allow_insecure_http: bool = False,
        verify: bool | ssl.SSLContext = True,
        credentials: Any = None,
    ) -> None:
        try:
            import httpx
        except ImportError:
            require("httpx", "otlp")
        _proto()
        if timeout is not None and not timeout > 0:
            raise TransportError(f"timeout must be > 0 seconds or None, got {timeout!r}")
        session: Any = None
        try:
            import botocore.session

            session = botocore.session.Session()
        except ImportError:
            if sign:
                require("botocore", "otlp")
        if session is not None:
            check_profile(session)
        self.sign = bool(sign)
        found = region or _env("AWS_REGION")
        if not found and session is not None:
            configured = config_variable(session, "region")
            found = configured if isinstance(configured, str) and configured else None
        if endpoint_url is None:
            configured_url = configured_endpoint(session)[0] if session is not None else None
            if configured_url:
                endpoint_url = configured_url
            elif found:
                suffix = "amazonaws.com.cn" if found.startswith("cn-") else "amazonaws.com"
                endpoint_url = f"https://{_SERVICE}.{found}.{suffix}{OTLP_PATH}"
        if endpoint_url is None or (sign and not found):
            raise TransportError(
                "no AWS region: pass region=..., set AWS_DEFAULT_REGION (or AWS_REGION), or "
                "pass endpoint_url= (and sign=False for a collector)"
            )
        checked = check_endpoint(
            endpoint_url, allow_insecure_http=allow_insecure_http, source="endpoint_url="
        )
        if not urlsplit(checked).path:
            checked += OTLP_PATH
        self.endpoint_url: str = checked
        self.region: str | None = found
        self.headers: dict[str, str] = dict(headers or {})
        self.resource: dict[str, str] = dict(resource or {})
        self.timeout = timeout
        self.compress = compress
        self.max_buckets = max_buckets
        self.make_sink(Limits())  # a bad max_buckets raises here
        self._session = session
        self._credentials = credentials
        self._verify = verify
        self._httpx_timeout = httpx.Timeout(timeout)
        self._client: httpx.Client | None = None
        self._aclient: httpx.AsyncClient | None = None
        self._aclient_loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        from ._deadline import Deadline

        self._deadline = Deadline()
        self.closed = False

    def make_sink(self, limits: Limits) -> OtlpSink:
        """An :class:`~cwmetrics_core.OtlpSink` (OTLP's limits, ``max_buckets``)."""
        return OtlpSink(limits, max_buckets=self.max_buckets)

    # ------------------------------------------------------------------ building
    def _frozen_credentials(self) -> Any:
        """botocore's frozen credentials (may do I/O: a refresh); raises CredentialsError."""
        creds = self._credentials
        if creds is None and self._session is not None:
            creds = self._session.get_credentials()
        if creds is None:
            raise CredentialsError(
                "no AWS credentials found (botocore's chain); pass sign=False for a "
                "collector or the agent"
            )
        self._credentials = creds
        return creds.get_frozen_credentials()

    def _credentials_in_time(self) -> Any:
        """:meth:`_frozen_credentials` within the send's deadline: when resolving or
        refreshing may do I/O (IMDS, STS), it runs in a daemon thread that the send stops
        waiting for at the deadline (botocore keeps what it fetches for the next send)."""
        creds = self._credentials
        refresh_needed = getattr(creds, "refresh_needed", None)
        if creds is not None and not (callable(refresh_needed) and refresh_needed()):
            return creds.get_frozen_credentials()
        at = self._deadline.at
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["value"] = self._frozen_credentials()
            except BaseException as exc:  # noqa: BLE001 - handed to the sending thread
                box["error"] = exc

        thread = threading.Thread(target=work, name="cwmetrics-credentials", daemon=True)
        thread.start()
        thread.join(None if at is None else max(0.0, at - time.monotonic()))
        if thread.is_alive():
            raise _CredentialsTimeout(
                f"credentials not resolved within the send's total timeout of {self.timeout} s"
            )
        if "error" in box:
            raise box["error"]
        return box["value"]

    def _prepare(self, request: PutMetricDataRequest) -> tuple[bytes, dict[str, str]]:
        """The body (encoded, compressed) and its unsigned headers."""
        if not isinstance(request, OtlpRequest):
            raise TypeError(f"OtlpTransport got a {request.wire_format.value!r} request")
        body = encode_request(request, self.resource)
        headers = {"Content-Type": _PROTOBUF, "User-Agent": _USER_AGENT, **self.headers}
        if self.compress:
            body = gzip.compress(body, compresslevel=1, mtime=0)
            headers["Content-Encoding"] = "gzip"
        return body, headers

    def _signed(self, body: bytes, headers: dict[str, str], frozen: Any) -> dict[str, str]:
        """``headers`` plus botocore's SigV4 headers over ``body``."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        aws = AWSRequest(method="POST", url=self.endpoint_url, data=body, headers=headers)
        SigV4Auth(frozen, _SERVICE, self.region or "").add_auth(aws)
        out = dict(headers)
        for name in _SIGNED:
            value = aws.headers.get(name)
            if value is not None:
                out[name] = value
        return out

    # ------------------------------------------------------------------ answers
    def _outcome(self, request: PutMetricDataRequest, response: httpx.Response) -> SendOutcome:
        status = response.status_code
        body = response.content
        if 200 <= status < 300:
            return self._accepted(request, status, body, response.headers.get("content-type"))
        if status in _RETRYABLE:
            outcome = SendOutcome(
                ok=False,
                http_status=status,
                error_code=_RETRYABLE[status],
                message=_status_message(body)[:300],
                retry_after=_retry_after(response.headers.get("retry-after")),
            )
        elif status == 400:
            parsed = outcome_from_http(status, dict(response.headers), body)
            code = parsed.error_code
            if error_name(code) not in INVALID_CODES:
                code = "InvalidParameterValue"  # OTLP: the content is bad; bisect it
            outcome = SendOutcome(
                ok=False, http_status=400, error_code=code,
                message=parsed.message or _status_message(body),
            )
        else:
            outcome = outcome_from_http(status, dict(response.headers), body)
        log.debug("OTLP %s points -> %s %s", _points(request), status, outcome.error_code)
        return outcome

    def _accepted(
        self, request: PutMetricDataRequest, status: int, body: bytes, content_type: str | None
    ) -> SendOutcome:
        rejected, message = _partial_success(body, content_type)
        if not rejected and not message:
            return SendOutcome(ok=True, http_status=status)
        points = _points(request)
        share = min(1.0, rejected / points) if points else 1.0
        samples = request.samples * share if rejected else 0.0
        log.warning(
            "OTLP partial success from %s: %d of %d data points rejected (%g samples "
            "dropped): %s",
            self.endpoint_url, rejected, points, samples, message or "(no message)",
        )
        return SendOutcome(
            ok=True, http_status=status, message=message[:512], rejected_samples=samples
        )

    # ------------------------------------------------------------------ sync
    def _blocking_client(self) -> httpx.Client:
        import httpx

        from ._deadline import DeadlineBackend

        with self._lock:
            if self._client is None:
                transport = httpx.HTTPTransport(verify=self._verify)
                pool = getattr(transport, "_pool", None)
                backend = getattr(pool, "_network_backend", None)
                if backend is not None:
                    pool._network_backend = DeadlineBackend(  # type: ignore[union-attr]
                        self._deadline, backend
                    )
                self._client = httpx.Client(timeout=self._httpx_timeout, transport=transport)
            return self._client

    def send(self, request: PutMetricDataRequest) -> SendOutcome:
        """Encode, sign and post one request (blocks); never raises for a failed delivery.

        The whole send (signing's credential refresh, connect, TLS, upload and the whole
        answer) ends within :attr:`timeout`.
        """
        if self.closed:
            return _CLOSED
        deadline = self._deadline
        if self.timeout is not None:
            deadline.total = self.timeout
            deadline.at = time.monotonic() + self.timeout
        try:
            client = self._blocking_client()
            body, headers = self._prepare(request)
            if self.sign:
                headers = self._signed(body, headers, self._credentials_in_time())
            response = client.post(self.endpoint_url, content=body, headers=headers)
        except Exception as exc:  # noqa: BLE001 - failures are data, never raised
            return _failure(exc, self.timeout)
        finally:
            deadline.at = None
        return self._outcome(request, response)

    # ------------------------------------------------------------------ async
    async def _async_client(self) -> httpx.AsyncClient:
        import httpx

        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aclient_loop is not loop:
            self._aclient = await asyncio.to_thread(
                httpx.AsyncClient, timeout=self._httpx_timeout, verify=self._verify
            )
            self._aclient_loop = loop
        return self._aclient

    async def asend(self, request: PutMetricDataRequest) -> SendOutcome:
        """As :meth:`send`, on the event loop; credentials are refreshed and large bodies
        encoded in a worker thread. The whole send is cancelled after :attr:`timeout`."""
        if self.closed:
            return _CLOSED
        try:
            client = await self._async_client()
        except Exception as exc:  # noqa: BLE001
            return _failure(exc, self.timeout)
        if self.timeout is None:
            return await self._asend(client, request)
        try:
            return await asyncio.wait_for(self._asend(client, request), self.timeout)
        except asyncio.TimeoutError:
            return _expired(self.timeout)

    async def _asend(self, client: httpx.AsyncClient, request: PutMetricDataRequest) -> SendOutcome:
        try:
            if len(request) > 100:
                body, headers = await asyncio.to_thread(self._prepare, request)
            else:
                body, headers = self._prepare(request)
            if self.sign:
                frozen = await asyncio.to_thread(self._frozen_credentials)
                headers = self._signed(body, headers, frozen)
            response = await client.post(self.endpoint_url, content=body, headers=headers)
        except Exception as exc:  # noqa: BLE001 - failures are data, never raised
            return _failure(exc, self.timeout)
        return self._outcome(request, response)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the sync client. Idempotent; later sends return ``TransportClosed``."""
        self.closed = True
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close both clients. Idempotent."""
        self.close()
        client, self._aclient = self._aclient, None
        if client is not None and self._aclient_loop is asyncio.get_running_loop():
            await client.aclose()

    def __repr__(self) -> str:
        return f"OtlpTransport(endpoint_url={self.endpoint_url!r}, sign={self.sign})"


def _points(request: PutMetricDataRequest) -> int:
    return len(request.points) if isinstance(request, OtlpRequest) else len(request)


def _partial_success(body: bytes, content_type: str | None) -> tuple[int, str]:
    """``(rejected_data_points, error_message)`` of an export response body."""
    if not body:
        return 0, ""
    if body[:1] == b"{" or (content_type or "").startswith("application/json"):
        import json

        try:
            doc = json.loads(body)
            partial = doc.get("partialSuccess") or doc.get("partial_success") or {}
            rejected = int(partial.get("rejectedDataPoints") or
                           partial.get("rejected_data_points") or 0)
            return rejected, str(partial.get("errorMessage") or
                                 partial.get("error_message") or "")
        except (ValueError, AttributeError, TypeError):
            return 0, ""
    service_pb2 = _proto()[0]
    response = service_pb2.ExportMetricsServiceResponse()
    try:
        response.ParseFromString(body)
    except Exception:  # noqa: BLE001 - an unreadable 2xx body is still a success
        return 0, ""
    partial = response.partial_success
    return int(partial.rejected_data_points), str(partial.error_message)


class _CredentialsTimeout(Exception):
    """Resolving credentials outlived the send's deadline."""


def _expired(timeout: float | None) -> SendOutcome:
    return SendOutcome(
        ok=False,
        error_code="Timeout",
        message=f"no complete answer within the send's total timeout of {timeout} s "
        "(the request may still have been applied)",
    )


def _failure(exc: Exception, timeout: float | None) -> SendOutcome:
    import httpx

    if isinstance(exc, _CredentialsTimeout):
        return SendOutcome(ok=False, error_code="Timeout", message=str(exc))
    if isinstance(exc, CredentialsError):
        return SendOutcome(ok=False, error_code="CredentialsError", message=str(exc)[:512])
    if isinstance(exc, TypeError):
        return SendOutcome(ok=False, error_code="InvalidParameterValue", message=str(exc))
    detail = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, (httpx.ConnectTimeout, httpx.ConnectError)):
        return SendOutcome(ok=False, error_code="NetworkError", message=f"connect: {detail}")
    if isinstance(exc, httpx.TimeoutException):
        return SendOutcome(ok=False, error_code="Timeout", message=detail)
    if isinstance(exc, httpx.HTTPError):
        return SendOutcome(ok=False, error_code="NetworkError", message=detail)
    return SendOutcome(
        ok=False, error_code="TransportError", message=f"unexpected {type(exc).__name__}"
    )
