"""Transport exceptions, and the mapping of library failures to SendOutcome data.

::

    CWMetricsError (cwmetrics_core)
    +-- TransportError            a transport cannot be built or used as configured
        +-- CredentialsError      no usable AWS credentials were found
        +-- InsecureEndpointError a plain http:// endpoint that is not loopback, without
        |                         allow_insecure_http=True
        +-- MissingDependencyError the optional package a transport needs is not installed

``send()``/``asend()`` never raise for a failed send: every failure that can happen while
talking to the service (connection refused, timeout, throttling, HTTP 5xx, a malformed
answer) is returned as a :class:`~cwmetrics_core.SendOutcome`, and the core decides.
Messages never include credentials, signatures or session tokens.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from cwmetrics_core import CWMetricsError, SendOutcome

__all__ = [
    "TransportError",
    "CredentialsError",
    "InsecureEndpointError",
    "MissingDependencyError",
    "outcome_from_http",
    "check_endpoint",
]


class TransportError(CWMetricsError):
    """A transport cannot be built or used as configured."""


class CredentialsError(TransportError):
    """No usable AWS credentials were found."""


class InsecureEndpointError(TransportError, ValueError):
    """A plain ``http://`` endpoint that is not loopback, without ``allow_insecure_http``."""


class MissingDependencyError(TransportError, ImportError):
    """The optional package a transport needs is not installed."""


def require(module: str, extra: str) -> None:
    """Raise :class:`MissingDependencyError` naming the extra to install."""
    raise MissingDependencyError(
        f"{module} is not installed: pip install 'cloudwatch-metrics-client[{extra}]'"
    )


_LOOPBACK = re.compile(r"^(localhost|127(\.\d{1,3}){3}|\[?::1\]?)$", re.IGNORECASE)


def is_loopback(host: str) -> bool:
    """True for ``localhost``, ``127.x.y.z`` and ``::1``."""
    return bool(_LOOPBACK.match(host))


def check_endpoint(url: str, *, allow_insecure_http: bool = False) -> str:
    """Validate an endpoint URL and return it without a trailing slash.

    Raises:
        InsecureEndpointError: ``http://`` to a non-loopback host without the opt-in.
        TransportError: not an http(s) URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransportError(f"endpoint_url must be an http(s) URL, got {url!r}")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(parts.hostname):
        raise InsecureEndpointError(
            f"refusing plain http:// to {parts.hostname!r}: metrics and signatures would "
            "travel unencrypted; use https://, a loopback address, or allow_insecure_http=True"
        )
    return url.rstrip("/")


_XML_CODE = re.compile(rb"<Code>([^<]{1,128})</Code>")
_XML_MESSAGE = re.compile(rb"<Message>([^<]{0,512})</Message>")


def outcome_from_http(status: int, headers: dict[str, str], body: bytes) -> SendOutcome:
    """Classify an HTTP answer from CloudWatch (JSON 1.0 or query protocol) as data.

    Understands the ``x-amzn-query-error`` header, JSON ``__type``/``message`` bodies and
    query-protocol XML error documents; anything else (an HTML error page from a proxy,
    a truncated body) becomes ``error_code="HttpError<status>"`` so the core can still
    decide from the status.
    """
    if 200 <= status < 300:
        return SendOutcome(ok=True, http_status=status)
    lowered = {k.lower(): v for k, v in headers.items()}
    code: str | None = None
    message = ""
    query_error = lowered.get("x-amzn-query-error")
    if query_error:
        code = query_error.split(";", 1)[0].strip() or None
    try:
        doc = json.loads(body) if body[:1] == b"{" else None
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        raw_type = doc.get("__type") or doc.get("code") or doc.get("Code")
        if code is None and isinstance(raw_type, str):
            code = raw_type.rsplit("#", 1)[-1].split(":", 1)[0] or None
        raw_message = doc.get("message") or doc.get("Message") or ""
        message = raw_message if isinstance(raw_message, str) else ""
    else:
        found = _XML_CODE.search(body)
        if found and code is None:
            code = found.group(1).decode("utf-8", "replace")
        found_message = _XML_MESSAGE.search(body)
        if found_message:
            message = found_message.group(1).decode("utf-8", "replace")
    if code is None:
        amz_type = lowered.get("x-amzn-errortype")
        code = amz_type.split(":", 1)[0] if amz_type else f"HttpError{status}"
    return SendOutcome(ok=False, http_status=status, error_code=code, message=message[:512])
