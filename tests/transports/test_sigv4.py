"""SigV4 of every signer that ships: AWS's official vectors and a differential test
against botocore's own ``SigV4Auth.add_auth``.

The signers sign with botocore (there is no SigV4 code of our own); these tests pin what
they hand botocore (headers, body, time, credentials) and what they hand back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cwmetrics_transports import AwsRequestsAuthSigner, BotocoreSigner, Signer, StaticSigner

#: AWS's official SigV4 test suite (Apache-2.0, see its LICENSE and NOTICE), kept in the
#: repository so these vectors always run.
SUITE = Path(__file__).resolve().parents[1] / "data" / "sigv4-testsuite"
SUITE_CASES = sorted(SUITE.rglob("*.req"))
SUITE_ACCESS_KEY = "AKIDEXAMPLE"
SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_KW: dict[str, Any] = {"region": "us-east-1", "service": "service"}
SUITE_KW["amz_date"] = "20150830T123600Z"

CW_URL = "https://monitoring.us-east-1.amazonaws.com/"
CW_HOST = "monitoring.us-east-1.amazonaws.com"
SECRET = "s3cr3t/KEY+which+must+never+leak"
TOKEN = "T0KEN//////////wEXAMPLEsessiontokenvalue=="


class _Session:
    """The one botocore-session method BotocoreSigner calls, with fixed credentials."""

    def __init__(self, access_key: str, secret_key: str, token: str | None) -> None:
        from botocore.credentials import Credentials as BotoCredentials

        self._credentials = BotoCredentials(access_key, secret_key, token, method="test")

    def get_credentials(self) -> Any:
        return self._credentials

    def get_config_variable(self, name: str) -> Any:
        return None


def _deprecated_alias(access_key: str, secret_key: str, token: str | None) -> Signer:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return AwsRequestsAuthSigner(access_key, secret_key, token)


#: Every signer ``cwmetrics_transports`` exports, built from fixed credentials.
SIGNERS: dict[str, Callable[[str, str, str | None], Signer]] = {
    "StaticSigner": StaticSigner,
    "BotocoreSigner": lambda key, secret, token: BotocoreSigner(
        _Session(key, secret, token)  # type: ignore[arg-type]
    ),
    "AwsRequestsAuthSigner": _deprecated_alias,
}


def test_every_exported_signer_is_covered() -> None:
    import cwmetrics_transports

    exported = {
        name
        for name in cwmetrics_transports.__all__
        if isinstance(obj := getattr(cwmetrics_transports, name), type)
        and issubclass(obj, Signer)
        and obj is not Signer
    }
    assert exported == set(SIGNERS)


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


def _sign(signer: Signer, *args: Any, mode: str, **kw: Any) -> dict[str, str]:
    if mode == "sync":
        return signer.sign(*args, **kw)
    return asyncio.run(signer.asign(*args, **kw))


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("signer_name", sorted(SIGNERS))
@pytest.mark.parametrize("req_path", [pytest.param(p, id=p.stem) for p in SUITE_CASES])
def test_aws_suite(req_path: Path, signer_name: str, mode: str) -> None:
    base = req_path.with_suffix("")
    method, url, headers, body = _parse_req(req_path)
    signed_token = _token_line(_read(base.with_suffix(".creq")))
    sent_token = _token_line(_read(base.with_suffix(".sreq")))
    # A token in the canonical request is signed; post-sts-header-after adds its token
    # only after signing, which is a signature made without one.
    signer = SIGNERS[signer_name](SUITE_ACCESS_KEY, SUITE_SECRET, signed_token)

    out = _sign(signer, method, url, headers, body, mode=mode, **SUITE_KW)

    assert out["Authorization"] == _read(base.with_suffix(".authz"))
    assert out["X-Amz-Date"] == SUITE_KW["amz_date"]
    assert out.get("X-Amz-Security-Token") == signed_token
    if sent_token and not signed_token:
        assert "x-amz-security-token" not in out["Authorization"]


def test_suite_is_complete() -> None:
    assert len(SUITE_CASES) >= 11
    assert any(_token_line(_read(p.with_suffix(".sreq"))) for p in SUITE_CASES)
    assert any(
        _token_line(_read(p.with_suffix(".sreq")))
        and not _token_line(_read(p.with_suffix(".creq")))
        for p in SUITE_CASES
    )


# --- differential: botocore's own add_auth, its clock frozen ------------------------------


def _botocore_add_auth(
    method: str, url: str, headers: dict[str, str], body: bytes, *,
    access_key: str, token: str | None, region: str, service: str, amz_date: str,
) -> dict[str, str]:  # fmt: skip
    """Signs with botocore's SigV4Auth.add_auth, freezing botocore's clock."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials as BotoCredentials

    now = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    credentials = BotoCredentials(access_key, SECRET, token)
    with mock.patch("botocore.auth.get_current_datetime", return_value=now):
        SigV4Auth(credentials, service, region).add_auth(request)
    return dict(request.headers.items())


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


