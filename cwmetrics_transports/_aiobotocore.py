"""The aiobotocore/aioboto3 transport (async), on the botocore helpers of ``_boto3.py``.

aiobotocore is imported lazily, never by importing this module.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any

from cwmetrics_core import PutMetricDataRequest, SendOutcome, WireFormat

from ._base import AsyncTransport
from ._boto3 import (
    _DEFAULT_TIMEOUT,
    _NO_CREDENTIALS,
    _check_client_endpoint,
    _check_endpoints,
    _check_timeout,
    _client_config,
    _construction_error,
    _expired,
    _factory,
    _is_async_client,
    _is_client,
    _is_unsigned,
    _not_a_client,
    _outcome_from_response,
    _scrub_client_secrets,
    outcome_from_exception,
    wire_format_for_client,
)
from ._errors import CredentialsError, TransportError, require

if TYPE_CHECKING:
    from botocore.config import Config

__all__ = ["AioBotocoreTransport"]


class AioBotocoreTransport(AsyncTransport):
    """Send with an aiobotocore/aioboto3 CloudWatch client, on the event loop.

    Wraps a client you have already entered (``async with session.create_client(...)
    as client``); :meth:`aclose` leaves it open. To let the transport own the client,
    use :meth:`create`, which builds it with retries turned down, and closes it in
    :meth:`aclose`.

    Args:
        client: an entered aiobotocore (or aioboto3) CloudWatch client.
        wire_format: override the encoding the core measures in (default: derived from
            the client's protocol; aioboto3 15.5 pins botocore 1.40, which speaks query).
        timeout: total seconds for one send (``asyncio.wait_for`` around the call, which
            cancels it and closes its connection); past it :meth:`asend` returns
            ``error_code="Timeout"`` (retried; the request may still have been
            applied). ``None``: the client's own timeouts only.

    Raises:
        TypeError: ``client`` is not an async CloudWatch client.
        ValueError: ``timeout`` is not a positive number.
    """

    def __init__(
        self,
        client: Any,
        *,
        wire_format: WireFormat | None = None,
        timeout: float | None = _DEFAULT_TIMEOUT,
    ) -> None:
        if timeout is not None:
            _check_timeout(timeout)
        self.timeout = None if timeout is None else float(timeout)
        if not _is_async_client(client):
            raise (
                TypeError("a sync boto3/botocore client needs Boto3Transport (or ToThread)")
                if _is_client(client)
                else _not_a_client(client)
            )
        self._client: Any = client
        self._context: Any = None
        self.wire_format = (
            WireFormat(wire_format) if wire_format is not None
            else wire_format_for_client(client)
        )  # fmt: skip

    @classmethod
    async def create(
        cls,
        session: Any = None,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        max_attempts: int = 1,
        timeout: float = _DEFAULT_TIMEOUT,
        max_pool_connections: int = 10,
        config: Config | None = None,
        allow_insecure_http: bool = False,
    ) -> AioBotocoreTransport:
        """Build a CloudWatch client that the returned transport owns.

        Same defaults as :class:`Boto3Transport` (one attempt, timeouts, pool size,
        region, credentials and endpoint from the environment). The service model is
        loaded in a worker thread (``warm_up_loader_caches``), not on the event loop.
        ``transport = await AioBotocoreTransport.create(); ...; await transport.aclose()``.

        Args:
            session: an ``aiobotocore.session.AioSession`` or ``aioboto3.Session``
                (default: ``aiobotocore.session.get_session()``).
            region: the client's region (default: the standard configuration).
            endpoint_url: the client's endpoint (default: botocore's resolution).
            max_attempts: total HTTP attempts per send inside aiobotocore.
            timeout: total seconds for one send, and the client's read timeout; the
                connect timeout is ``min(timeout, 5)``.
            max_pool_connections: connection pool size.
            config: a ``botocore.config.Config``/``AioConfig`` merged over the defaults.
            allow_insecure_http: permit a plain ``http://`` endpoint on a non-loopback host.

        Returns:
            The transport; call :meth:`aclose` to close the client.

        Raises:
            MissingDependencyError: aiobotocore is not installed.
            CredentialsError: the credential chain found no credentials.
            ProfileNotFoundError: the session's profile does not exist.
            InvalidEndpointError: a malformed or ambiguous endpoint, naming its source.
            InsecureEndpointError: the resolved endpoint is ``http://`` to a remote host.
            TransportError: no region or another configuration error.
            TypeError: ``session`` is not an aiobotocore/aioboto3 session.
        """
        try:
            from aiobotocore.config import AioConfig  # type: ignore[import-untyped,unused-ignore]
            from aiobotocore.session import (  # type: ignore[import-untyped,unused-ignore]
                get_session,
            )
            from botocore.exceptions import BotoCoreError
        except ImportError:
            require("aiobotocore", "aiobotocore")
            raise
        merged = _client_config(
            AioConfig, config, max_attempts, timeout, max_pool_connections,
            warm_up_loader_caches=True,
        )  # fmt: skip
        if session is None:
            session = get_session()
        try:
            endpoint_url = _check_endpoints(session, endpoint_url, merged, allow_insecure_http)
        except BotoCoreError as exc:
            raise _construction_error(exc) from None
        factory = _factory(session, "create_client", "client")  # aiobotocore or aioboto3
        try:
            if not _is_unsigned(merged):
                credentials = session.get_credentials()
                if inspect.isawaitable(credentials):
                    credentials = await credentials
                if credentials is None:
                    raise CredentialsError(_NO_CREDENTIALS)
            context = factory(
                "cloudwatch", region_name=region, endpoint_url=endpoint_url, config=merged
            )
            client = await context.__aenter__()
        except BotoCoreError as exc:
            raise _construction_error(exc) from None
        transport = cls(client, timeout=timeout)
        transport._context = context
        try:
            _check_client_endpoint(client, allow_insecure_http)
        except TransportError:
            await transport.aclose()
            raise
        return transport

    @property
    def client(self) -> Any:
        """The aiobotocore/aioboto3 client in use."""
        return self._client

    async def asend(self, request: PutMetricDataRequest) -> SendOutcome:
        """Await ``put_metric_data(**request.params)``; never raises for a failed send.

        Cancellation (``asyncio.CancelledError``) propagates, so the driver can mark the
        batch as abandoned.

        Args:
            request: the request from the core.

        Returns:
            ``ok=True`` with the HTTP status, or the failure classified by
            :func:`outcome_from_exception`.
        """
        try:
            call = self._client.put_metric_data(**request.params)
            if self.timeout is None:
                response = await call
            else:
                response = await asyncio.wait_for(call, self.timeout)
        except asyncio.TimeoutError:
            return _expired(self.timeout)
        except Exception as exc:  # noqa: BLE001 - every failure is data for the core
            return _scrub_client_secrets(outcome_from_exception(exc), self._client)
        return _outcome_from_response(response)

    async def aclose(self) -> None:
        """Close the client if :meth:`create` built it (idempotent)."""
        context, self._context = self._context, None
        if context is not None:
            await context.__aexit__(None, None, None)

    def __repr__(self) -> str:
        meta = getattr(self._client, "meta", None)
        return (
            f"AioBotocoreTransport(region={getattr(meta, 'region_name', None)!r}, "
            f"endpoint_url={getattr(meta, 'endpoint_url', None)!r}, "
            f"wire_format={self.wire_format.value!r}, owns_client={self._context is not None})"
        )
