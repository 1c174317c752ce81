"""HttpxTransport: PutMetricData over raw HTTP with httpx, SigV4-signed, sync and async.

The core already encoded the body (AWS JSON 1.0 by default); this transport adds
compression, the ``User-Agent``, a SigV4 signature over the final bytes, posts it with a
pooled ``httpx.AsyncClient`` (:meth:`HttpxTransport.asend`) or ``httpx.Client``
(:meth:`HttpxTransport.send`) and reports the result as a
:class:`~cwmetrics_core.SendOutcome`. httpx and botocore are imported only when a
transport is built.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cwmetrics_core import PutMetricDataRequest, SendOutcome, WireFormat
from cwmetrics_core import __version__ as _core_version

from ._awsconfig import check_profile, config_variable, configured_endpoint
from ._base import AsyncTransport, Transport
from ._errors import CredentialsError, TransportError, check_endpoint, outcome_from_http, require
from ._signers import BotocoreSigner, Signer, _CredentialsSigner, amz_date_from_epoch

if TYPE_CHECKING:
    import ssl

    import httpx

    from ._deadline import Deadline

__all__ = ["HttpxTransport", "USER_AGENT", "SERVICE"]

#: The ``User-Agent`` sent with every request.
USER_AGENT = f"cloudwatch-metrics-client/{_core_version}"
#: CloudWatch's SigV4 signing name.
SERVICE = "monitoring"

_log = logging.getLogger("cwmetrics_transports.httpx")
_REGION = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_REDACTED = "<redacted>"
#: Bodies at least this large are compressed in a worker thread on the async path, also
#: with a signer of your own (ours sign every compressed body in a worker thread).
_OFFLOAD_BYTES = 128 * 1024
_CLOSED = SendOutcome(ok=False, error_code="TransportClosed", message="transport is closed")
#: The header botocore sends with AWS JSON requests to a query-compatible service
#: (CloudWatch): the service then reports query-protocol error codes.
_QUERY_MODE = ("x-amzn-query-mode", "true")
_JSON_CONTENT_TYPE = "application/x-amz-json-1.0"


def _expired(timeout: float | None) -> SendOutcome:
    return SendOutcome(
        ok=False,
        error_code="Timeout",
        message=f"no complete answer within the send's total timeout of {timeout} s "
        "(the request may still have been applied)",
    )


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _botocore_session() -> Any:
    """A new ``botocore.session.Session`` (the standard configuration), or ``None``
    when botocore is not installed."""
    try:
        import botocore.session
    except ImportError:
        return None
    return botocore.session.Session()


def _default_signer(session: Any) -> Signer:
    if session is None:
        require("botocore", "httpx")
    return BotocoreSigner(session)


def _environment_proxy(url: str) -> str | None:
    """The proxy the environment (``HTTPS_PROXY``, ``NO_PROXY``, ...) sets for ``url``."""
    import urllib.request

    parts = urlsplit(url)
    if urllib.request.proxy_bypass_environment(parts.hostname or ""):  # type: ignore[attr-defined]
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(parts.scheme) or proxies.get("all") or None


def _deadline_client(
    timeout: httpx.Timeout,
    limits: httpx.Limits,
    verify: bool | ssl.SSLContext,
    url: str,
    deadline: Deadline,
) -> httpx.Client:
    """An ``httpx.Client`` whose sockets honour the per-thread total ``deadline``."""
    import httpx

    from ._deadline import DeadlineBackend

    transport = httpx.HTTPTransport(verify=verify, limits=limits, proxy=_environment_proxy(url))
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is None:  # pragma: no cover - guards an httpx/httpcore layout change
        raise TransportError("this httpx/httpcore version has no pluggable network backend")
    pool._network_backend = DeadlineBackend(deadline, backend)  # type: ignore[union-attr]
    return httpx.Client(timeout=timeout, transport=transport)


def _resolve_region(region: str | None, signer: Signer, session: Any) -> str:
    found = region or signer.region or _env("AWS_REGION") or signer.configured_region()
    if not found and session is not None:
        configured = config_variable(session, "region")  # AWS_DEFAULT_REGION, profile
        found = configured if isinstance(configured, str) and configured else None
    if not found:
        raise TransportError(
            "no AWS region: pass region=..., set AWS_DEFAULT_REGION (or AWS_REGION), or "
            "configure a region in your AWS profile"
        )
    if not _REGION.fullmatch(found):
        raise TransportError(f"not an AWS region name: {found!r}")
    return found


def _resolve_endpoint(
    endpoint_url: str | None, region: str, session: Any, allow_insecure_http: bool
) -> str:
    """The checked endpoint: the argument, else the configured one, else the regional."""
    if endpoint_url is not None:
        return check_endpoint(
            endpoint_url, allow_insecure_http=allow_insecure_http, source="endpoint_url="
        )
    if session is not None:
        configured, source = configured_endpoint(session)
        if configured:
            return check_endpoint(
                configured, allow_insecure_http=allow_insecure_http, source=source
            )
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{SERVICE}.{region}.{suffix}"


def _resolve_verify(verify: bool | ssl.SSLContext, session: Any) -> bool | ssl.SSLContext:
    """``verify``, or a context trusting the configured CA bundle (``AWS_CA_BUNDLE``,
    the profile's ``ca_bundle``) when ``verify`` is left at ``True``."""
    if verify is not True or session is None:
        return verify
    bundle = config_variable(session, "ca_bundle")
    if not bundle:
        return verify
    import ssl

    try:
        return ssl.create_default_context(cafile=os.path.expanduser(str(bundle)))
    except (OSError, ssl.SSLError) as exc:
        raise TransportError(
            f"cannot load the CA bundle {bundle!r} (AWS_CA_BUNDLE or the profile's "
            f"ca_bundle): {type(exc).__name__}: {exc}"
        ) from None


#: What httpcore imports lazily, at its first request on an asyncio loop (1.0.x: anyio,
#: through its backend module; anyio then imports its asyncio backend when first used).
_ASYNC_BACKEND_MODULES = ("httpcore._backends.anyio", "anyio._backends._asyncio")


def _import_async_backend() -> None:
    """Import the modules httpcore imports at its first request on an asyncio loop.

    Called from a worker thread: those imports take ~30 ms of CPU, a stall if they run
    on the event loop. A module another httpcore/anyio version lacks is skipped.
    """
    import importlib

    for name in _ASYNC_BACKEND_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _gzip(body: bytes) -> bytes:
    # Level 1: ~5x faster than 6 on a 1 MB body for ~5% larger output.
    return gzip.compress(body, compresslevel=1, mtime=0)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    return text


def _secrets_of(added: dict[str, str]) -> tuple[str, ...]:
    """The values an answer must never echo back: token and signature."""
    signature = added.get("Authorization", "").rpartition("Signature=")[2]
    return tuple(v for v in (added.get("X-Amz-Security-Token"), signature) if v)


def _outcome_from_exception(exc: Exception) -> SendOutcome:
    """Maps an exception raised while signing or sending to a :class:`SendOutcome`."""
    import httpx

    if isinstance(exc, CredentialsError):
        return SendOutcome(ok=False, error_code="CredentialsError", message=str(exc)[:512])
    detail = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, (httpx.ConnectTimeout, httpx.ConnectError)):
        return SendOutcome(ok=False, error_code="NetworkError", message=f"connect: {detail}")
    if isinstance(exc, httpx.TimeoutException):
        return SendOutcome(ok=False, error_code="Timeout", message=detail)
    if isinstance(exc, httpx.DecodingError):
        return SendOutcome(ok=False, error_code="MalformedResponse", message=detail)
    if isinstance(exc, httpx.HTTPError):
        return SendOutcome(ok=False, error_code="NetworkError", message=detail)
    # Our own or a signer's bug: name it, but never print its text (it may hold secrets).
    return SendOutcome(
        ok=False, error_code="TransportError", message=f"unexpected {type(exc).__name__}"
    )


