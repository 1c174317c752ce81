"""The httpx transport honours the standard AWS configuration as boto3 does.

Profile ``endpoint_url`` and ``[services]`` sections, ``AWS_ENDPOINT_URL*``,
``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS``, ``AWS_CA_BUNDLE`` / ``ca_bundle``, the profile's
region, and a missing ``AWS_PROFILE``, with temporary config files and real listeners on
127.0.0.1 (the local CloudWatch; a TLS listener with a throw-away CA).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import time
from pathlib import Path
from typing import Any

import pytest

from cwmetrics_core import CoreConfig, MetricKey, MetricsCore, PutMetricDataRequest, WireFormat
from cwmetrics_transports import (
    AioBotocoreTransport,
    Boto3Transport,
    CredentialsError,
    HttpxTransport,
    ProfileNotFoundError,
)
from cwmetrics_transports.testing import LocalCloudWatch

from .rawserver import RawServer

NS = "Test/AwsConfig"


@pytest.fixture
def config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty AWS config file in use, keys in the environment, nothing else set."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_REGION",
                 "AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                 "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE", "AWS_SESSION_TOKEN", "HTTP_PROXY",
                 "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "config"
    config.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return config


def _request(wire_format: WireFormat = WireFormat.JSON) -> PutMetricDataRequest:
    now = time.time()
    core = MetricsCore(CoreConfig(wire_format=wire_format), now=now)
    core.record_value(MetricKey(NS, "Latency", unit="Milliseconds"), 2.5, now)
    core.flush(now)
    batch = core.next_batch(now)
    assert batch is not None
    return batch.request


def _send_both(transport: HttpxTransport) -> list[Any]:
    """One sync and one async send; closes the transport."""
    outcomes = [transport.send(_request())]

    async def asend() -> Any:
        try:
            return await transport.asend(_request())
        finally:
            await transport.aclose()

    outcomes.append(asyncio.run(asend()))
    return outcomes


@pytest.mark.parametrize("where", ["profile", "services", "named-profile"])
def test_httpx_sends_to_the_endpoint_configured_in_the_profile(
    local_cloudwatch: LocalCloudWatch, config_file: Path, monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:  # fmt: skip
    """A local endpoint configured in the AWS config file (the profile's
    ``endpoint_url``, its ``[services]`` section, or a profile chosen with
    ``AWS_PROFILE``) is where the httpx transport sends, with the profile's region:
    the local CloudWatch receives both the sync and the async request."""
    cw = local_cloudwatch
    if where == "profile":
        config_file.write_text(f"[default]\nregion = {cw.region}\nendpoint_url = {cw.url}\n")
    elif where == "services":
        config_file.write_text(
            f"[default]\nregion = {cw.region}\nservices = local\n"
            f"[services local]\ncloudwatch =\n  endpoint_url = {cw.url}\n"
        )
    else:
        config_file.write_text(
            "[default]\nregion = eu-west-1\n"
            f"[profile local]\nregion = {cw.region}\nendpoint_url = {cw.url}\n"
        )
        monkeypatch.setenv("AWS_PROFILE", "local")
    transport = HttpxTransport()
    assert (transport.endpoint_url, transport.region) == (cw.url, cw.region)
    before = cw.stats().put_accepted
    assert [o.ok for o in _send_both(transport)] == [True, True]
    assert cw.stats().put_accepted == before + 2


def test_environment_endpoints_win_over_the_profile_and_can_be_ignored(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore's order: ``AWS_ENDPOINT_URL_CLOUDWATCH``, ``AWS_ENDPOINT_URL``, the
    ``[services]`` section, the profile; ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true``
    (or the profile's ``ignore_configured_endpoint_urls``) ignores them all. Both
    transports agree."""
    config_file.write_text(
        "[default]\nregion = eu-west-1\nendpoint_url = https://profile.example\n"
        "services = s\n[services s]\ncloudwatch =\n  endpoint_url = https://services.example\n"
    )

    def both() -> tuple[str, str]:
        httpx_url = HttpxTransport().endpoint_url
        boto = Boto3Transport()
        boto_url = boto.client.meta.endpoint_url
        boto.close()
        return httpx_url, boto_url.rstrip("/")

    assert both() == ("https://services.example",) * 2
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://global.example")
    assert both() == ("https://global.example",) * 2
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", "https://cw.example")
    assert both() == ("https://cw.example",) * 2
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert both() == ("https://monitoring.eu-west-1.amazonaws.com",) * 2
    monkeypatch.delenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
    config_file.write_text(
        "[default]\nregion = eu-west-1\nignore_configured_endpoint_urls = true\n"
        "endpoint_url = https://profile.example\n"
    )
    assert both() == ("https://monitoring.eu-west-1.amazonaws.com",) * 2