@pytest.mark.parametrize("signer_name", sorted(SIGNERS))
@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("token", [None, TOKEN], ids=["no-token", "token"])
def test_cloudwatch_request_matches_botocore(
    signer_name: str, gzipped: bool, token: str | None
) -> None:
    body = _cw_body(gzipped)
    headers = {
        "Host": CW_HOST,
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "GraniteServiceVersion20100801.PutMetricData",
        "x-amzn-query-mode": "true",
        "User-Agent": "cloudwatch-metrics-client/1.0",
    }
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    kw: dict[str, Any] = {"region": "us-east-1", "service": "monitoring"}
    kw["amz_date"] = "20240607T080910Z"

    ours = SIGNERS[signer_name]("AKIDEXAMPLE", SECRET, token).sign(
        "POST", CW_URL, headers, body, **kw
    )
    boto = _botocore_add_auth(
        "POST", CW_URL, headers, body, access_key="AKIDEXAMPLE", token=token, **kw
    )
    assert ours["Authorization"] == boto["Authorization"]
    expected = "content-type;host;x-amz-date" + (";x-amz-security-token" if token else "")
    expected = ("content-encoding;" if gzipped else "") + expected + ";x-amz-target"
    assert f"SignedHeaders={expected};x-amzn-query-mode," in ours["Authorization"]
    assert ours["X-Amz-Date"] == boto["X-Amz-Date"] == kw["amz_date"]
    assert ours.get("X-Amz-Security-Token") == boto.get("X-Amz-Security-Token") == token
    assert list(ours) == ["X-Amz-Date", *(["X-Amz-Security-Token"] if token else []),
                          "Authorization"]  # fmt: skip


def test_signed_headers_narrows_what_is_signed() -> None:
    kw: dict[str, Any] = {"region": "us-east-1", "service": "monitoring"}
    kw["amz_date"] = "20240607T080910Z"
    headers = {"Host": CW_HOST, "Content-Type": "application/x-amz-json-1.0", "X-A": "1"}
    body = _cw_body(False)
    for signer in (
        StaticSigner("AKID", SECRET, TOKEN, signed_headers=()),
        BotocoreSigner(_Session("AKID", SECRET, TOKEN), signed_headers=()),  # type: ignore[arg-type]
    ):
        narrow = signer.sign("POST", CW_URL, headers, body, **kw)
        boto = _botocore_add_auth(
            "POST", CW_URL, {"Host": CW_HOST}, body, access_key="AKID", token=TOKEN, **kw
        )
        assert narrow["Authorization"] == boto["Authorization"]
        assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in narrow["Authorization"]
    one = StaticSigner("AKID", SECRET, signed_headers=["x-a"]).sign(
        "POST", CW_URL, headers, body, **kw
    )
    assert "SignedHeaders=host;x-a;x-amz-date," in one["Authorization"]


def test_stale_signature_headers_in_the_input_are_replaced() -> None:
    kw: dict[str, Any] = {"region": "us-east-1", "service": "svc", "amz_date": "20240101T000000Z"}
    stale = {
        "authorization": "old", "x-amz-date": "19990101T000000Z", "X-Amz-Security-Token": "o",
        "Date": "Mon, 01 Jan 1999 00:00:00 GMT",
    }  # fmt: skip
    signer = StaticSigner("AKID", SECRET, TOKEN)
    out = signer.sign("POST", "https://h/", stale, b"{}", **kw)
    assert out == signer.sign("POST", "https://h/", {}, b"{}", **kw)
    assert out["X-Amz-Security-Token"] == TOKEN
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in out["Authorization"]


# --- property test against botocore -------------------------------------------------------

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
    return {
        "method": draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"])),
        "url": f"{scheme}://{host}{path}" + (f"?{query}" if query else ""),
        "headers": headers,
        "body": draw(st.binary(max_size=512)),
        "access_key": "AKID" + draw(st.text("ABCDEFG0123", max_size=8)),
        "token": draw(st.none() | st.text("abcXYZ/+=", min_size=1, max_size=20)),
        "region": draw(st.sampled_from(["us-east-1", "eu-west-2", "ap-southeast-1"])),
        "service": draw(st.sampled_from(["monitoring", "logs", "execute-api"])),
        "amz_date": when.strftime("%Y%m%dT%H%M%SZ"),
        "signer": draw(st.sampled_from(sorted(SIGNERS))),
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_requests())
def test_matches_botocore_property(req: dict[str, Any]) -> None:
    kw = {k: req[k] for k in ("region", "service", "amz_date")}
    args = (req["method"], req["url"], req["headers"], req["body"])
    signer = SIGNERS[req["signer"]](req["access_key"], SECRET, req["token"])
    ours = signer.sign(*args, **kw)
    boto = _botocore_add_auth(*args, access_key=req["access_key"], token=req["token"], **kw)
    assert ours["Authorization"] == boto["Authorization"]
    assert ours.get("X-Amz-Security-Token") == boto.get("X-Amz-Security-Token")


# --- the deprecated alias ------------------------------------------------------------------


def test_aws_requests_auth_signer_is_a_deprecated_static_signer() -> None:
    with pytest.warns(DeprecationWarning, match="use StaticSigner"):
        alias = AwsRequestsAuthSigner("AKID", SECRET, TOKEN, region="eu-west-1")
    assert isinstance(alias, StaticSigner)
    assert alias.region == "eu-west-1"
    kw: dict[str, Any] = {"region": "us-east-1", "service": "monitoring"}
    kw["amz_date"] = "20240607T080910Z"
    headers = {"Host": CW_HOST, "Content-Type": "application/x-amz-json-1.0"}
    assert alias.sign("POST", CW_URL, headers, b"{}", **kw) == StaticSigner(
        "AKID", SECRET, TOKEN
    ).sign("POST", CW_URL, headers, b"{}", **kw)
    assert SECRET not in repr(alias) and TOKEN not in repr(alias)