class HttpxTransport(Transport, AsyncTransport):
    """Sends PutMetricData with httpx: ``await asend(request)`` and ``send(request)``.

    One object serves both drivers: :meth:`asend` uses a lazily created
    ``httpx.AsyncClient`` and :meth:`send` a lazily created ``httpx.Client``, each with
    its own connection pool. Failures are returned as
    :class:`~cwmetrics_core.SendOutcome` data; only ``asyncio.CancelledError``,
    ``KeyboardInterrupt`` and ``SystemExit`` propagate.

    The standard AWS configuration is read here, in the constructor, through botocore's
    own loaders (a ``botocore.session.Session``), as a boto3 client would read it:

    * Profile: ``AWS_PROFILE`` / ``AWS_DEFAULT_PROFILE``; a profile that no file defines
      raises :class:`ProfileNotFoundError` at once.
    * Region: ``region``, else the signer's region, else ``AWS_REGION``, else
      botocore's (``AWS_DEFAULT_REGION``, the profile's ``region``).
    * Endpoint: ``endpoint_url``, else botocore's configured endpoint
      (``AWS_ENDPOINT_URL_CLOUDWATCH``, ``AWS_ENDPOINT_URL``, the profile's
      ``[services]`` section, the profile's ``endpoint_url``; none of them when
      ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`` or the profile's
      ``ignore_configured_endpoint_urls``), else
      ``https://monitoring.<region>.amazonaws.com`` (``.amazonaws.com.cn`` in China).
      The endpoint is judged as the HTTP clients parse it (see
      :func:`~cwmetrics_transports.check_endpoint`).
    * CA bundle: ``AWS_CA_BUNDLE`` or the profile's ``ca_bundle``, when ``verify`` is
      left at ``True``.

    botocore (installed by the ``httpx`` extra) signs every request. Only a ``signer``
    of your own can do without it; then only ``region``/``AWS_REGION`` and
    ``endpoint_url`` are read.

    JSON requests carry ``x-amzn-query-mode: true``, as botocore sends them to
    CloudWatch, and JSON error names are reported as their query-protocol codes.

    Args:
        region: The signing region (and the default endpoint's region).
        endpoint_url: The CloudWatch endpoint, e.g. ``http://127.0.0.1:4566``.
        signer: Who signs requests. Default: :class:`BotocoreSigner` on the same
            botocore session (botocore's credential chain).
        timeout: Total seconds for one send: waiting for a pooled connection, connect,
            TLS, upload and the whole answer. A peer that trickles its answer cannot
            stretch it. An expired send returns ``error_code="Timeout"`` (retried by
            the core; the request may still have been applied, so delivery is
            at-least-once). ``None`` waits forever (not recommended).
        gzip_threshold: Bodies longer than this many bytes are sent with
            ``Content-Encoding: gzip`` (``0``: compress every body); ``None`` never
            compresses.
        allow_insecure_http: Allow a plain ``http://`` endpoint that is not loopback.
        max_connections: Connections per pool (each of the sync and async clients).
        keepalive_expiry: Seconds an idle connection is kept for reuse. httpx's default is
            5 s; the default here outlives a 60 s flush interval so flushes reuse the
            TLS connection.
        verify: Verify TLS certificates (``True``: with the configured CA bundle if any,
            else the system's), or an ``ssl.SSLContext`` to verify with (e.g. a private
            CA). ``False`` disables verification: never in production.
        client: An ``httpx.AsyncClient`` to use instead of creating one (its own
            limits and TLS settings apply; it is not closed by :meth:`aclose`). The
            total ``timeout`` still bounds each :meth:`asend`.
        sync_client: An ``httpx.Client`` to use for :meth:`send` (not closed by
            :meth:`close`); its own per-operation timeouts apply instead of the total
            deadline.
        clock: The wall clock the request time (``X-Amz-Date``) is read from, in
            seconds since the epoch (default ``time.time``); the only place this
            transport reads the time of day. Pass a fixed clock to pin signatures in
            tests. (Timeouts run on ``time.monotonic``.)

    Raises:
        MissingDependencyError: httpx, or botocore for the default signer, is not
            installed.
        ProfileNotFoundError: ``AWS_PROFILE`` names a profile that does not exist.
        InvalidEndpointError: a malformed or ambiguous endpoint (userinfo, backslash,
            whitespace...), naming where it was configured.
        InsecureEndpointError: plain ``http://`` to a non-loopback host.
        TransportError: no region, a malformed region, an unloadable CA bundle.
    """

    wire_format = WireFormat.JSON

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        signer: Signer | None = None,
        timeout: float | None = 10.0,
        gzip_threshold: int | None = 4096,
        allow_insecure_http: bool = False,
        max_connections: int = 10,
        keepalive_expiry: float = 120.0,
        verify: bool | ssl.SSLContext = True,
        client: httpx.AsyncClient | None = None,
        sync_client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            import httpx
        except ImportError:
            require("httpx", "httpx")
        if timeout is not None and not timeout > 0:
            raise TransportError(f"timeout must be > 0 seconds or None, got {timeout!r}")
        if gzip_threshold is not None and gzip_threshold < 0:
            raise TransportError(f"gzip_threshold must be >= 0 or None, got {gzip_threshold!r}")
        if max_connections < 1:
            raise TransportError(f"max_connections must be >= 1, got {max_connections!r}")
        if keepalive_expiry < 0:
            raise TransportError(f"keepalive_expiry must be >= 0, got {keepalive_expiry!r}")
        # asyncio.to_thread's first use imports the thread pool's module: here, not on the
        # event loop at the first send.
        import concurrent.futures.thread  # noqa: F401

        session = _botocore_session()
        if session is not None:
            check_profile(session)  # a missing AWS_PROFILE fails here, whatever is passed
        self.signer: Signer = signer if signer is not None else _default_signer(session)
        self.region: str = _resolve_region(region, self.signer, session)
        self.endpoint_url: str = _resolve_endpoint(
            endpoint_url, self.region, session, allow_insecure_http
        )
        has_path = bool(urlsplit(self.endpoint_url).path)
        self._url = self.endpoint_url if has_path else self.endpoint_url + "/"
        self.timeout = timeout
        self.gzip_threshold = gzip_threshold
        self.clock = clock
        self._timeout = httpx.Timeout(timeout)
        self._limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
        )
        self._verify = _resolve_verify(verify, session)
        self._client = client
        self._sync_client = sync_client
        self._owns_client = client is None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._owns_sync_client = sync_client is None
        self._lock = threading.Lock()
        self._closed = False
        from ._deadline import Deadline

        self._deadline = Deadline()

    # ------------------------------------------------------------------ clients

    async def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._owns_client and self._client_loop is not loop:
            # Pooled connections belong to the loop that opened them (e.g. an earlier
            # asyncio.run()); that loop may be gone, so start a fresh pool on this one.
            self._client = None
        if self._client is None:
            # Building the client loads the CA bundle (tens of ms), and httpcore imports its
            # asyncio backend (anyio, ~30 ms) at the first request: neither on the loop.
            client = await asyncio.to_thread(self._new_async_client)
            if self._client is None:
                self._client = client
                self._client_loop = loop
            else:  # another task won the race
                await client.aclose()
        return self._client

    def _new_async_client(self) -> httpx.AsyncClient:
        """A new ``httpx.AsyncClient`` (in a worker thread), with the modules its first
        request would import on the event loop already imported."""
        import httpx

        _import_async_backend()
        return httpx.AsyncClient(timeout=self._timeout, limits=self._limits, verify=self._verify)

    def _blocking_client(self) -> httpx.Client:
        with self._lock:
            if self._sync_client is None:
                self._sync_client = _deadline_client(
                    self._timeout, self._limits, self._verify, self._url, self._deadline
                )
            return self._sync_client

    # ------------------------------------------------------------------ request

    def _compresses(self, body: bytes) -> bool:
        threshold = self.gzip_threshold
        return threshold is not None and len(body) > threshold

    def _build(
        self,
        client: httpx.Client | httpx.AsyncClient,
        request: PutMetricDataRequest,
        body: bytes,
        compressed: bool,
    ) -> tuple[httpx.Request, dict[str, str], str]:
        """Builds the unsigned request; returns it, the headers to sign and the date."""
        headers = dict(request.headers)
        if headers.get("Content-Type") == _JSON_CONTENT_TYPE:
            headers[_QUERY_MODE[0]] = _QUERY_MODE[1]
        headers["User-Agent"] = USER_AGENT
        if compressed:
            headers["Content-Encoding"] = "gzip"
        http_request = client.build_request("POST", self._url, headers=headers, content=body)
        to_sign = {"Host": http_request.headers["Host"], **headers}
        return http_request, to_sign, amz_date_from_epoch(self.clock())

    def _finish(
        self, request: PutMetricDataRequest, response: httpx.Response, secrets: tuple[str, ...]
    ) -> SendOutcome:
        outcome = outcome_from_http(response.status_code, dict(response.headers), response.content)
        if not outcome.ok and secrets:
            scrubbed = _scrub(outcome.message, secrets)
            if scrubbed != outcome.message:
                outcome = SendOutcome(
                    ok=False,
                    http_status=outcome.http_status,
                    error_code=outcome.error_code,
                    message=scrubbed,
                )
        self._log(request, outcome)
        return outcome

    def _fail(self, request: PutMetricDataRequest, exc: Exception) -> SendOutcome:
        outcome = _outcome_from_exception(exc)
        self._log(request, outcome)
        return outcome

    def _log(self, request: PutMetricDataRequest, outcome: SendOutcome) -> None:
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "PutMetricData namespace=%s datums=%d bytes=%d -> %s %s",
                request.namespace,
                len(request.datums),
                len(request.body),
                outcome.http_status,
                "ok" if outcome.ok else outcome.error_code,
            )

    # ------------------------------------------------------------------ sending

    async def asend(self, request: PutMetricDataRequest) -> SendOutcome:
        """Sends one request with the async client, within :attr:`timeout` in total.

        Signing credentials are resolved or refreshed in a worker thread when that needs
        I/O. A compressed body is compressed, built and signed in a worker thread too
        (with the shipped signers; a signer of your own is awaited on the loop, and only
        bodies of 128 KiB or more are compressed off it), so the loop stays free for
        other tasks. The whole send
        (pool wait, connect, TLS, upload, the answer's headers and body) is cancelled
        when ``timeout`` seconds have passed, whatever the peer trickles.

        Args:
            request: The request the core handed out.

        Returns:
            What happened; never raises for a failed delivery. A send past its deadline
            returns ``error_code="Timeout"`` (retryable; it may still have been applied).
        """
        if self._closed:
            return _CLOSED
        try:
            # Building the client (CA bundle loading) is not part of the send's time.
            client = await self._async_client()
        except Exception as exc:  # noqa: BLE001 - failures are data, never raised
            return self._fail(request, exc)
        if self.timeout is None:
            return await self._asend(client, request)
        try:
            return await asyncio.wait_for(self._asend(client, request), self.timeout)
        except asyncio.TimeoutError:
            outcome = _expired(self.timeout)
            self._log(request, outcome)
            return outcome

    def _signed(
        self, client: httpx.Client | httpx.AsyncClient, request: PutMetricDataRequest
    ) -> tuple[httpx.Request, dict[str, str]]:
        """The compressed, built and signed request, and the headers signing added
        (blocking: credential I/O, if any, happens here)."""
        compressed = self._compresses(request.body)
        body = _gzip(request.body) if compressed else request.body
        http_request, to_sign, amz_date = self._build(client, request, body, compressed)
        added = self.signer.sign(
            "POST",
            str(http_request.url),
            to_sign,
            body,
            region=self.region,
            service=SERVICE,
            amz_date=amz_date,
        )
        http_request.headers.update(added)
        return http_request, added

    def _signs_off_loop(self, request: PutMetricDataRequest) -> bool:
        """Whether :meth:`asend` compresses, builds and signs ``request`` in a worker
        thread: a compressed body (about 0.7 ms of CPU for 1000 datums, against 0.1 ms
        for the thread hop), signed by one of our signers (their :meth:`Signer.sign` is
        thread-safe and does in the calling thread what their ``asign`` does in one)."""
        signer = self.signer
        return (
            self._compresses(request.body)
            and isinstance(signer, _CredentialsSigner)
            and type(signer).asign is _CredentialsSigner.asign
        )

    async def _asend(self, client: httpx.AsyncClient, request: PutMetricDataRequest) -> SendOutcome:
        if self._signs_off_loop(request):
            try:
                http_request, added = await asyncio.to_thread(self._signed, client, request)
                response = await client.send(http_request)
            except Exception as exc:  # noqa: BLE001 - failures are data, never raised
                return self._fail(request, exc)
            return self._finish(request, response, _secrets_of(added))
        try:
            body = request.body
            compressed = self._compresses(body)
            if compressed:
                # zlib releases the GIL: keep a large body's ~10 ms off the event loop.
                if len(body) >= _OFFLOAD_BYTES:
                    body = await asyncio.to_thread(_gzip, body)
                else:
                    body = _gzip(body)
            http_request, to_sign, amz_date = self._build(client, request, body, compressed)
            added = await self.signer.asign(
                "POST",
                str(http_request.url),
                to_sign,
                body,
                region=self.region,
                service=SERVICE,
                amz_date=amz_date,
            )
            http_request.headers.update(added)
            response = await client.send(http_request)
        except Exception as exc:  # noqa: BLE001 - failures are data, never raised
            return self._fail(request, exc)
        return self._finish(request, response, _secrets_of(added))

    def send(self, request: PutMetricDataRequest) -> SendOutcome:
        """Sends one request with the sync client (blocks the calling thread).

        With the client this transport creates, every connect, TLS handshake, read and
        write waits at most for the time left of :attr:`timeout` (counted from the call),
        so the send returns within ``timeout`` in total even when the peer trickles its
        answer; the connection is then closed. (A ``sync_client=`` of yours keeps its
        own, per-operation, timeouts.)

        Args:
            request: The request the core handed out.

        Returns:
            What happened; never raises for a failed delivery. A send past its deadline
            returns ``error_code="Timeout"`` (retryable; it may still have been applied).
        """
        if self._closed:
            return _CLOSED
        try:
            # Building the client (CA bundle loading) is not part of the send's time.
            client = self._blocking_client()
        except Exception as exc:  # noqa: BLE001 - failures are data, never raised
            return self._fail(request, exc)
        deadline = self._deadline
        if self.timeout is not None:
            deadline.total = self.timeout
            deadline.at = time.monotonic() + self.timeout
        try:
            http_request, added = self._signed(client, request)
            response = client.send(http_request)
        except Exception as exc:  # noqa: BLE001 - failures are data, never raised
            return self._fail(request, exc)
        finally:
            deadline.at = None
        return self._finish(request, response, _secrets_of(added))

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Closes the sync client if this transport created it. Idempotent.

        Later sends return ``error_code="TransportClosed"``. In async code use
        :meth:`aclose`, which also closes the async client.
        """
        self._closed = True
        with self._lock:
            client, self._sync_client = self._sync_client, None
        if client is not None and self._owns_sync_client:
            client.close()

    async def aclose(self) -> None:
        """Closes the clients this transport created (async and sync). Idempotent."""
        self.close()
        client, self._client = self._client, None
        # A client from another (maybe closed) event loop cannot be awaited here.
        owned = client is not None and self._owns_client
        if owned and client is not None and self._client_loop is asyncio.get_running_loop():
            await client.aclose()

    def __enter__(self) -> HttpxTransport:
        return self

    async def __aenter__(self) -> HttpxTransport:
        return self

    def __repr__(self) -> str:
        return (
            f"HttpxTransport(endpoint_url={self.endpoint_url!r}, region={self.region!r}, "
            f"signer={self.signer!r})"
        )
