"""The boto3/botocore transport (sync), the helpers it shares with the aiobotocore one
(``_aiobotocore.py``), and the ``with_client()`` adapters.

Both call ``put_metric_data(**request.params)`` and report failures as
:class:`~cwmetrics_core.SendOutcome` data (:func:`outcome_from_exception`). Clients built
here make one HTTP attempt per send: the core retries, and stacked retries multiply
delays. The wire format follows the client's protocol (:func:`wire_format_for_client`).
boto3, botocore and aiobotocore are imported lazily, never by importing this module.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import sys
import threading
from functools import lru_cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from cwmetrics_core import PutMetricDataRequest, SendOutcome, WireFormat

from ._awsconfig import botocore_session_of, check_profile, configured_endpoint
from ._base import AsyncTransport, ToThread, Transport
from ._errors import (
    CredentialsError,
    ProfileNotFoundError,
    TransportError,
    check_endpoint,
    query_error_code,
    require,
)

if TYPE_CHECKING:
    from botocore.config import Config

__all__ = [
    "Boto3Transport",
    "async_transport_for",
    "outcome_from_exception",
    "transport_for_client",
    "wire_format_for_client",
]

#: Botocore protocol name -> the encoding the core must measure.
_PROTOCOL_WIRE_FORMATS: dict[str, WireFormat] = {
    "json": WireFormat.BOTOCORE_JSON,
    "query": WireFormat.QUERY,
    # No CBOR encoder in the core; see wire_format_for_client() for the caveat.
    "smithy-rpc-v2-cbor": WireFormat.BOTOCORE_JSON,
}

_DEFAULT_TIMEOUT = 20.0
_MAX_CONNECT_TIMEOUT = 5.0
_MAX_MESSAGE = 512


# ---------------------------------------------------------------------------- helpers


def wire_format_for_client(client: Any) -> WireFormat:
    """The encoding ``client`` puts on the wire for PutMetricData.

    Reads ``client.meta.service_model.resolved_protocol`` (the protocol botocore actually
    speaks; botocore >= 1.43 picks ``"json"`` from CloudWatch's ``protocols`` list) or,
    on older botocore, ``.protocol`` (``"query"`` on botocore <= 1.40, e.g. aioboto3 15.5).

    ``"smithy-rpc-v2-cbor"``, unknown protocols and clients without a service model map to
    :attr:`WireFormat.BOTOCORE_JSON`. For CBOR that is *not* an upper bound: botocore
    writes each float as a 9-byte double, so short values (``1.0``) take up to ~1.8x the
    JSON size; a request over 1 MB gets HTTP 413 and the core bisects it.

    Args:
        client: a boto3/botocore/aiobotocore CloudWatch client (or a look-alike).

    Returns:
        The :class:`~cwmetrics_core.WireFormat` to configure the core with.
    """
    model = getattr(getattr(client, "meta", None), "service_model", None)
    protocol = getattr(model, "resolved_protocol", None)
    if not isinstance(protocol, str):
        protocol = getattr(model, "protocol", None)
    if isinstance(protocol, str):
        return _PROTOCOL_WIRE_FORMATS.get(protocol, WireFormat.BOTOCORE_JSON)
    return WireFormat.BOTOCORE_JSON


_REDACTIONS = (
    # Credential-bearing fields in headers, query strings, config dumps and reprs.
    (
        re.compile(
            r"(?i)\b(x-amz-security-token|x-amz-signature|signature|credential|"
            r"aws_secret_access_key|aws_session_token|secret_?access_?key|session_?token|"
            r"security_?token|secret_?key|password|authorization)(['\"]?\s*[=:]\s*['\"]?)"
            r"[^\s,;&'\"]+"
        ),
        r"\1\2<redacted>",
    ),
    (re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA|AGPA|ANPA)[A-Z0-9]{12,}\b"), "<redacted>"),
    (re.compile(r"(://)[^@\s]+@"), r"\1<redacted>@"),
)


def _sanitise(message: object) -> str:
    """One short line without credentials: first paragraph, redacted, capped."""
    text = str(message).split("\n\n", 1)[0]
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


_SIGNATURE = re.compile(r"\b[0-9a-f]{64}\b")


def _scrub_client_secrets(outcome: SendOutcome, client: Any) -> SendOutcome:
    """Remove the client's own secret key, session token and any SigV4 signature from a
    failure message, however the service echoed them (patterns alone miss bare tokens).

    Reads the credentials the client already holds, without refreshing them (no I/O).
    """
    if outcome.ok or not outcome.message:
        return outcome
    creds = getattr(getattr(client, "_request_signer", None), "_credentials", None)
    held = vars(creds) if creds is not None and hasattr(creds, "__dict__") else {}
    text = _SIGNATURE.sub("<redacted>", outcome.message)
    for name in ("_token", "token", "_secret_key", "secret_key"):
        secret = held.get(name)
        if isinstance(secret, str) and len(secret) >= 8:
            text = text.replace(secret, "<redacted>")
    if text == outcome.message:
        return outcome
    return SendOutcome(False, outcome.http_status, outcome.error_code, text)


@lru_cache(maxsize=1)
def _botocore_errors() -> SimpleNamespace | None:
    """botocore's exception classes, grouped for :func:`outcome_from_exception`."""
    try:
        from botocore import exceptions as e
    except ImportError:
        return None
    names = [
        "NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError",
        "UnknownCredentialError", "RefreshWithMFAUnsupportedError", "MetadataRetrievalError",
        "TokenRetrievalError", "NoAuthTokenError", "SSOError", "LoginError",
    ]  # fmt: skip
    credentials = tuple(c for n in names if isinstance(c := getattr(e, n, None), type))
    return SimpleNamespace(
        client=e.ClientError,
        validation=e.ParamValidationError,
        read_timeout=e.ReadTimeoutError,
        credentials=credentials,
        botocore=e.BotoCoreError,
    )


def outcome_from_exception(exc: BaseException) -> SendOutcome:
    """Classify an exception raised by an SDK ``put_metric_data`` call as data.

    * ``ClientError``: the service's error code and HTTP status; a JSON error name
      is reported as its query-protocol code (``MissingRequiredParameterException`` ->
      ``MissingParameter``, see :func:`~cwmetrics_transports.query_error_code`), as
      botocore does when the service sends ``x-amzn-query-error``.
    * ``ReadTimeoutError`` and builtin ``TimeoutError``: ``"Timeout"``.
    * ``NoCredentialsError``, ``PartialCredentialsError``, credential/token/SSO retrieval
      errors: ``"CredentialsError"``.
    * ``ParamValidationError``: ``"InvalidParameterValue"`` with status 400 (the core
      bisects the batch to isolate the bad datum).
    * ``EndpointConnectionError``, ``ConnectionClosedError``, ``ConnectTimeoutError``,
      any other ``BotoCoreError`` and builtin ``OSError``: ``"NetworkError"``.
    * Anything else (a bug, a broken client): ``"ClientException"``.

    Messages are one line of at most 512 characters, with credential-looking fields
    redacted and everything after the first blank line (e.g. the canonical request in a
    ``SignatureDoesNotMatch`` message) removed.

    Args:
        exc: the exception.

    Returns:
        A failed :class:`~cwmetrics_core.SendOutcome`.
    """
    errors = _botocore_errors()
    if errors is not None:
        if isinstance(exc, errors.client):
            response: Any = getattr(exc, "response", None)
            response = response if isinstance(response, dict) else {}
            error = response.get("Error") or {}
            metadata = response.get("ResponseMetadata") or {}
            status = metadata.get("HTTPStatusCode")
            status = status if isinstance(status, int) else None
            code = error.get("Code")
            if not isinstance(code, str) or not code:
                code = f"HttpError{status}" if status is not None else "ClientError"
            code = query_error_code(code)
            message = error.get("Message") or str(exc)
            return SendOutcome(False, status, code, _sanitise(message))
        if isinstance(exc, errors.validation):
            return SendOutcome(False, 400, "InvalidParameterValue", _sanitise(exc))
        if isinstance(exc, errors.read_timeout):
            return SendOutcome(False, None, "Timeout", _sanitise(exc))
        if isinstance(exc, errors.credentials):
            return SendOutcome(False, None, "CredentialsError", _sanitise(exc))
        if isinstance(exc, errors.botocore):
            return SendOutcome(False, None, "NetworkError", _sanitise(exc))
    message = _sanitise(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return SendOutcome(False, None, "Timeout", message)
    if isinstance(exc, OSError):
        return SendOutcome(False, None, "NetworkError", message)
    return SendOutcome(False, None, "ClientException", message)


def _outcome_from_response(response: object) -> SendOutcome:
    metadata = response.get("ResponseMetadata") if isinstance(response, dict) else None
    status = metadata.get("HTTPStatusCode") if isinstance(metadata, dict) else None
    return SendOutcome(True, status if isinstance(status, int) else None)


def _check_timeout(timeout: object) -> None:
    if not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")


def _expired(timeout: float | None) -> SendOutcome:
    """A send that did not finish within its total deadline (retryable)."""
    return SendOutcome(
        False, None, "Timeout",
        f"no complete answer within the send's total timeout of {timeout} s (the request "
        "may still have been applied)",
    )  # fmt: skip


def _client_config(
    config_cls: Any,
    config: Config | None,
    max_attempts: int,
    timeout: float,
    max_pool_connections: int,
    **extra: Any,
) -> Any:
    """Our client defaults as ``config_cls`` (Config or AioConfig), ``config`` merged over."""
    if type(max_attempts) is not int or max_attempts < 1:
        raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
    _check_timeout(timeout)
    if type(max_pool_connections) is not int or max_pool_connections < 1:
        raise ValueError(f"max_pool_connections must be an int >= 1, got {max_pool_connections!r}")
    ours = config_cls(
        # total_max_attempts counts the first attempt; retries={"max_attempts": 1} would
        # mean one *retry* (two attempts).
        retries={"total_max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=min(float(timeout), _MAX_CONNECT_TIMEOUT),
        read_timeout=float(timeout),
        max_pool_connections=max_pool_connections,
        **extra,
    )
    return ours if config is None else ours.merge(config)


def _is_unsigned(config: Any) -> bool:
    from botocore import UNSIGNED

    return getattr(config, "signature_version", None) is UNSIGNED


_NO_CREDENTIALS = (
    "no AWS credentials found (environment, shared config/credentials files, SSO, "
    "container or instance metadata); configure them, or pass a client"
)


def _construction_error(exc: Exception) -> TransportError:
    from botocore.exceptions import NoRegionError, ProfileNotFound

    if isinstance(exc, ProfileNotFound):
        return ProfileNotFoundError(str(getattr(exc, "kwargs", {}).get("profile")))
    if isinstance(exc, NoRegionError):
        return TransportError(
            "no AWS region configured: pass region=..., or set AWS_REGION / "
            "AWS_DEFAULT_REGION or a region in the AWS config file"
        )
    outcome = outcome_from_exception(exc)
    if outcome.error_code == "CredentialsError":
        return CredentialsError(f"cannot load AWS credentials: {outcome.message}")
    return TransportError(f"cannot create the CloudWatch client: {outcome.message}")


def _factory(session: Any, *names: str) -> Any:
    """The session's client factory: the first of ``names`` it has."""
    for name in names:
        factory = getattr(session, name, None)
        if callable(factory):
            return factory
    raise TypeError(f"expected an AWS SDK session, got {type(session).__name__}")


def _check_endpoints(
    session: Any, endpoint_url: str | None, config: Any, allow_insecure_http: bool
) -> str | None:
    """Judge the endpoint the client will use before it is built; returns the argument
    checked (``None``: botocore resolves the configured or regional endpoint).

    Raises:
        ProfileNotFoundError: the session's profile does not exist.
        InvalidEndpointError: the argument or the configured endpoint (environment,
            profile, ``[services]`` section) is malformed or ambiguous.
        InsecureEndpointError: it is plain ``http://`` to a non-loopback host.
    """
    if endpoint_url is not None:
        return check_endpoint(
            endpoint_url, allow_insecure_http=allow_insecure_http, source="endpoint_url="
        )
    ignore = getattr(config, "ignore_configured_endpoint_urls", None)
    url, source = configured_endpoint(botocore_session_of(session), ignore=ignore)
    if url is not None:
        check_endpoint(url, allow_insecure_http=allow_insecure_http, source=source)
    return None


def _check_client_endpoint(client: Any, allow_insecure_http: bool) -> None:
    url = getattr(client.meta, "endpoint_url", None)
    if isinstance(url, str):
        check_endpoint(
            url, allow_insecure_http=allow_insecure_http, source="the client botocore built"
        )


def _is_async_client(client: object) -> bool:
    """True for aiobotocore/aioboto3 clients and look-alikes with a coroutine method.

    aiobotocore 3.x generates ``put_metric_data`` as a plain function returning a
    coroutine (only ``_make_api_call`` is ``async def``), so both are checked.
    """
    if inspect.iscoroutinefunction(getattr(client, "put_metric_data", None)):
        return True
    if inspect.iscoroutinefunction(getattr(client, "_make_api_call", None)):
        return True
    aio_client = sys.modules.get("aiobotocore.client")
    base = getattr(aio_client, "AioBaseClient", None)
    return isinstance(base, type) and isinstance(client, base)


def _is_client(client: object) -> bool:
    return callable(getattr(client, "put_metric_data", None))


_ACCEPTED = (
    "a cwmetrics Transport/AsyncTransport, a boto3/botocore CloudWatch client "
    "(boto3.client('cloudwatch')), or an entered aiobotocore/aioboto3 CloudWatch client"
)


def _not_a_client(client: object) -> TypeError:
    hint = ""
    if hasattr(client, "__aenter__"):
        hint = (
            "; this looks like an un-entered client context: use "
            "'async with session.create_client(\"cloudwatch\") as client'"
        )
    elif callable(getattr(client, "client", None)) or callable(
        getattr(client, "create_client", None)
    ):
        hint = "; this looks like a session: pass session.client('cloudwatch')"
    return TypeError(f"expected {_ACCEPTED}, got {type(client).__name__}{hint}")


def _import_boto3() -> Any:
    """botocore's ``Config`` class, after checking that boto3 is installed."""
    try:
        import boto3  # noqa: F401
        from botocore.config import Config
    except ImportError:
        require("boto3", "boto3")
        raise
    return Config


def _boto3_session(session: Any) -> Any:
    """``session``, or a new ``boto3.Session()``; its profile checked.

    Raises:
        ProfileNotFoundError: the profile (``AWS_PROFILE``) does not exist.
    """
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        if session is None:
            session = boto3.Session()
    except BotoCoreError as exc:
        raise _construction_error(exc) from None
    check_profile(botocore_session_of(session))
    return session


def _build_client(session: Any, region: str | None, endpoint_url: str | None, config: Any) -> Any:
    from botocore.exceptions import BotoCoreError

    try:
        if not _is_unsigned(config) and session.get_credentials() is None:
            raise CredentialsError(_NO_CREDENTIALS)
        factory = _factory(session, "client", "create_client")  # boto3 or botocore session
        return factory("cloudwatch", region_name=region, endpoint_url=endpoint_url, config=config)
    except BotoCoreError as exc:
        raise _construction_error(exc) from None


# ---------------------------------------------------------------------------- sync


class Boto3Transport(Transport):
    """Send with a boto3/botocore CloudWatch client (sync; wrap in ToThread for asyncio).

    With ``client``, that client is used as configured (its retries, timeouts, endpoint)
    and :meth:`close` leaves it open: it is yours. Without, a client is built now from
    the standard AWS configuration: the credential chain, the region from ``region`` or
    the environment/config file, ``AWS_ENDPOINT_URL_CLOUDWATCH``/``AWS_ENDPOINT_URL``
    and the profile's ``endpoint_url``/``[services]`` section (honoured by botocore),
    with botocore's retries turned down to ``max_attempts`` in total, timeouts, and a
    connection pool; :meth:`close` closes it. Before the client is built, its endpoint
    (from whichever source) is judged as urllib3 will parse it
    (:func:`~cwmetrics_transports.check_endpoint`).

    Every send, with a built or a given client, ends within ``timeout`` seconds in
    total: the call runs in a daemon worker thread and :meth:`send` waits for it at
    most ``timeout``; past that it returns ``error_code="Timeout"`` (retried by the
    core; the request may still have been applied: delivery is at-least-once). The
    abandoned call ends by itself (botocore's own read timeout); while
    ``max_pool_connections`` of them are still running, sends fail at once with
    ``NetworkError`` instead of starting more.

    Args:
        client: an existing boto3/botocore CloudWatch client, or None to build one.
        region: region of the built client (default: the standard configuration).
        endpoint_url: endpoint of the built client (default: botocore's resolution,
            including ``AWS_ENDPOINT_URL_CLOUDWATCH``).
        session: a ``boto3.Session`` or ``botocore.session.Session`` to build the client
            from (default: ``boto3.Session()``, reading the environment now).
        max_attempts: total HTTP attempts per send inside botocore (1: the core retries).
        timeout: total seconds for one send; also the built client's read timeout (the
            connect timeout is ``min(timeout, 5)``).
        max_pool_connections: connection pool size of the built client, and the
            number of abandoned (timed-out) calls allowed to run on.
        config: a ``botocore.config.Config`` merged over the defaults above (its values
            win, including ``retries``).
        allow_insecure_http: permit a plain ``http://`` endpoint on a non-loopback host.
        wire_format: override the encoding the core measures in (default: derived from
            the client's protocol, see :func:`wire_format_for_client`).

    Raises:
        TypeError: ``client`` is not a sync CloudWatch client, or it is combined with
            options that only apply to a built client.
        MissingDependencyError: boto3 is not installed (only when building a client).
        CredentialsError: the credential chain found no credentials.
        ProfileNotFoundError: ``AWS_PROFILE`` (or the session) names a missing profile.
        InvalidEndpointError: a malformed or ambiguous endpoint (userinfo, backslash,
            whitespace...), naming where it was configured.
        InsecureEndpointError: the resolved endpoint is ``http://`` to a remote host.
        TransportError: no region or another configuration error.
        ValueError: ``max_attempts``, ``timeout`` or ``max_pool_connections`` out of range.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: Any = None,
        max_attempts: int = 1,
        timeout: float = _DEFAULT_TIMEOUT,
        max_pool_connections: int = 10,
        config: Config | None = None,
        allow_insecure_http: bool = False,
        wire_format: WireFormat | None = None,
    ) -> None:
        self._closed = False
        _check_timeout(timeout)
        self.timeout = float(timeout)
        self._stuck_lock = threading.Lock()
        self._stuck = 0
        self._max_stuck = max_pool_connections if type(max_pool_connections) is int else 10
        if client is not None:
            if (region, endpoint_url, session, config) != (None, None, None, None):
                raise TypeError(
                    "region, endpoint_url, session and config configure a client built "
                    "by Boto3Transport; they cannot be combined with client="
                )
            if _is_async_client(client):
                raise TypeError(
                    "an aiobotocore/aioboto3 client needs AioBotocoreTransport "
                    "(or transport_for_client())"
                )
            if not _is_client(client):
                raise _not_a_client(client)
            self._client: Any = client
            self._owns_client = False
        else:
            merged = _client_config(
                _import_boto3(), config, max_attempts, timeout, max_pool_connections
            )
            session = _boto3_session(session)
            endpoint_url = _check_endpoints(session, endpoint_url, merged, allow_insecure_http)
            self._client = _build_client(session, region, endpoint_url, merged)
            self._owns_client = True
            try:
                _check_client_endpoint(self._client, allow_insecure_http)
            except TransportError:
                self._client.close()
                raise
        self.wire_format = (
            WireFormat(wire_format) if wire_format is not None
            else wire_format_for_client(self._client)
        )  # fmt: skip

    @property
    def client(self) -> Any:
        """The boto3/botocore client in use (e.g. for ``botocore.stub.Stubber``)."""
        return self._client

    def send(self, request: PutMetricDataRequest) -> SendOutcome:
        """Call ``put_metric_data(**request.params)``; never raises for a failed send.

        Args:
            request: the request from the core.

        Returns:
            ``ok=True`` with the HTTP status, or the failure classified by
            :func:`outcome_from_exception`.
        """
        with self._stuck_lock:
            stuck = self._stuck
        if stuck >= self._max_stuck:
            return SendOutcome(
                False, None, "NetworkError",
                f"{stuck} earlier sends are still waiting for the endpoint past their "
                "deadline; not sending more until they end",
            )  # fmt: skip
        done = threading.Event()
        result: list[SendOutcome] = []
        raised: list[BaseException] = []
        abandoned = [False]

        def work() -> None:
            try:
                response = self._client.put_metric_data(**request.params)
            except Exception as exc:  # noqa: BLE001 - every failure is data for the core
                result.append(_scrub_client_secrets(outcome_from_exception(exc), self._client))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                raised.append(exc)
            else:
                result.append(_outcome_from_response(response))
            finally:
                with self._stuck_lock:
                    done.set()
                    if abandoned[0]:
                        self._stuck -= 1

        try:
            threading.Thread(target=work, name="cwmetrics-boto3-send", daemon=True).start()
        except RuntimeError:
            # "can't create new thread at interpreter shutdown" (Python >= 3.12, in an exit
            # hook): send from this thread, bounded by botocore's own per-read timeouts.
            work()
        if not done.wait(self.timeout):
            with self._stuck_lock:
                if not done.is_set():
                    abandoned[0] = True
                    self._stuck += 1
                    return _expired(self.timeout)
        if raised:
            raise raised[0]
        return result[0]

    def close(self) -> None:
        """Close the client if this transport built it (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client:
            self._client.close()

    def __repr__(self) -> str:
        meta = getattr(self._client, "meta", None)
        return (
            f"Boto3Transport(region={getattr(meta, 'region_name', None)!r}, "
            f"endpoint_url={getattr(meta, 'endpoint_url', None)!r}, "
            f"wire_format={self.wire_format.value!r}, owns_client={self._owns_client})"
        )


# ---------------------------------------------------------------------------- adapters


def transport_for_client(client: object) -> Transport | AsyncTransport:
    """Adapt what a user hands to ``.with_client(...)`` to a transport.

    Args:
        client: one of our transports (returned as is), an entered aiobotocore/aioboto3
            CloudWatch client (-> :class:`AioBotocoreTransport`), or a boto3/botocore
            CloudWatch client (-> :class:`Boto3Transport`).

    Returns:
        The transport.

    Raises:
        TypeError: anything else (the message says what is accepted).
    """
    if isinstance(client, (Transport, AsyncTransport)):
        return client
    if _is_async_client(client):
        from ._aiobotocore import AioBotocoreTransport  # the two modules import each other

        return AioBotocoreTransport(client)
    if _is_client(client):
        return Boto3Transport(client)
    raise _not_a_client(client)


def async_transport_for(client: object) -> AsyncTransport:
    """Like :func:`transport_for_client`, for the async API.

    Sync transports and sync clients are wrapped in :class:`ToThread`, so their blocking
    I/O runs in a worker thread, never on the event loop.

    Args:
        client: as for :func:`transport_for_client`.

    Returns:
        An :class:`AsyncTransport`.

    Raises:
        TypeError: ``client`` is not accepted.
    """
    transport = transport_for_client(client)
    if isinstance(transport, AsyncTransport):
        return transport
    return ToThread(transport)
