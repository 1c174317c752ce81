"""Transport exceptions, and the mapping of library failures to SendOutcome data.

::

    CWMetricsError (cwmetrics_core)
    +-- TransportError            a transport cannot be built or used as configured
        +-- CredentialsError      no usable AWS credentials were found
        |   +-- ProfileNotFoundError  AWS_PROFILE (or profile=) names a profile that the
        |                             AWS config files do not define
        +-- InvalidEndpointError  an endpoint URL that is not a plain http(s) URL, or one
        |   |                     that HTTP clients could read differently (userinfo,
        |   |                     backslash, whitespace, control characters, ...)
        |   +-- InsecureEndpointError a plain http:// endpoint that is not loopback,
        |                             without allow_insecure_http=True
        +-- MissingDependencyError the optional package a transport needs is not installed

``send()``/``asend()`` never raise for a failed send: every failure that can happen while
talking to the service (connection refused, timeout, throttling, HTTP 5xx, a malformed
answer) is returned as a :class:`~cwmetrics_core.SendOutcome`, and the core decides.
Messages never include credentials, signatures or session tokens.
"""

from __future__ import annotations

import ipaddress
import json
import re
from urllib.parse import urlsplit

from cwmetrics_core import CWMetricsError, SendOutcome

__all__ = [
    "TransportError",
    "CredentialsError",
    "InsecureEndpointError",
    "InvalidEndpointError",
    "MissingDependencyError",
    "ProfileNotFoundError",
    "outcome_from_http",
    "check_endpoint",
    "query_error_code",
]


class TransportError(CWMetricsError):
    """A transport cannot be built or used as configured."""


class CredentialsError(TransportError):
    """No usable AWS credentials were found."""


class ProfileNotFoundError(CredentialsError):
    """``AWS_PROFILE`` (or ``AWS_DEFAULT_PROFILE``) names a profile the AWS config and
    credentials files do not define.

    Attributes:
        profile: the missing profile's name.
    """

    def __init__(self, profile: str) -> None:
        super().__init__(
            f"the AWS profile {profile!r} (from AWS_PROFILE / AWS_DEFAULT_PROFILE or the "
            "session) is not defined in the AWS config or credentials file"
        )
        self.profile = profile


class InvalidEndpointError(TransportError, ValueError):
    """An endpoint URL that is not a plain ``http(s)://host[:port][/path]`` URL.

    The message names where the URL came from (the argument, an environment variable
    or the AWS config file).
    """


class InsecureEndpointError(InvalidEndpointError):
    """A plain ``http://`` endpoint that is not loopback, without ``allow_insecure_http``."""


class MissingDependencyError(TransportError, ImportError):
    """The optional package a transport needs is not installed."""


def require(module: str, extra: str) -> None:
    """Raise :class:`MissingDependencyError` naming the extra to install."""
    raise MissingDependencyError(
        f"{module} is not installed: pip install 'cloudwatch-metrics-client[{extra}]'"
    )


def is_loopback(host: str) -> bool:
    """True for ``localhost``, a dotted-quad ``127.x.y.z`` and ``::1`` (``[::1]``) only.

    Only canonical spellings count: ``127.1``, ``0x7f.0.0.1`` or ``2130706433`` are
    judged "not loopback" (the guard then refuses plain HTTP to them), because name
    resolvers disagree on such forms.
    """
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if name.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if address.version == 6:
        # Only ::1 itself: Python >= 3.13 also calls IPv4-mapped ::ffff:127.0.0.1 loopback,
        # and the verdict must not depend on the Python version.
        return address == _IPV6_LOOPBACK
    return address.is_loopback and name.count(".") == 3


_IPV6_LOOPBACK = ipaddress.IPv6Address("::1")


#: Characters no endpoint needs and HTTP clients parse differently (urllib3 treats ``\``
#: as a path separator, httpx as part of the userinfo); ``@`` starts userinfo, ``?``/``#``
#: end the authority, ``%`` escapes in the host.
_AMBIGUOUS = {"\\": "a backslash", "@": "'@' (userinfo)", "?": "'?' (a query)",
              "#": "'#' (a fragment)"}  # fmt: skip


def _safe(url: str) -> str:
    """The URL for an error message: userinfo (maybe a password) redacted, capped."""
    text = re.sub(r"(?<=//)[^/]*@", "<redacted>@", url)
    return repr(text[:200])


def _client_views(url: str) -> list[tuple[str, str, str, int | None]]:
    """``(client, scheme, host, port)`` as each installed HTTP client parses ``url``."""
    views: list[tuple[str, str, str, int | None]] = []
    try:
        from urllib3.util import parse_url
    except ImportError:
        pass
    else:
        try:
            parsed = parse_url(url)
        except Exception as exc:  # noqa: BLE001 - LocationParseError and friends
            raise ValueError(f"urllib3 cannot parse it ({type(exc).__name__})") from None
        views.append(("urllib3", parsed.scheme or "", parsed.host or "", parsed.port))
    try:
        import httpx
    except ImportError:
        pass
    else:
        try:
            found = httpx.URL(url)
        except Exception as exc:  # noqa: BLE001 - httpx.InvalidURL
            raise ValueError(f"httpx cannot parse it ({type(exc).__name__})") from None
        views.append(("httpx", found.scheme, found.host, found.port))
    return views


