"""The WSGI middleware that puts CloudWatch's rules and fault injection in front of moto."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._faults import FaultDecision, FaultInjector
from ._model import AcceptedPut, Protocol, Recorder
from ._protocol import (
    TARGET_PREFIX,
    XML_NAMESPACE,
    CloudWatchError,
    decompress,
    detect,
    error_code_from_response,
    parse_json_body,
    parse_query_body,
    render_error,
)
from ._validate import MAX_BODY_BYTES, normalise_put, query_to_json

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["SOCKET_ENVIRON_KEY", "CloudWatchMiddleware"]

#: Environ key under which the request handler exposes the client socket.
SOCKET_ENVIRON_KEY = "cwmetrics.socket"
#: Largest body we bother to decompress (beyond it the size is reported as this + 1).
_DECOMPRESS_CAP = 64 * 1024 * 1024
_PUT = "PutMetricData"


class _ConnectionDropped(ConnectionAbortedError):
    """Raised after closing the socket; werkzeug treats it as a dropped connection."""


def _headers(environ: WSGIEnvironment) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = str(value)
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            headers[key.replace("_", "-").lower()] = str(value)
    return headers


def _read_body(environ: WSGIEnvironment) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length.strip():
        size = int(length)
        return bytes(stream.read(size)) if size > 0 else b""
    if environ.get("wsgi.input_terminated"):
        return bytes(stream.read())
    return b""


def _with_body(environ: WSGIEnvironment, body: bytes, *, drop_encoding: bool) -> WSGIEnvironment:
    forwarded = dict(environ)
    forwarded["wsgi.input"] = io.BytesIO(body)
    forwarded["CONTENT_LENGTH"] = str(len(body))
    forwarded.pop("HTTP_TRANSFER_ENCODING", None)
    forwarded.pop("wsgi.input_terminated", None)
    if drop_encoding:
        forwarded.pop("HTTP_CONTENT_ENCODING", None)
    return forwarded


def _drop_connection(environ: WSGIEnvironment) -> None:
    """Close the client connection without a response, then abort the WSGI call."""
    sock = environ.get(SOCKET_ENVIRON_KEY)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise _ConnectionDropped("connection dropped by LocalCloudWatch fault injection")


def _count_datums(request: dict[str, Any]) -> int:
    count = 0
    data = request.get("MetricData")
    if isinstance(data, list):
        count += len(data)
    entities = request.get("EntityMetricData")
    if isinstance(entities, list):
        for entity in entities:
            inner = entity.get("MetricData") if isinstance(entity, dict) else None
            if isinstance(inner, list):
                count += len(inner)
    return count


class CloudWatchMiddleware:
    """WSGI middleware: validates PutMetricData, injects faults, records, forwards to moto.

    Args:
        recorder: where accepted data, counters and the request log go.
        faults: the fault schedule.
        strict: enforce CloudWatch's limits (``False``: forward everything to moto).
        clock: wall clock used for timestamp checks and defaults.
    """

    def __init__(
        self,
        recorder: Recorder,
        faults: FaultInjector,
        *,
        strict: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app: WSGIApplication | None = None
        self.recorder = recorder
        self.faults = faults
        self.strict = strict
        self.clock = clock
        self._idle = threading.Condition()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Requests currently being handled."""
        with self._idle:
            return self._in_flight

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being handled.

        Args:
            timeout: seconds to wait at most.

        Returns:
            Whether the middleware became idle in time.
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Handle one request (the WSGI entry point)."""
        with self._idle:
            self._in_flight += 1
        try:
            return self._handle(environ, start_response)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _handle(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        received_at = self.clock()
        body = _read_body(environ)
        headers = _headers(environ)
        compressed = headers.get("content-encoding", "").strip().lower() == "gzip"
        raw = body
        decompress_error: CloudWatchError | None = None
        if compressed:
            try:
                raw = decompress(body, _DECOMPRESS_CAP)
            except CloudWatchError as exc:
                decompress_error = exc
        operation, protocol = detect(headers, raw)
        if operation != _PUT:
            return self._pass_through(
                environ,
                start_response,
                body=body,
                operation=operation,
                protocol=protocol,
                compressed=compressed,
                raw_bytes=len(raw),
                received_at=received_at,
            )
        return self._put(
            environ,
            start_response,
            body=body,
            raw=raw,
            protocol=protocol,
            compressed=compressed,
            received_at=received_at,
            decompress_error=decompress_error,
        )

    def _moto(self) -> WSGIApplication:
        if self.app is None:
            raise RuntimeError("the moto application is not attached yet")
        return self.app

    def _pass_through(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        *,
        body: bytes,
        operation: str,
        protocol: Protocol,
        compressed: bool,
        raw_bytes: int,
        received_at: float,
    ) -> Iterable[bytes]:
        def logging_start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            code = int(status.split(None, 1)[0])
            self.recorder.log_request(
                operation=operation,
                protocol=protocol,
                compressed=compressed,
                wire_bytes=len(body),
                raw_bytes=raw_bytes,
                datum_count=0,
                status=code,
                error_code=None,
                fault=None,
                applied=code < 400,
                received_at=received_at,
            )
            return start_response(status, headers, exc_info)

        forwarded = _with_body(environ, body, drop_encoding=False)
        return self._moto()(forwarded, logging_start_response)

    def _call_moto(self, environ: WSGIEnvironment) -> tuple[str, list[tuple[str, str]], bytes]:
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            captured["status"] = status
            captured["headers"] = list(headers)
            return chunks.append

        result = self._moto()(environ, capture)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return str(captured["status"]), captured["headers"], b"".join(chunks)

    def _validate(
        self,
        raw: bytes,
        protocol: Protocol,
        now: float,
        decompress_error: CloudWatchError | None,
    ) -> tuple[AcceptedPut | None, CloudWatchError | None, int, dict[str, Any] | None]:
        """Return ``(accepted, error, datum_count, decoded request)`` for a PutMetricData."""
        if decompress_error is not None:
            return None, decompress_error, 0, None
        request: dict[str, Any] | None = None
        datum_count = 0
        try:
            request = parse_json_body(raw) if protocol == "json" else parse_query_body(raw)
            datum_count = _count_datums(request)
        except CloudWatchError as exc:
            if self.strict:
                return None, exc, 0, None
        if self.strict and len(raw) > MAX_BODY_BYTES:
            return (
                None,
                CloudWatchError(
                    "RequestEntityTooLarge",
                    f"Request size {len(raw)} exceeded {MAX_BODY_BYTES} bytes",
                    413,
                ),
                datum_count,
                request,
            )
        if request is None:
            return None, None, datum_count, None
        try:
            accepted = normalise_put(request, protocol, now, strict=self.strict)
        except CloudWatchError as exc:
            return None, (exc if self.strict else None), datum_count, request
        return accepted, None, datum_count, request

    def _forward_put(
        self,
        environ: WSGIEnvironment,
        raw: bytes,
        protocol: Protocol,
        request: dict[str, Any] | None,
        request_id: str,
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        """Apply a PutMetricData to moto; answer in the client's protocol.

        JSON requests are forwarded as received (uncompressed). Query requests are
        re-encoded as JSON 1.0 (moto's form parser is quadratic: ~16 s for a full
        1000-datum request) and moto's answer is turned back into the query shape.
        """
        if protocol != "query" or request is None:
            return self._call_moto(_with_body(environ, raw, drop_encoding=True))
        try:
            body = json.dumps(query_to_json(request)).encode()
        except CloudWatchError:
            return self._call_moto(_with_body(environ, raw, drop_encoding=True))
        forwarded = _with_body(environ, body, drop_encoding=True)
        forwarded["CONTENT_TYPE"] = "application/x-amz-json-1.0"
        forwarded["HTTP_X_AMZ_TARGET"] = TARGET_PREFIX + _PUT
        status, headers, payload = self._call_moto(forwarded)
        code = int(status.split(None, 1)[0])
        if code >= 300:
            message = ""
            try:
                decoded = json.loads(payload)
                if isinstance(decoded, dict):
                    message = str(decoded.get("message", decoded.get("Message", "")))
            except ValueError:
                message = payload.decode("utf-8", "replace")
            error = CloudWatchError(error_code_from_response(headers, payload), message, code)
            return render_error("query", error, request_id)
        xml = (
            f'<PutMetricDataResponse xmlns="{XML_NAMESPACE}"><ResponseMetadata>'
            f"<RequestId>{request_id}</RequestId></ResponseMetadata></PutMetricDataResponse>"
        ).encode()
        return (
            status,
            [
                ("Content-Type", "text/xml"),
                ("Content-Length", str(len(xml))),
                ("x-amzn-RequestId", request_id),
            ],
            xml,
        )

    def _put(
        self,
        environ: WSGIEnvironment,
        start_response: StartResponse,
        *,
        body: bytes,
        raw: bytes,
        protocol: Protocol,
        compressed: bool,
        received_at: float,
        decompress_error: CloudWatchError | None,
    ) -> Iterable[bytes]:
        decision: FaultDecision = self.faults.decide()
        request_id = str(uuid.uuid4())

        def log(**fields: Any) -> None:
            self.recorder.log_request(
                operation=_PUT,
                protocol=protocol,
                compressed=compressed,
                wire_bytes=len(body),
                raw_bytes=len(raw),
                received_at=received_at,
                **fields,
            )

        def answer_error(error: CloudWatchError, fault: str | None) -> Iterable[bytes]:
            if decision.delay:
                time.sleep(decision.delay)
            log(
                datum_count=datum_count,
                status=error.status,
                error_code=error.code,
                fault=fault or ("delay" if decision.delay else None),
                applied=False,
                delayed=bool(decision.delay),
            )
            status, headers, payload = render_error(protocol, error, request_id)
            start_response(status, headers)
            return [payload]

        datum_count = 0
        if decision.drop == "before_apply":
            log(
                datum_count=0,
                status=None,
                error_code=None,
                fault="drop_before_apply",
                applied=False,
            )
            _drop_connection(environ)
        if decision.error is not None:
            return answer_error(decision.error.to_error(), "error")

        accepted, error, datum_count, request = self._validate(
            raw, protocol, received_at, decompress_error
        )
        if error is not None:
            return answer_error(error, None)

        status, headers, payload = self._forward_put(environ, raw, protocol, request, request_id)
        code = int(status.split(None, 1)[0])
        ok = 200 <= code < 300
        error_code = None if ok else error_code_from_response(headers, payload)
        recorded = accepted if ok else None
        if decision.drop == "after_apply":
            log(
                datum_count=datum_count,
                status=None,
                error_code=error_code,
                fault="drop_after_apply",
                applied=ok,
                accepted=recorded,
            )
            _drop_connection(environ)
        if decision.delay:
            time.sleep(decision.delay)
        log(
            datum_count=datum_count,
            status=code,
            error_code=error_code,
            fault="delay" if decision.delay else None,
            applied=ok,
            accepted=recorded,
            delayed=bool(decision.delay),
        )
        start_response(status, headers)
        return [payload]
