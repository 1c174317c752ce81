"""Tests for cwmetrics_transports._sigv4: AWS vectors, botocore and aws-requests-auth parity."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cwmetrics_transports import _sigv4
from cwmetrics_transports._sigv4 import (
    Credentials,
    amz_date_from_epoch,
    canonical_request,
    credential_scope,
    sign,
    string_to_sign,
)

#: AWS's official SigV4 test suite (Apache-2.0, see its LICENSE and NOTICE), kept in the
#: repository so these vectors always run.
SUITE = Path(__file__).resolve().parents[1] / "data" / "sigv4-testsuite"
SUITE_CASES = sorted(SUITE.rglob("*.req"))
SUITE_PARAMS = [pytest.param(p, id=p.stem) for p in SUITE_CASES]
SUITE_CREDS = {
    "access_key": "AKIDEXAMPLE",
    "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
}
SUITE_KW: dict[str, Any] = {"region": "us-east-1", "service": "service"}
SUITE_KW["amz_date"] = "20150830T123600Z"

CW_URL = "https://monitoring.us-east-1.amazonaws.com/"
CW_HOST = "monitoring.us-east-1.amazonaws.com"
SECRET = "s3cr3t/KEY+which+must+never+leak"
TOKEN = "T0KEN//////////wEXAMPLEsessiontokenvalue=="


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _parse_req(path: Path) -> tuple[str, str, dict[str, str], bytes]:
    """Parses a raw .req file into (method, url, headers, body)."""
    head, _, body = _read(path).partition("\n\n")
    request_line, *header_lines = head.split("\n")
    method, rest = request_line.split(" ", 1)
    target = rest.rsplit(" ", 1)[0]
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name] = value
    host = next(v for k, v in headers.items() if k.lower() == "host").strip()
    return method, f"https://{host}{target}", headers, body.encode("utf-8")


def _token_line(text: str) -> str | None:
    for line in text.split("\n"):
        if line.lower().startswith("x-amz-security-token:"):
            return line.split(":", 1)[1]
    return None


@pytest.mark.parametrize("req_path", SUITE_PARAMS)
def test_aws_suite(req_path: Path) -> None:
    base = req_path.with_suffix("")
    method, url, headers, body = _parse_req(req_path)
    creq_text = _read(base.with_suffix(".creq"))
    signed_token = _token_line(creq_text)
    token = signed_token or _token_line(_read(base.with_suffix(".sreq")))
    if signed_token and not any(k.lower() == "x-amz-security-token" for k in headers):
        headers["X-Amz-Security-Token"] = signed_token

    creq = canonical_request(method, url, headers, body)
    assert creq == creq_text
    assert string_to_sign(creq, **SUITE_KW) == _read(base.with_suffix(".sts"))
    creds = Credentials(**SUITE_CREDS, token=token)
    out = sign(
        method, url, headers, body, credentials=creds, sign_token=bool(signed_token), **SUITE_KW
    )
    assert out["Authorization"] == _read(base.with_suffix(".authz"))
    assert out["X-Amz-Date"] == SUITE_KW["amz_date"]
    assert out.get("X-Amz-Security-Token") == token


def test_suite_is_complete() -> None:
    assert len(SUITE_CASES) >= 11
    assert any(_token_line(_read(p.with_suffix(".sreq"))) for p in SUITE_CASES)


# --- reference signers -------------------------------------------------------------------


def _botocore_sign(
    method: str, url: str, headers: dict[str, str], body: bytes, creds: Credentials, *,
    region: str, service: str, amz_date: str,
) -> dict[str, str]:  # fmt: skip
    """Signs with botocore's SigV4Auth.add_auth, freezing botocore's clock."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    now = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    boto_creds = BotoCredentials(creds.access_key, creds.secret_key, creds.token)
    with mock.patch("botocore.auth.get_current_datetime", return_value=now):
        SigV4Auth(boto_creds, service, region).add_auth(request)
    return dict(request.headers.items())


def _aws_requests_auth_sign(
    url: str, headers: dict[str, str], body: bytes, creds: Credentials, amz_date: str
) -> dict[str, str]:
    """Signs with aws_requests_auth (which signs only host, x-amz-date and the token)."""
    import requests
    from aws_requests_auth import aws_auth  # type: ignore[import-untyped]

    prepared = requests.Request("POST", url, headers=headers, data=body).prepare()
    auth = aws_auth.AWSRequestsAuth(
        aws_access_key=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        aws_host=CW_HOST,
        aws_region="us-east-1",
        aws_service="monitoring",
        aws_token=creds.token,
    )
    with mock.patch.object(aws_auth, "datetime") as fake:
        fake.datetime.utcnow.return_value = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        return dict(auth(prepared).headers.items())


