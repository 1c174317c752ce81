"""SigV4 signing cost per request, for the signers HttpxTransport ships.

Run: ``.venv/bin/python -m benchmarks.bench_signing`` (add ``--json FILE`` to save figures).

Each signer's ``sign(...)`` (and ``BotocoreSigner.asign`` with its credentials cached) is
timed on the headers and body HttpxTransport signs for a PutMetricData request: a small
one (one datum, 3 values) and a full one (1000 datums, gzip level 1 as sent). The
baseline, timed in the same run, is the cryptography any SigV4 signature must do: a
SHA-256 of the body plus the five HMAC-SHA256 steps (signing key and signature) over a
short string. ``botocore add_auth`` is botocore's ``SigV4Auth.add_auth`` on an
``AWSRequest``, called directly (its own clock), as a second reference. Figures are the
best of ``--repeat`` runs of ``--n`` calls; ratios are against the baseline of the same
body in the same run.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import hmac
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

T0 = 1_789_999_980.0
REGION = "us-east-1"
SERVICE = "monitoring"
URL = "https://monitoring.us-east-1.amazonaws.com/"
HEADERS = {
    "Host": "monitoring.us-east-1.amazonaws.com",
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
    "x-amzn-query-mode": "true",
    "User-Agent": "cloudwatch-metrics-client/bench",
}
AMZ_DATE = "20260102T030405Z"


def _best_per_call(
    contenders: dict[str, Callable[[], object]], n: int, repeat: int
) -> dict[str, float]:
    """Best-of-``repeat`` mean seconds per call over ``n`` calls, for each contender.

    The contenders are timed round-robin (one batch of ``n`` calls each, ``repeat``
    rounds), so a load change on the machine hits all of them alike.
    """
    best = dict.fromkeys(contenders, float("inf"))
    for _ in range(repeat):
        for name, fn in contenders.items():
            start = time.perf_counter()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / n)
    return best


def bodies() -> dict[str, bytes]:
    """The bodies HttpxTransport would sign: a small request and a full, gzipped one."""
    from cwmetrics_core import CoreConfig, MetricKey, MetricsCore

    out: dict[str, bytes] = {}
    for name, series, values in (("small", 1, 3), ("full_gzip", 1000, 5)):
        core = MetricsCore(CoreConfig(), now=T0)
        for s in range(series):
            key = MetricKey("Bench", "Latency", {"S": f"s{s}"}, "Milliseconds")
            for v in range(values):
                core.record_value(key, s + v * 0.5, T0)
        core.flush(T0)
        (batch,) = core.batches_to_send(T0 + 60)
        body = batch.request.body
        out[name] = gzip.compress(body, compresslevel=1, mtime=0) if "gzip" in name else body
    return out


def _floor(body: bytes) -> Callable[[], object]:
    """The crypto floor: SHA-256 of the body and the five HMAC-SHA256 steps of SigV4."""
    secret = b"AWS4testing"
    scope_parts = (AMZ_DATE[:8].encode(), REGION.encode(), SERVICE.encode(), b"aws4_request")
    string_to_sign = b"AWS4-HMAC-SHA256\n" + AMZ_DATE.encode() + b"\n" + b"x" * 120

    def run() -> object:
        hashlib.sha256(body).hexdigest()
        key = secret
        for part in scope_parts:
            key = hmac.digest(key, part, "sha256")
        return hmac.digest(key, string_to_sign, "sha256").hex()

    return run


def _botocore_add_auth(body: bytes) -> Callable[[], object]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    creds = Credentials("testing", "testing")

    def run() -> object:
        request = AWSRequest("POST", URL, headers=dict(HEADERS), data=body)
        SigV4Auth(creds, SERVICE, REGION).add_auth(request)
        return request

    return run


def signers() -> dict[str, Any]:
    """The signers to time: what ``cwmetrics_transports`` exports."""
    import botocore.session

    from cwmetrics_transports import BotocoreSigner, StaticSigner

    session = botocore.session.Session()
    session.set_credentials("testing", "testing")
    botocore_signer = BotocoreSigner(session)
    botocore_signer.sign("POST", URL, HEADERS, b"", region=REGION, service=SERVICE,
                         amz_date=AMZ_DATE)  # fmt: skip  # resolves (and caches) credentials
    return {"StaticSigner": StaticSigner("testing", "testing"), "BotocoreSigner": botocore_signer}


def _sign(signer: Any, body: bytes) -> Callable[[], object]:
    def run() -> object:
        return signer.sign(
            "POST", URL, HEADERS, body, region=REGION, service=SERVICE, amz_date=AMZ_DATE
        )

    return run


def _asign(signer: Any, body: bytes) -> Callable[[], object]:
    """``await signer.asign(...)`` as a plain call: one coroutine run by hand (with the
    credentials cached it completes without suspending, as on the event loop)."""

    def run() -> object:
        coro = signer.asign(
            "POST", URL, HEADERS, body, region=REGION, service=SERVICE, amz_date=AMZ_DATE
        )
        try:
            coro.send(None)
        except StopIteration as done:
            return done.value
        coro.close()
        raise RuntimeError("asign suspended: its credentials were not cached")

    return run


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def run(n: int = 2000, repeat: int = 7) -> dict[str, Any]:
    """All figures: microseconds per call and ratios against the same-run floor."""
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "commit": _commit(),
        "n": n,
        "repeat": repeat,
        "bodies": {},
    }
    table = signers()
    for name, body in bodies().items():
        calls = max(n // (20 if len(body) > 10_000 else 1), 50)
        contenders = {"floor (sha256 + 5 hmac)": _floor(body)}
        contenders["botocore add_auth"] = _botocore_add_auth(body)
        for label, signer in table.items():
            contenders[f"{label}.sign"] = _sign(signer, body)
        contenders["BotocoreSigner.asign"] = _asign(table["BotocoreSigner"], body)
        rows = _best_per_call(contenders, calls, repeat)
        floor = rows["floor (sha256 + 5 hmac)"]
        results["bodies"][name] = {
            "bytes": len(body),
            "us": {k: v * 1e6 for k, v in rows.items()},
            "ratio_vs_floor": {k: v / floor for k, v in rows.items()},
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--n", type=int, default=2000, help="calls per timing (small body)")
    parser.add_argument("--repeat", type=int, default=7, help="timings per figure (best kept)")
    args = parser.parse_args(argv)
    results = run(args.n, args.repeat)
    print(f"commit {results['commit']}, Python {results['python']}")
    for name, body in results["bodies"].items():
        print(f"{name} body, {body['bytes']:,} bytes:")
        for label, us in body["us"].items():
            print(f"  {label:<28} {us:9.1f} us  {body['ratio_vs_floor'][label]:6.2f}x floor")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