def _build(kind: str) -> Any:
    if kind == "httpx":
        return HttpxTransport()
    if kind == "boto3":
        return Boto3Transport()
    return asyncio.run(AioBotocoreTransport.create())


@pytest.mark.parametrize("kind", ["httpx", "boto3", "aiobotocore"])
def test_a_missing_aws_profile_fails_early_and_names_it(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """``AWS_PROFILE`` naming a profile that no file defines: building the transport
    raises ``ProfileNotFoundError`` (a ``CredentialsError``) naming the profile, rather
    than sending with some other configuration."""
    config_file.write_text("[default]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(ProfileNotFoundError) as raised:
        _build(kind)
    assert isinstance(raised.value, CredentialsError)
    assert raised.value.profile == "no-such-profile"
    assert "'no-such-profile'" in str(raised.value)
    if kind == "httpx":  # even when nothing else would be read from the profile
        import ssl

        with pytest.raises(ProfileNotFoundError):
            HttpxTransport(
                region="us-east-1", endpoint_url="https://cw.example",
                verify=ssl.create_default_context(),
            )  # fmt: skip


def _tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A throw-away CA certificate and a server certificate for 127.0.0.1 signed by it;
    returns ``(ca.pem, server.pem)`` (the server file holds its key too)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def cert(subject: str, key: Any, issuer: Any, issuer_key: Any, ca: bool) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            ).add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            ).add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cwmetrics test CA")])
    ca_cert = cert("cwmetrics test CA", ca_key, ca_name, ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    server_cert = cert("127.0.0.1", key, ca_name, ca_key, False)
    ca_pem, server_pem = tmp_path / "ca.pem", tmp_path / "server.pem"
    ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    server_pem.write_bytes(
        server_cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_pem, server_pem


@pytest.mark.parametrize("where", ["profile", "environment"])
def test_httpx_verifies_tls_with_the_configured_ca_bundle(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, where: str
) -> None:
    """A TLS listener on 127.0.0.1 whose certificate is signed by a private CA: with
    the CA named by the profile's ``ca_bundle`` or ``AWS_CA_BUNDLE`` both sends succeed
    (as boto3's would); without it the certificate is rejected (``NetworkError``)."""
    import ssl

    ca_pem, server_pem = _tls_files(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server_pem)
    with RawServer("ok", tls=context) as server:
        config_file.write_text("[default]\nregion = us-east-1\n")
        untrusted = HttpxTransport(endpoint_url=server.url, timeout=5)
        refused = untrusted.send(_request())
        untrusted.close()
        if where == "profile":
            config_file.write_text(f"[default]\nregion = us-east-1\nca_bundle = {ca_pem}\n")
        else:
            monkeypatch.setenv("AWS_CA_BUNDLE", str(ca_pem))
        outcomes = _send_both(HttpxTransport(endpoint_url=server.url, timeout=5))
        boto = Boto3Transport(endpoint_url=server.url, timeout=5)
        outcomes.append(boto.send(_request(boto.wire_format)))
        boto.close()
    assert refused.error_code == "NetworkError" and "CERTIFICATE_VERIFY_FAILED" in refused.message
    assert [o.ok for o in outcomes] == [True, True, True], outcomes
    assert len(server.received) == 3


def test_a_missing_ca_bundle_is_a_clear_error(config_file: Path) -> None:
    """A ``ca_bundle`` that cannot be loaded fails when the transport is built."""
    from cwmetrics_transports import TransportError

    config_file.write_text("[default]\nregion = us-east-1\nca_bundle = /nonexistent/ca.pem\n")
    with pytest.raises(TransportError, match=r"CA bundle '/nonexistent/ca\.pem'"):
        HttpxTransport()