def _cw_body(gzipped: bool) -> bytes:
    payload = {
        "Namespace": "MyApp/Checkout",
        "MetricData": [
            {"MetricName": "Latency", "Dimensions": [{"Name": "Stage", "Value": "prod"}],
             "Values": [12.5, 13.0, 99.9], "Counts": [3, 1, 1], "Unit": "Milliseconds",
             "Timestamp": 1717171717},
        ],
    }  # fmt: skip
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return gzip.compress(raw, mtime=0) if gzipped else raw


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("token", [None, TOKEN], ids=["no-token", "token"])
def test_cloudwatch_request_matches_botocore_and_aws_requests_auth(
    gzipped: bool, token: str | None
) -> None:
    creds = Credentials("AKIDEXAMPLE", SECRET, token)
    body = _cw_body(gzipped)
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
        "User-Agent": "cloudwatch-metrics-client/1.0",
    }
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    kw: dict[str, Any] = {"region": "us-east-1", "service": "monitoring"}
    kw["amz_date"] = "20240607T080910Z"

    # All headers: ours vs botocore (user-agent is unsigned by both).
    ours = sign("POST", CW_URL, headers, body, credentials=creds, **kw)
    boto = _botocore_sign("POST", CW_URL, headers, body, creds, **kw)
    assert ours["Authorization"] == boto["Authorization"]
    expected = "content-type;host;x-amz-date" + (";x-amz-security-token" if token else "")
    expected = ("content-encoding;" if gzipped else "") + expected + ";x-amz-target"
    assert f"SignedHeaders={expected}," in ours["Authorization"]
    assert ours["X-Amz-Date"] == boto["X-Amz-Date"]
    assert ours.get("X-Amz-Security-Token") == boto.get("X-Amz-Security-Token") == token

    # Only host/x-amz-date/token signed: all three signers agree.
    narrow = sign("POST", CW_URL, headers, body, credentials=creds, signed_headers=["Host"], **kw)
    ara = _aws_requests_auth_sign(CW_URL, headers, body, creds, kw["amz_date"])
    boto_narrow = _botocore_sign("POST", CW_URL, {}, body, creds, **kw)
    assert narrow["Authorization"] == ara["Authorization"] == boto_narrow["Authorization"]
    assert ara.get("X-Amz-Security-Token") == token
    assert ours["Authorization"] != narrow["Authorization"]


# --- property test -----------------------------------------------------------------------

_SPECIAL = {"host", "date", "authorization", "x-amz-date", "x-amz-security-token"}
_SPECIAL |= {"x-amz-content-sha256"}
_header_names = st.one_of(
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,12}", fullmatch=True),
    st.sampled_from(["User-Agent", "Connection", "Expect", "X-Amzn-Trace-Id", "Content-Type"]),
).filter(lambda n: n.lower() not in _SPECIAL)
_header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
    | st.sampled_from(" \t"),
    max_size=30,
)
_query_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x17F), max_size=8)
_segments = st.lists(
    st.sampled_from(["", ".", "..", "a", "B-_.~", "x y", "%41", "é", "!$&'()*+,;=:@"]), max_size=6
)


@st.composite
def _requests(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(_header_names, max_size=6, unique_by=str.lower))
    headers = {n: draw(_header_values) for n in names}
    params = draw(st.lists(st.tuples(_query_text, st.none() | _query_text), max_size=5))
    query = "&".join(
        quote(k, safe="-_.~") + ("" if v is None else "=" + quote(v, safe="-_.~"))
        for k, v in params
        if k or v
    )
    host = draw(st.sampled_from([CW_HOST, "LocalHost:4566", "127.0.0.1:443", "[::1]:8443"]))
    scheme = draw(st.sampled_from(["http", "https"]))
    path = "/" + "/".join(draw(_segments))
    when = draw(st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 12, 31)))
    access_key = "AKID" + draw(st.text("ABCDEFG0123", max_size=8))
    token = draw(st.none() | st.text("abcXYZ/+=", min_size=1, max_size=20))
    return {
        "method": draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"])),
        "url": f"{scheme}://{host}{path}" + (f"?{query}" if query else ""),
        "headers": headers,
        "body": draw(st.binary(max_size=512)),
        "creds": Credentials(access_key, SECRET, token),
        "region": draw(st.sampled_from(["us-east-1", "eu-west-2", "ap-southeast-1"])),
        "service": draw(st.sampled_from(["monitoring", "logs", "execute-api"])),
        "amz_date": when.strftime("%Y%m%dT%H%M%SZ"),
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_requests())
def test_matches_botocore_property(req: dict[str, Any]) -> None:
    kw = {k: req[k] for k in ("region", "service", "amz_date")}
    args = (req["method"], req["url"], req["headers"], req["body"])
    ours = sign(*args, credentials=req["creds"], **kw)
    boto = _botocore_sign(*args, req["creds"], **kw)
    assert ours["Authorization"] == boto["Authorization"]
    assert ours.get("X-Amz-Security-Token") == boto.get("X-Amz-Security-Token")


# --- focused unit tests ------------------------------------------------------------------

_CREDS = Credentials("AKID", SECRET, TOKEN)
_KW: dict[str, Any] = {"credentials": _CREDS, "region": "us-east-1", "service": "svc"}


