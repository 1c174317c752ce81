"""Wire-level helpers: recognising requests, decoding bodies, rendering CloudWatch errors.

CloudWatch speaks two protocols to botocore:

* AWS JSON 1.0 (botocore >= 1.43): ``X-Amz-Target: GraniteServiceVersion20100801.<Op>``;
  errors are ``{"__type": ..., "message": ...}`` plus ``x-amzn-query-error: <Code>;<Type>``
  because the service has the ``awsQueryCompatible`` trait (botocore reads the code from
  that header).
* the ``query`` protocol (older botocore): a form body with ``Action=<Op>``; errors are
  an ``<ErrorResponse>`` XML document.
"""

from __future__ import annotations

import http
import json
import zlib
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from ._model import Protocol

__all__ = [
    "CloudWatchError",
    "TARGET_PREFIX",
    "XML_NAMESPACE",
    "decompress",
    "detect",
    "parse_json_body",
    "parse_query_body",
    "render_error",
    "error_code_from_response",
]

#: ``X-Amz-Target`` prefix of CloudWatch's JSON protocol.
TARGET_PREFIX = "GraniteServiceVersion20100801."
#: Namespace of CloudWatch's query-protocol XML documents.
XML_NAMESPACE = "http://monitoring.amazonaws.com/doc/2010-08-01/"
_JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
_SHAPE_PREFIX = "com.amazonaws.cloudwatch#"
#: awsQuery error code -> modeled exception shape name (as in botocore's service model).
_SHAPES = {
    "InvalidParameterValue": "InvalidParameterValueException",
    "InvalidParameterCombination": "InvalidParameterCombinationException",
    "MissingParameter": "MissingRequiredParameterException",
    "InternalServiceError": "InternalServiceFault",
    "ValidationError": "ValidationException",
    "InvalidFormat": "InvalidFormatFault",
    "LimitExceeded": "LimitExceededFault",
    "ResourceNotFound": "ResourceNotFound",
}


class CloudWatchError(Exception):
    """An error response CloudWatch would send.

    Args:
        code: the awsQuery error code (``InvalidParameterValue``, ``Throttling``...).
        message: the human-readable message.
        status: the HTTP status (400 unless given).
    """

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    @property
    def fault_type(self) -> str:
        """``"Sender"`` for 4xx responses, ``"Receiver"`` for 5xx."""
        return "Receiver" if self.status >= 500 else "Sender"


def detect(headers: dict[str, str], body: bytes) -> tuple[str, Protocol]:
    """Identify the operation and protocol of a request.

    Args:
        headers: lower-cased request headers.
        body: the *uncompressed* request body (may be empty for JSON requests; the
            target header is enough).

    Returns:
        ``(operation, protocol)``; operation is ``""`` if unknown.
    """
    target = headers.get("x-amz-target", "")
    if target:
        prefix, _, operation = target.partition(".")
        if f"{prefix}." == TARGET_PREFIX:
            return operation, "json"
        return "", "other"
    content_type = headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return "", "other"
        for key, value in parse_qsl(text, keep_blank_values=True):
            if key == "Action":
                return value, "query"
        return "", "query"
    return "", "other"


def decompress(body: bytes, limit: int) -> bytes:
    """Gunzip a request body, reading at most ``limit + 1`` output bytes.

    Args:
        body: the gzip-encoded body.
        limit: the largest body of interest; a longer result is truncated to
            ``limit + 1`` bytes (enough to know it is too large, and bomb-proof).

    Returns:
        The decompressed body (possibly truncated as described).

    Raises:
        CloudWatchError: the body is not valid gzip.
    """
    try:
        inflater = zlib.decompressobj(wbits=31)
        out = inflater.decompress(body, limit + 1)
        if len(out) <= limit and not inflater.eof:
            out += inflater.flush()
            if not inflater.eof:
                raise zlib.error("truncated gzip stream")
    except zlib.error as exc:
        raise CloudWatchError(
            "InvalidParameterValue", f"Could not decompress the gzip request body: {exc}"
        ) from exc
    return out


def parse_json_body(body: bytes) -> dict[str, Any]:
    """Decode an AWS JSON 1.0 request body.

    Bare ``NaN``/``Infinity`` tokens are accepted (Python's ``json`` writes them) and
    become floats, as do the ``"NaN"``/``"Infinity"``/``"-Infinity"`` strings botocore
    writes; number fields are checked later.

    Args:
        body: the uncompressed body.

    Returns:
        The decoded object (``{}`` for an empty body).

    Raises:
        CloudWatchError: ``SerializationException`` if the body is not a JSON object.
    """
    if not body.strip():
        return {}
    try:
        decoded = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CloudWatchError("SerializationException", f"Malformed JSON body: {exc}") from exc
    if not isinstance(decoded, dict):
        raise CloudWatchError("SerializationException", "The request body must be a JSON object")
    return decoded


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Turn ``A.member.1.B=x`` pairs into nested dicts keyed by path segment."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        node = root
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        last = parts[-1]
        if not isinstance(node.get(last), dict):  # "X=" never hides "X.member.1=..."
            node[last] = value
    return root


