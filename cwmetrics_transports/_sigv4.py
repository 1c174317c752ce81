"""AWS Signature Version 4 signing as pure functions (no clock, environment or I/O).

Canonicalisation follows the rules for non-S3 services and matches botocore's
``SigV4Auth``: dot segments and repeated slashes are removed from the (already encoded)
path, which is then percent-encoded once more; query parameters are decoded, re-encoded
per RFC 3986 and sorted; header values are trimmed and inner whitespace runs collapsed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes, urlsplit

__all__ = [
    "ALGORITHM", "UNSIGNED_HEADERS", "Credentials", "amz_date_from_epoch",
    "canonical_request", "credential_scope", "sign", "string_to_sign",
]  # fmt: skip

ALGORITHM = "AWS4-HMAC-SHA256"

#: Header names never signed unless asked for explicitly (hop-by-hop headers and
#: headers that proxies or HTTP clients may rewrite). Same list as botocore's.
UNSIGNED_HEADERS: frozenset[str] = frozenset(
    {
        "authorization", "baggage", "connection", "expect", "keep-alive",
        "proxy-authenticate", "proxy-authorization", "te", "traceparent", "tracestate",
        "trailer", "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id",
    }
)  # fmt: skip

_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """AWS credentials. ``repr()``/``str()`` never show the secret key or the token.

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


def credential_scope(amz_date: str, region: str, service: str) -> str:
    """Builds the credential scope ``<date>/<region>/<service>/aws4_request``.

    Args:
        amz_date: The request time as ``YYYYMMDDTHHMMSSZ``.
        region: The AWS region, e.g. ``us-east-1``.
        service: The signing name of the service, e.g. ``monitoring``.

    Returns:
        The credential scope string.

    Raises:
        ValueError: If ``amz_date`` is malformed or region/service is empty or has ``/``.
    """
    if not isinstance(amz_date, str) or not _AMZ_DATE.fullmatch(amz_date):
        raise ValueError(f"amz_date must look like YYYYMMDDTHHMMSSZ, got {amz_date!r}")
    for name, value in (("region", region), ("service", service)):
        if not value or "/" in value:
            raise ValueError(f"{name} must be non-empty and contain no '/', got {value!r}")
    return f"{amz_date[:8]}/{region}/{service}/aws4_request"


def _canonical_uri(path: str) -> str:
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    trailing = "/" if path.endswith("/") and segments else ""
    return quote("/" + "/".join(segments) + trailing, safe="/")


def _canonical_query(query: str) -> str:
    pairs = sorted(
        tuple(quote(unquote_to_bytes(item), safe="") for item in part.partition("=")[::2])
        for part in query.split("&")
        if part
    )
    return "&".join(f"{key}={value}" for key, value in pairs)


def _host_from_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def _canonical(
    method: str,
    url: str,
    headers: Mapping[str, str],
    payload_hash: str,
    signed_headers: Collection[str] | None,
) -> tuple[str, str]:
    grouped: dict[str, list[str]] = {}
    for name, value in headers.items():
        grouped.setdefault(name.lower(), []).append(" ".join(value.split()))
    if "host" not in grouped:
        grouped["host"] = [_host_from_url(url)]
    if signed_headers is None:
        names = sorted(name for name in grouped if name not in UNSIGNED_HEADERS)
    else:
        names = sorted({name.lower() for name in signed_headers} | {"host"})
        missing = [name for name in names if name not in grouped]
        if missing:
            raise ValueError(f"signed_headers names headers that are absent: {missing}")
    parts = urlsplit(url)
    signed = ";".join(names)
    lines = "".join(f"{name}:{','.join(grouped[name])}\n" for name in names)
    uri, query = _canonical_uri(parts.path), _canonical_query(parts.query)
    return "\n".join((method.upper(), uri, query, lines, signed, payload_hash)), signed