def _creq_line(url: str, index: int) -> str:
    return canonical_request("GET", url, {}, b"").split("\n")[index]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("", "/"), ("/", "/"), ("//", "/"), ("/./", "/"), ("/./example", "/example"),
        ("//example//", "/example/"), ("/example/..", "/"), ("/a/b/../..", "/"),
        ("/a/../../b", "/b"), ("/example space/", "/example%20space/"),
        ("/a%20b", "/a%2520b"), ("/ሴ", "/%E1%88%B4"), ("/-._~", "/-._~"),
    ],
)  # fmt: skip
def test_canonical_uri(path: str, expected: str) -> None:
    assert _creq_line(f"https://h{path}", 1) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("b=2&a=1&a=0", "a=0&a=1&b=2"), ("flag", "flag="), ("a=&&b", "a=&b="),
        ("k=%7e%7E", "k=~~"), ("k=a b", "k=a%20b"), ("k=a+b", "k=a%2Bb"),
        ("%FF=%2f", "%FF=%2F"), ("é=ü", "%C3%A9=%C3%BC"), ("B=1&a=1", "B=1&a=1"),
    ],
)  # fmt: skip
def test_canonical_query(query: str, expected: str) -> None:
    assert _creq_line(f"https://h/?{query}", 2) == expected


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://H.example.com:443/", "h.example.com"), ("http://h:80/", "h"),
        ("http://h:443/", "h:443"), ("https://u:p@h:8443/", "h:8443"), ("https://[::1]/", "[::1]"),
    ],
)  # fmt: skip
def test_host_from_url(url: str, host: str) -> None:
    assert _creq_line(url, 3) == f"host:{host}"


def test_headers_trimmed_joined_and_explicit_host_wins() -> None:
    headers = {"Host": " Example.com ", "X-A": "  a \t  b ", "x-a": "c", "User-Agent": "ua"}
    lines = canonical_request("GET", "https://other/", headers, b"").split("\n")
    assert lines[3:6] == ["host:Example.com", "x-a:a b,c", ""]
    assert lines[6] == "host;x-a"


def test_sign_outputs_and_flags() -> None:
    body = b'{"k": 1}'
    stale = {"authorization": "old", "x-amz-date": "19990101T000000Z", "X-Amz-Security-Token": "o"}
    out = sign("POST", "https://h/", stale, body, amz_date="20240101T000000Z", **_KW)
    assert list(out) == ["X-Amz-Date", "X-Amz-Security-Token", "Authorization"]
    assert out["X-Amz-Security-Token"] == TOKEN
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in out["Authorization"]
    assert out == sign("POST", "https://h/", {}, body, amz_date="20240101T000000Z", **_KW)

    out = sign("POST", "https://h/", {}, body, amz_date="20240101T000000Z", sign_token=False,
               content_sha256=True, **_KW)  # fmt: skip
    assert out["X-Amz-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    assert out["X-Amz-Security-Token"] == TOKEN
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date," in out["Authorization"]


def test_amz_date_from_epoch() -> None:
    assert amz_date_from_epoch(0) == "19700101T000000Z"
    assert amz_date_from_epoch(1440938160.999) == "20150830T123600Z"
    assert (
        credential_scope("20150830T123600Z", "us-east-1", "s")
        == "20150830/us-east-1/s/aws4_request"
    )


# --- secrets -----------------------------------------------------------------------------


def test_credentials_repr_hides_secrets() -> None:
    for creds in (_CREDS, Credentials("AKID", SECRET)):
        for text in (repr(creds), str(creds), f"{creds}", f"{creds!r}", repr([creds])):
            assert SECRET not in text
            assert TOKEN not in text
            assert "AKID" in text
    assert "token=None" in repr(Credentials("AKID", SECRET))
    assert not hasattr(_CREDS, "__dict__")


def test_module_objects_never_show_secrets() -> None:
    sign("GET", "https://h/", {}, b"", amz_date="20240101T000000Z", **_KW)
    for name in dir(_sigv4):
        obj = getattr(_sigv4, name)
        for text in (repr(obj), str(obj)):
            assert SECRET not in text
            assert TOKEN not in text
    assert SECRET not in repr(_sigv4._signing_key.cache_info())


@pytest.mark.parametrize(
    "call",
    [
        lambda: sign("GET", "https://h/", {}, b"", amz_date="2024-01-01", **_KW),
        lambda: sign("GET", "https://h/", {}, b"", amz_date="20240101T000000Z",
                     credentials=_CREDS, region="", service="svc"),
        lambda: sign("GET", "https://h/", {}, b"", amz_date="20240101T000000Z",
                     signed_headers=["x-missing"], **_KW),
        lambda: Credentials("AKID", ""),
        lambda: Credentials("AKID", SECRET, ""),
        lambda: Credentials("AKID", SECRET.encode()),  # type: ignore[arg-type]
        lambda: Credentials("AKID", SECRET, TOKEN.encode()),  # type: ignore[arg-type]
    ],
)  # fmt: skip
def test_errors_do_not_leak_secrets(call: Any) -> None:
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    text = f"{info.value!s} {info.value!r} {info.getrepr()}"
    assert SECRET not in text
    assert TOKEN not in text