def _query_list(node: Any, path: str) -> list[Any]:
    """Read a ``member``-encoded list node (``""`` is the empty list)."""
    if node == "":
        return []
    if (
        not isinstance(node, dict)
        or set(node) != {"member"}
        or not isinstance(node["member"], dict)
    ):
        raise CloudWatchError("MalformedQueryString", f"{path} is not a list")
    members: dict[str, Any] = node["member"]
    try:
        ordered = sorted(members.items(), key=lambda item: int(item[0]))
    except ValueError as exc:
        raise CloudWatchError("MalformedQueryString", f"{path} has a bad list index") from exc
    return [item for _, item in ordered]


def _query_struct(node: Any, path: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise CloudWatchError("MalformedQueryString", f"{path} is not a structure")
    return node


def _query_datum(node: Any, path: str) -> dict[str, Any]:
    fields = _query_struct(node, path)
    datum: dict[str, Any] = {}
    for key, value in fields.items():
        sub = f"{path}.{key}"
        if key == "Dimensions":
            datum[key] = [
                _query_struct(item, f"{sub}.member.{i}")
                for i, item in enumerate(_query_list(value, sub), 1)
            ]
        elif key in ("Values", "Counts"):
            datum[key] = _query_list(value, sub)
        elif key == "StatisticValues":
            datum[key] = _query_struct(value, sub)
        else:
            datum[key] = value
    return datum


def parse_query_body(body: bytes) -> dict[str, Any]:
    """Decode a query-protocol PutMetricData form into the JSON protocol's shape.

    Leaves stay strings; lists become Python lists; unknown keys are kept.

    Args:
        body: the uncompressed form body.

    Returns:
        ``{"Namespace": ..., "MetricData": [{...}, ...], "EntityMetricData": [...]}``
        with only the keys present in the form.

    Raises:
        CloudWatchError: ``MalformedQueryString`` if the form is not decodable.
    """
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CloudWatchError("MalformedQueryString", f"Malformed form body: {exc}") from exc
    tree = _unflatten(pairs)
    request: dict[str, Any] = {}
    for key, value in tree.items():
        if key == "MetricData":
            request[key] = [
                _query_datum(item, f"MetricData.member.{i}")
                for i, item in enumerate(_query_list(value, key), 1)
            ]
        elif key == "EntityMetricData":
            entities = []
            for i, item in enumerate(_query_list(value, key), 1):
                entity = dict(_query_struct(item, f"{key}.member.{i}"))
                if "MetricData" in entity:
                    sub = f"{key}.member.{i}.MetricData"
                    entity["MetricData"] = [
                        _query_datum(d, f"{sub}.member.{j}")
                        for j, d in enumerate(_query_list(entity["MetricData"], sub), 1)
                    ]
                entities.append(entity)
            request[key] = entities
        else:
            request[key] = value
    return request


def render_error(
    protocol: Protocol, error: CloudWatchError, request_id: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Render an error the way CloudWatch sends it.

    Args:
        protocol: ``"query"`` gives the XML shape; anything else the JSON 1.0 shape.
        error: the error to render.
        request_id: the ``x-amzn-RequestId`` to report.

    Returns:
        ``(status line, headers, body)`` ready for a WSGI ``start_response``.
    """
    try:
        phrase = http.HTTPStatus(error.status).phrase
    except ValueError:
        phrase = "Error"
    status = f"{error.status} {phrase}"
    if protocol == "query":
        body = (
            f'<ErrorResponse xmlns="{XML_NAMESPACE}">'
            f"<Error><Type>{error.fault_type}</Type><Code>{escape(error.code)}</Code>"
            f"<Message>{escape(error.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        content_type = "text/xml"
        extra: list[tuple[str, str]] = []
    else:
        shape = _SHAPES.get(error.code, error.code)
        body = json.dumps({"__type": _SHAPE_PREFIX + shape, "message": error.message}).encode()
        content_type = _JSON_CONTENT_TYPE
        extra = [("x-amzn-query-error", f"{error.code};{error.fault_type}")]
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", request_id),
        *extra,
    ]
    return status, headers, body


def error_code_from_response(headers: list[tuple[str, str]], body: bytes) -> str:
    """Extract the error code from an error response (moto's or ours).

    Args:
        headers: response headers.
        body: response body.

    Returns:
        The awsQuery error code, or ``"Unknown"``.
    """
    for name, value in headers:
        if name.lower() == "x-amzn-query-error":
            return value.split(";", 1)[0]
    text = body.decode("utf-8", "replace")
    start = text.find("<Code>")
    if start != -1:
        end = text.find("</Code>", start)
        if end != -1:
            return text[start + len("<Code>") : end]
    try:
        decoded = json.loads(text)
    except ValueError:
        return "Unknown"
    if isinstance(decoded, dict):
        code = str(decoded.get("__type", "Unknown"))
        return code.rsplit("#", 1)[-1]
    return "Unknown"