def check_endpoint(
    url: str, *, allow_insecure_http: bool = False, source: str = "endpoint_url"
) -> str:
    """Validate an endpoint URL and return it without a trailing slash.

    The URL is judged as the HTTP clients will read it: it must be printable ASCII
    without whitespace, backslash, userinfo (``@``), query or fragment, and
    ``urllib.parse``, urllib3 (under botocore) and httpx (when installed) must all agree
    on its scheme, host and port. Only then is the host compared with loopback.

    Args:
        url: The endpoint URL.
        allow_insecure_http: Accept plain ``http://`` to a host that is not loopback.
        source: Where the URL came from, for the error message (e.g.
            ``"AWS_ENDPOINT_URL"`` or ``"profile 'dev' in /home/me/.aws/config"``).

    Returns:
        The URL without trailing slashes.

    Raises:
        InsecureEndpointError: ``http://`` to a non-loopback host without the opt-in.
        InvalidEndpointError: not an http(s) URL, or one the clients could misread.
    """
    if not isinstance(url, str):
        raise InvalidEndpointError(f"endpoint URL from {source} must be a str, got {url!r}")

    def invalid(reason: str) -> InvalidEndpointError:
        return InvalidEndpointError(
            f"endpoint URL {_safe(url)} from {source} is refused: {reason}; expected "
            "http(s)://host[:port][/path]"
        )

    for char in url:
        if not "!" <= char <= "~":
            raise invalid(f"it contains the character {char!r} (whitespace, control or "
                          "non-ASCII)")  # fmt: skip
        if char in _AMBIGUOUS:
            raise invalid(f"it contains {_AMBIGUOUS[char]}")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. unbalanced brackets
        raise invalid(f"urllib.parse cannot parse it ({exc})") from None
    try:
        port = parts.port
    except ValueError:
        raise invalid("its port is not a number from 0 to 65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("not an http(s) URL with a host")
    if "%" in parts.netloc:
        raise invalid("its host contains '%'")
    host = parts.hostname.lower()
    default_port = 443 if parts.scheme == "https" else 80
    port = default_port if port is None else port
    try:
        views = _client_views(url)
    except ValueError as exc:
        raise invalid(str(exc)) from None
    for client, scheme, raw_host, raw_port in views:
        client_host = raw_host.lower().strip("[]")
        client_port = default_port if raw_port is None else raw_port
        if (scheme.lower(), client_host, client_port) != (parts.scheme, host, port):
            raise invalid(
                f"{client} reads it as {scheme}://{client_host}:{client_port}, not "
                f"{parts.scheme}://{host}:{port}"
            )
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback(host):
        raise InsecureEndpointError(
            f"refusing plain http:// to {host!r} (endpoint from {source}): metrics and "
            "signatures would travel unencrypted; use https://, a loopback address, or "
            "allow_insecure_http=True"
        )
    return url.rstrip("/")


#: CloudWatch's JSON error names whose query-protocol code (the ``awsQueryError`` code
#: in botocore's service model, sent in ``x-amzn-query-error``) differs. A service that
#: omits that header is understood the same way.
_QUERY_CODES = {
    "DashboardInvalidInputError": "InvalidParameterInput",
    "DashboardNotFoundError": "ResourceNotFound",
    "InternalServiceFault": "InternalServiceError",
    "InvalidFormatFault": "InvalidFormat",
    "InvalidParameterCombinationException": "InvalidParameterCombination",
    "InvalidParameterValueException": "InvalidParameterValue",
    "LimitExceededFault": "LimitExceeded",
    "MissingRequiredParameterException": "MissingParameter",
    "ValidationException": "ValidationError",
}


def query_error_code(code: str) -> str:
    """The query-protocol error code for a CloudWatch JSON error name.

    ``MissingRequiredParameterException`` -> ``MissingParameter``, and so on for every
    error shape of CloudWatch's model whose two names differ; other codes unchanged.
    """
    return _QUERY_CODES.get(code, code)


_XML_CODE = re.compile(rb"<Code>([^<]{1,128})</Code>")
_XML_MESSAGE = re.compile(rb"<Message>([^<]{0,512})</Message>")


def outcome_from_http(status: int, headers: dict[str, str], body: bytes) -> SendOutcome:
    """Classify an HTTP answer from CloudWatch (JSON 1.0 or query protocol) as data.

    Understands the ``x-amzn-query-error`` header, JSON ``__type``/``message`` bodies and
    query-protocol XML error documents; anything else (an HTML error page from a proxy,
    a truncated body) becomes ``error_code="HttpError<status>"`` so the core can still
    decide from the status. JSON error names are reported as their query-protocol codes
    (:func:`query_error_code`), with or without the ``x-amzn-query-error`` header.
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
    code = query_error_code(code)
    return SendOutcome(ok=False, http_status=status, error_code=code, message=message[:512])