def canonical_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    signed_headers: Collection[str] | None = None,
) -> str:
    """Builds the SigV4 canonical request. ``headers`` are used exactly as given.

    Args:
        method: The HTTP method (upper-cased).
        url: The full URL as sent on the wire (path and query already percent-encoded).
        headers: The request headers, including ``X-Amz-Date`` (and the token if signed).
            ``Host`` is derived from ``url`` when absent (default ports omitted).
        body: The exact body bytes that will be sent (after any compression).
        signed_headers: Names of the headers to sign (``host`` is always added), or
            ``None`` to sign every header except those in :data:`UNSIGNED_HEADERS`.

    Returns:
        The canonical request string.

    Raises:
        ValueError: If ``signed_headers`` names a header that is not present.
    """
    return _canonical(method, url, headers, hashlib.sha256(body).hexdigest(), signed_headers)[0]


def string_to_sign(canonical_request: str, *, amz_date: str, region: str, service: str) -> str:
    """Builds the SigV4 string to sign from a canonical request.

    Args:
        canonical_request: The output of :func:`canonical_request`.
        amz_date: The request time as ``YYYYMMDDTHHMMSSZ``.
        region: The AWS region.
        service: The signing name of the service.

    Returns:
        The string to sign.

    Raises:
        ValueError: As :func:`credential_scope`.
    """
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{credential_scope(amz_date, region, service)}\n{digest}"


@lru_cache(maxsize=16)
def _signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = hmac.digest(("AWS4" + secret_key).encode("utf-8"), date.encode("utf-8"), "sha256")
    for part in (region, service, "aws4_request"):
        key = hmac.digest(key, part.encode("utf-8"), "sha256")
    return key


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    credentials: Credentials,
    region: str,
    service: str,
    amz_date: str,
    sign_token: bool = True,
    content_sha256: bool = False,
    signed_headers: Collection[str] | None = None,
) -> dict[str, str]:
    """Signs a request and returns the headers to add to it.

    Any ``Authorization``, ``X-Amz-Date``, and (when generated) ``X-Amz-Security-Token`` /
    ``X-Amz-Content-SHA256`` headers in ``headers`` are ignored and replaced by the
    returned ones; merge the result case-insensitively.

    Args:
        method: The HTTP method.
        url: The full URL as sent on the wire.
        headers: The request headers to sign (see :func:`canonical_request`).
        body: The exact body bytes that will be sent (after any compression).
        credentials: The credentials to sign with.
        region: The AWS region, e.g. ``us-east-1``.
        service: The signing name of the service, e.g. ``monitoring``.
        amz_date: The request time as ``YYYYMMDDTHHMMSSZ`` (see :func:`amz_date_from_epoch`).
        sign_token: Whether the session token header is signed (it is always returned).
        content_sha256: Whether to add (and sign) ``X-Amz-Content-SHA256``.
        signed_headers: Names of the headers to sign, or ``None`` for all but
            :data:`UNSIGNED_HEADERS`; the generated headers are added to it.

    Returns:
        ``X-Amz-Date``, ``X-Amz-Security-Token`` (if a token), ``X-Amz-Content-SHA256``
        (if asked) and ``Authorization``.

    Raises:
        ValueError: If ``amz_date``, ``region`` or ``service`` is malformed, or if
            ``signed_headers`` names a header that is not present.
    """
    scope = credential_scope(amz_date, region, service)
    payload_hash = hashlib.sha256(body).hexdigest()
    added = {"X-Amz-Date": amz_date}
    if credentials.token is not None:
        added["X-Amz-Security-Token"] = credentials.token
    if content_sha256:
        added["X-Amz-Content-SHA256"] = payload_hash
    replaced = {"authorization", *(name.lower() for name in added)}
    to_sign = {name: value for name, value in headers.items() if name.lower() not in replaced}
    to_sign.update(added)
    if not sign_token:
        to_sign.pop("X-Amz-Security-Token", None)
    if signed_headers is not None:
        signed_headers = {*signed_headers, *to_sign.keys() & added.keys()}
    creq, signed = _canonical(method, url, to_sign, payload_hash, signed_headers)
    sts = string_to_sign(creq, amz_date=amz_date, region=region, service=service)
    key = _signing_key(credentials.secret_key, amz_date[:8], region, service)
    signature = hmac.digest(key, sts.encode("utf-8"), "sha256").hex()
    added["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return added
