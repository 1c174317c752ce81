"""Request signers for the raw HTTP transport: credentials in, SigV4 headers out.

A :class:`Signer` turns ``(method, url, headers, body)`` plus the signing region, service
and request time into the headers to add (``Authorization``, ``X-Amz-Date`` and, with
temporary credentials, ``X-Amz-Security-Token``). The transport reads its clock and
passes ``amz_date``; the signers never sleep and, on the async path, never do I/O on the
event loop.

Every signature is computed by botocore's ``SigV4Auth`` on a ``botocore.awsrequest.AWSRequest``
(the signer boto3 itself uses); this module holds no SigV4 code of its own. Two signers
ship, differing only in where the credentials come from:

* :class:`BotocoreSigner`: botocore's full credential chain (environment, shared
  config/profiles, SSO, web identity, container and instance metadata), refreshed as
  botocore decides. Resolution and refresh run in a worker thread on the async path.
* :class:`StaticSigner`: explicit keys or the ``AWS_ACCESS_KEY_ID`` family of
  environment variables, read once.

:class:`AwsRequestsAuthSigner` is a deprecated alias of :class:`StaticSigner`: the
``aws-requests-auth`` package is no longer used (see the migration guide).

``repr()`` of a signer never shows the secret key or the session token.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import time
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._errors import CredentialsError, require

if TYPE_CHECKING:
    from botocore.session import Session as BotocoreSession

__all__ = [
    "Signer", "StaticSigner", "BotocoreSigner", "AwsRequestsAuthSigner", "Credentials",
    "amz_date_from_epoch", "sign_with_botocore",
]  # fmt: skip

#: Headers the signer sets itself: any copy in the input is replaced, never signed twice.
_REPLACED = frozenset({"authorization", "x-amz-date", "x-amz-security-token", "date"})


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """AWS credentials. ``repr()``/``str()`` never show the secret key or the token.

    Has the three attributes botocore's ``SigV4Auth`` reads, so it signs as is.

    Attributes:
        access_key: The access key id (not secret; shown in ``repr``).
        secret_key: The secret access key.
        token: The session token of temporary credentials, or ``None``.
    """

    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("access_key", "secret_key", "token"):
            value = getattr(self, name)
            if value is None and name == "token":
                continue
            if not isinstance(value, str):
                raise TypeError(f"Credentials.{name} must be a str, not {type(value).__name__}")
            if not value:
                raise ValueError(f"Credentials.{name} must not be empty")

    def __repr__(self) -> str:
        token = "None" if self.token is None else "'<redacted>'"
        key = self.access_key
        return f"Credentials(access_key={key!r}, secret_key='<redacted>', token={token})"


def amz_date_from_epoch(epoch_seconds: float) -> str:
    """Formats a POSIX timestamp as an ``X-Amz-Date`` value (UTC, whole seconds).

    Args:
        epoch_seconds: Seconds since 1970-01-01T00:00:00Z; fractions are floored.

    Returns:
        The timestamp as ``YYYYMMDDTHHMMSSZ``.
    """
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(int(epoch_seconds // 1)))


#: The two ``SigV4Auth`` steps ``add_auth`` runs around its own clock read (botocore's
#: own subclasses override them too); without them we let botocore read its clock.
_ADD_AUTH_STEPS = ("_modify_request_before_signing", "_inject_signature_to_request")


@functools.cache
def _sigv4_auth_class() -> Any:
    """botocore's ``SigV4Auth`` with ``add_auth_at(request, amz_date)``: ``add_auth`` at
    a given time (botocore's ``add_auth`` reads the clock itself).

    Raises:
        ImportError: botocore is not installed.
    """
    from botocore.auth import SigV4Auth

    steps_present = all(hasattr(SigV4Auth, name) for name in _ADD_AUTH_STEPS)

    class SigV4AuthAt(SigV4Auth):
        def add_auth_at(self, request: Any, amz_date: str) -> None:
            if not steps_present:  # pragma: no cover - guards a botocore layout change
                self.add_auth(request)
                return
            # SigV4Auth.add_auth, with the timestamp given instead of read.
            request.context["timestamp"] = amz_date
            getattr(self, _ADD_AUTH_STEPS[0])(request)
            string_to_sign = self.string_to_sign(request, self.canonical_request(request))
            getattr(self, _ADD_AUTH_STEPS[1])(request, self.signature(string_to_sign, request))

    return SigV4AuthAt


def _require_botocore() -> None:
    try:
        import botocore.auth  # noqa: F401 - only checks that it is installed
    except ImportError:
        require("botocore", "httpx")


def sign_with_botocore(
    credentials: Credentials,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    region: str,
    service: str,
    amz_date: str,
    signed_headers: Collection[str] | None = None,
) -> dict[str, str]:
    """Signs one request with botocore's ``SigV4Auth`` and returns the headers to add.

    Args:
        credentials: The credentials to sign with.
        method: The HTTP method.
        url: The URL exactly as sent.
        headers: The headers to sign, ``Host`` as sent included (derived from ``url``
            when absent). ``Authorization``, ``X-Amz-Date``, ``X-Amz-Security-Token`` and
            ``Date`` in it are ignored: the signature sets its own.
        body: The exact body bytes that will be sent (after compression).
        region: The signing region.
        service: The signing name of the service.
        amz_date: The request time as ``YYYYMMDDTHHMMSSZ``.
        signed_headers: Names of the headers to sign besides ``host``, ``x-amz-date`` and
            the token (always signed), or ``None`` for every header botocore signs (all
            but hop-by-hop ones and ``User-Agent``).

    Returns:
        ``X-Amz-Date``, ``X-Amz-Security-Token`` (temporary credentials) and
        ``Authorization``.

    Raises:
        ImportError: botocore is not installed.
    """
    from botocore.awsrequest import AWSRequest

    wanted = None if signed_headers is None else {n.lower() for n in signed_headers} | {"host"}
    to_sign = [
        (name, value)
        for name, value in headers.items()
        if name.lower() not in _REPLACED and (wanted is None or name.lower() in wanted)
    ]
    request = AWSRequest(method=method.upper(), url=url, data=body)
    for name, value in to_sign:  # AWSRequest's headers keep repeated names
        request.headers[name] = value
    _sigv4_auth_class()(credentials, service, region).add_auth_at(request, amz_date)
    signed = request.headers
    added = {"X-Amz-Date": signed["X-Amz-Date"]}
    if credentials.token is not None:
        added["X-Amz-Security-Token"] = credentials.token
    added["Authorization"] = signed["Authorization"]
    return added


class Signer:
    """Base class of request signers. Subclasses implement :meth:`sign`.

    :meth:`sign` may block (credential I/O) and is what the sync transport calls;
    :meth:`asign` is what the async transport awaits. The default :meth:`asign` calls
    :meth:`sign` directly, which is right for signers that never do I/O; a signer whose
    credentials may need I/O overrides it to move that I/O off the event loop.

    Attributes:
        region: a signing region this signer was configured with (``None``: none). The
            transport uses it when it was given no region itself.
    """

    region: str | None = None

    def sign(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        region: str,
        service: str,
        amz_date: str,
    ) -> dict[str, str]:
        """Signs one request.

        Args:
            method: The HTTP method.
            url: The URL exactly as sent.
            headers: The headers to sign, including ``Host`` as sent.
            body: The exact body bytes that will be sent (after compression).
            region: The signing region.
            service: The signing name of the service (``monitoring`` for CloudWatch).
            amz_date: The request time as ``YYYYMMDDTHHMMSSZ``.

        Returns:
            The headers to add to the request.

        Raises:
            CredentialsError: no usable credentials.
        """
        raise NotImplementedError

    async def asign(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        region: str,
        service: str,
        amz_date: str,
    ) -> dict[str, str]:
        """Signs one request without blocking the event loop (see :meth:`sign`).

        Returns:
            The headers to add to the request.

        Raises:
            CredentialsError: no usable credentials.
        """
        return self.sign(
            method, url, headers, body, region=region, service=service, amz_date=amz_date
        )

    def configured_region(self) -> str | None:
        """The region this signer's configuration names, if any (used as a fallback).

        Returns:
            The region, or ``None``.
        """
        return self.region


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value or None


def _static_credentials(
    access_key: str | None, secret_key: str | None, token: str | None
) -> tuple[Credentials, str]:
    """Explicit credentials, else the environment; returns ``(credentials, source)``."""
    if access_key is not None or secret_key is not None:
        if not access_key or not secret_key:
            raise CredentialsError("pass both access_key and secret_key (or neither)")
        return Credentials(access_key, secret_key, token or None), "explicit"
    env_key, env_secret = _env("AWS_ACCESS_KEY_ID"), _env("AWS_SECRET_ACCESS_KEY")
    if not env_key or not env_secret:
        raise CredentialsError(
            "no AWS credentials: pass access_key/secret_key or set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or use BotocoreSigner for the full credential chain)"
        )
    env_token = token or _env("AWS_SESSION_TOKEN") or _env("AWS_SECURITY_TOKEN")
    return Credentials(env_key, env_secret, env_token), "environment"


class _CredentialsSigner(Signer):
    """Signs with botocore's ``SigV4Auth`` (:func:`sign_with_botocore`) and credentials
    from :meth:`credentials` (sync) / :meth:`acredentials` (async)."""

    signed_headers: Collection[str] | None = None

    def credentials(self) -> Credentials:
        """Returns the credentials to sign with (may block).

        Raises:
            CredentialsError: no usable credentials.
        """
        raise NotImplementedError

    async def acredentials(self) -> Credentials:
        """Returns the credentials to sign with, without blocking the event loop.

        Raises:
            CredentialsError: no usable credentials.
        """
        return self.credentials()

    def _sign_with(
        self,
        credentials: Credentials,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        region: str,
        service: str,
        amz_date: str,
    ) -> dict[str, str]:
        return sign_with_botocore(
            credentials,
            method,
            url,
            headers,
            body,
            region=region,
            service=service,
            amz_date=amz_date,
            signed_headers=self.signed_headers,
        )

    def sign(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        region: str,
        service: str,
        amz_date: str,
    ) -> dict[str, str]:
        """Signs one request (see :meth:`Signer.sign`).

        Returns:
            ``X-Amz-Date``, ``X-Amz-Security-Token`` (temporary credentials) and
            ``Authorization``.

        Raises:
            CredentialsError: no usable credentials.
        """
        credentials = self.credentials()
        return self._sign_with(credentials, method, url, headers, body, region, service, amz_date)

    async def asign(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        region: str,
        service: str,
        amz_date: str,
    ) -> dict[str, str]:
        """Signs one request; credential I/O, if any, runs in a worker thread.

        Returns:
            ``X-Amz-Date``, ``X-Amz-Security-Token`` (temporary credentials) and
            ``Authorization``.

        Raises:
            CredentialsError: no usable credentials.
        """
        credentials = await self.acredentials()
        return self._sign_with(credentials, method, url, headers, body, region, service, amz_date)


class StaticSigner(_CredentialsSigner):
    """Signs with fixed credentials: explicit, else from the environment.

    The environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
    ``AWS_SESSION_TOKEN``) is read once, here in the constructor. The credentials are
    never refreshed. Signed by botocore's ``SigV4Auth`` (botocore comes with the
    ``httpx`` extra).

    Args:
        access_key: The access key id; give it with ``secret_key`` or not at all.
        secret_key: The secret access key.
        token: A session token (temporary credentials). With environment credentials,
            ``None`` means ``AWS_SESSION_TOKEN``.
        region: A signing region to report as :attr:`Signer.region`.
        signed_headers: Which request headers to sign besides ``host``, ``x-amz-date``
            and ``x-amz-security-token`` (always signed). ``None`` (the default) signs
            every header the transport passes except hop-by-hop ones and
            ``User-Agent``, as botocore does; ``()`` signs only the minimal set.

    Raises:
        MissingDependencyError: botocore is not installed.
        CredentialsError: only one of ``access_key``/``secret_key`` given, or none
            given and the environment has no credentials.
    """

    def __init__(
        self,
        access_key: str | None = None,
        secret_key: str | None = None,
        token: str | None = None,
        *,
        region: str | None = None,
        signed_headers: Collection[str] | None = None,
    ) -> None:
        _require_botocore()
        self._credentials, self.source = _static_credentials(access_key, secret_key, token)
        self.region = region
        self.signed_headers = None if signed_headers is None else tuple(signed_headers)

    def credentials(self) -> Credentials:
        """Returns the fixed credentials (never blocks).

        Returns:
            The credentials.
        """
        return self._credentials

    def __repr__(self) -> str:
        return f"{type(self).__name__}(source={self.source!r}, region={self.region!r})"


class BotocoreSigner(_CredentialsSigner):
    """Signs with credentials from botocore's chain, refreshed as botocore decides.

    Credentials are resolved on first use with ``session.get_credentials()`` (which may
    read files, run a credential process or call the instance metadata service) and
    frozen with ``get_frozen_credentials()``. The frozen copy is reused until botocore's
    ``refresh_needed()`` says temporary credentials are close to expiry; only then is the
    chain consulted again. On the async path that work runs in
    ``asyncio.to_thread``, never on the event loop.

    Args:
        session: A ``botocore.session.Session`` (``None``: a new default session,
            honouring ``AWS_PROFILE`` and the usual files).
        region: A signing region to report as :attr:`Signer.region` (``None``: the
            session's configured region, see :meth:`configured_region`).
        signed_headers: As :class:`StaticSigner`.

    Raises:
        MissingDependencyError: botocore is not installed.
    """

    def __init__(
        self,
        session: BotocoreSession | None = None,
        *,
        region: str | None = None,
        signed_headers: Collection[str] | None = None,
    ) -> None:
        _require_botocore()
        if session is None:
            import botocore.session

            session = botocore.session.Session()
        self._session = session
        self.region = region
        self.signed_headers = None if signed_headers is None else tuple(signed_headers)
        self._lock = threading.Lock()
        self._source: Any = None
        self._frozen: Credentials | None = None

    def configured_region(self) -> str | None:
        """The explicit region, else the session's (``AWS_DEFAULT_REGION``, profile).

        Returns:
            The region, or ``None``.
        """
        if self.region:
            return self.region
        try:
            region = self._session.get_config_variable("region")
        except Exception:  # noqa: BLE001 - a broken profile just means "no region"
            return None
        return region if isinstance(region, str) and region else None

    def _refresh_needed(self) -> bool:
        """Whether credentials must be (re)resolved; cheap, no I/O."""
        if self._frozen is None or self._source is None:
            return True
        check = getattr(self._source, "refresh_needed", None)
        return bool(check()) if callable(check) else False

    def _resolve(self) -> Credentials:
        """Resolves or refreshes credentials through botocore (may block)."""
        with self._lock:
            if not self._refresh_needed() and self._frozen is not None:
                return self._frozen
            try:
                if self._source is None:
                    source = self._session.get_credentials()
                    if source is None:
                        raise CredentialsError(
                            "no AWS credentials found by botocore (environment, shared "
                            "config and profiles, SSO, container, instance metadata)"
                        )
                    self._source = source
                frozen = self._source.get_frozen_credentials()
                credentials = Credentials(frozen.access_key, frozen.secret_key, frozen.token)
            except CredentialsError:
                raise
            except Exception as exc:  # noqa: BLE001 - any provider failure
                # Name the failure, never its text: provider errors may quote responses.
                provider = getattr(exc, "kwargs", {}).get("provider")
                detail = f" from provider {provider!r}" if isinstance(provider, str) else ""
                raise CredentialsError(
                    f"botocore could not provide AWS credentials{detail}: {type(exc).__name__}"
                ) from None
            self._frozen = credentials
            return credentials

    def credentials(self) -> Credentials:
        """Returns current credentials, resolving or refreshing them if needed (blocks).

        Returns:
            Frozen credentials.

        Raises:
            CredentialsError: botocore found none or failed to refresh.
        """
        frozen = self._frozen
        if frozen is not None and not self._refresh_needed():
            return frozen
        return self._resolve()

    async def acredentials(self) -> Credentials:
        """Returns current credentials; resolution and refresh run in a worker thread.

        Returns:
            Frozen credentials.

        Raises:
            CredentialsError: botocore found none or failed to refresh.
        """
        frozen = self._frozen
        if frozen is not None and not self._refresh_needed():
            return frozen
        return await asyncio.to_thread(self._resolve)

    def __repr__(self) -> str:
        method = getattr(self._source, "method", None)
        return f"BotocoreSigner(method={method!r}, region={self.region!r})"


class AwsRequestsAuthSigner(StaticSigner):
    """Deprecated alias of :class:`StaticSigner`; constructing it warns.

    It used to sign with the ``aws-requests-auth`` package, which is no longer used: that
    package signs only ``host`` and ``x-amz-date``, reads the clock itself and fails the
    SigV4 test vectors that sign other headers. The alias now signs exactly as
    ``StaticSigner(access_key, secret_key, token, region=region)``: with botocore, the
    protocol headers signed too, at the transport's clock.

    Args:
        access_key: As :class:`StaticSigner`.
        secret_key: As :class:`StaticSigner`.
        token: As :class:`StaticSigner`.
        region: As :class:`StaticSigner`.

    Raises:
        MissingDependencyError: botocore is not installed.
        CredentialsError: as :class:`StaticSigner`.
    """

    def __init__(
        self,
        access_key: str | None = None,
        secret_key: str | None = None,
        token: str | None = None,
        *,
        region: str | None = None,
    ) -> None:
        warnings.warn(
            "AwsRequestsAuthSigner is deprecated and is now StaticSigner (signed by "
            "botocore; aws-requests-auth is no longer used): use StaticSigner",
            DeprecationWarning,
            stacklevel=2,
        )
        super().__init__(access_key, secret_key, token, region=region)
