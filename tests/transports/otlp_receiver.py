"""A real OTLP/HTTP metrics receiver on 127.0.0.1 for the tests.

It decodes every export with ``opentelemetry-proto`` (gunzipping ``Content-Encoding:
gzip``), checks OTLP's limits, verifies SigV4 signatures by signing the received request
again with botocore (same date, same signed headers) and comparing, and answers from a
script of responses (429 with ``Retry-After``, 400, partial success...).
"""

from __future__ import annotations

import gzip
import threading
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

KEY_ID = "AKIDOTLPTEST"
SECRET = "otlp-test-secret"
REGION = "us-west-2"


def verify_sigv4(method: str, url: str, headers: dict[str, str], body: bytes) -> bool:
    """Re-sign the request with botocore and compare the signature."""
    auth_header = headers.get("authorization", "")
    if not auth_header.startswith("AWS4-HMAC-SHA256 "):
        return False
    parts = dict(
        p.strip().split("=", 1) for p in auth_header[len("AWS4-HMAC-SHA256 ") :].split(",")
    )
    signed = parts["SignedHeaders"].split(";")
    scope = parts["Credential"].split("/")
    if scope[0] != KEY_ID or scope[2] != REGION or scope[3] != "monitoring":
        return False
    request = AWSRequest(
        method=method, url=url, data=body, headers={n: headers[n] for n in signed if n in headers}
    )
    request.context["timestamp"] = headers["x-amz-date"]
    auth = SigV4Auth(Credentials(KEY_ID, SECRET), "monitoring", REGION)
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    return bool(auth.signature(string_to_sign, request) == parts["Signature"])


class Receiver:
    """Collects decoded exports; answers each from ``script`` (then 200 OK)."""

    def __init__(self, *, require_signature: bool = False) -> None:
        self.require_signature = require_signature
        self.exports: list[Any] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []
        self.bad_signatures = 0
        self.script: deque[tuple[int, dict[str, str], bytes]] = deque()
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, extra, answer = receiver.handle(self.path, headers, body)
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1/metrics"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        signed_ok = verify_sigv4("POST", f"http://127.0.0.1:{self.port}{path}", headers, body)
        with self.cond:
            self.raw.append((headers, body))
            if self.require_signature and not signed_ok:
                self.bad_signatures += 1
                return 403, {}, b"signature does not match"
            answer = self.script.popleft() if self.script else None
        raw = gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body
        export = metrics_service_pb2.ExportMetricsServiceRequest()
        export.ParseFromString(raw)
        assert len(raw) <= 1_000_000
        assert sum(1 for _m, dp in points(export)) <= 1000
        if answer is not None and answer[0] != 200:
            with self.cond:
                self.cond.notify_all()
            return answer
        with self.cond:
            self.exports.append(export)
            self.cond.notify_all()
        if answer is not None:
            return answer
        return 200, {}, metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()

    def wait(self, predicate: Any, timeout: float = 10.0) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def points(export: Any) -> Iterator[tuple[Any, Any]]:
    """Every ``(metric, data point)`` of an export."""
    for rm in export.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                for dp in getattr(metric, kind).data_points:
                    yield metric, dp


def totals(exports: list[Any]) -> dict[tuple[Any, ...], dict[str, float]]:
    """Per series ``(scope, name, attributes)``: count, sum, min, max over every export."""
    out: dict[tuple[Any, ...], dict[str, float]] = {}
    for export in exports:
        for rm in export.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    kind = metric.WhichOneof("data")
                    for dp in getattr(metric, kind).data_points:
                        attrs = tuple(sorted((a.key, a.value.string_value) for a in dp.attributes))
                        key = (sm.scope.name, metric.name, attrs)
                        acc = out.setdefault(
                            key, {"count": 0, "sum": 0.0, "min": float("inf"), "max": -float("inf")}
                        )
                        acc["count"] += dp.count
                        acc["sum"] += dp.sum
                        acc["min"] = min(acc["min"], dp.min)
                        acc["max"] = max(acc["max"], dp.max)
    return out


def partial_success(rejected: int, message: str) -> bytes:
    response = metrics_service_pb2.ExportMetricsServiceResponse()
    response.partial_success.rejected_data_points = rejected
    response.partial_success.error_message = message
    return bytes(response.SerializeToString())
