"""The standard AWS configuration, read through botocore's own loaders.

Profile, region, configured endpoint (``AWS_ENDPOINT_URL_CLOUDWATCH``,
``AWS_ENDPOINT_URL``, a profile's ``endpoint_url`` and its ``[services]`` section, all
switched off by ``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS``) and CA bundle (``AWS_CA_BUNDLE``,
a profile's ``ca_bundle``) come from a ``botocore.session.Session``, exactly as a boto3
client would see them; nothing here re-implements those rules. botocore is imported only
by the callers that use it.
"""

from __future__ import annotations

import os
from typing import Any

from ._errors import ProfileNotFoundError, TransportError

__all__ = ["botocore_session_of", "check_profile", "config_variable", "configured_endpoint"]

#: The botocore client name of CloudWatch.
CLIENT_NAME = "cloudwatch"


def botocore_session_of(session: Any) -> Any:
    """The botocore session behind a boto3/aioboto3 session, or ``session`` itself."""
    inner = getattr(session, "_session", None)
    return inner if inner is not None and hasattr(inner, "get_scoped_config") else session


def check_profile(session: Any) -> None:
    """Fail early when the session's profile does not exist.

    Raises:
        ProfileNotFoundError: ``AWS_PROFILE`` (or the session's profile) names a profile
            missing from the AWS config and credentials files.
    """
    from botocore.exceptions import ProfileNotFound

    try:
        session.get_scoped_config()
    except ProfileNotFound as exc:
        profile = getattr(exc, "kwargs", {}).get("profile") or getattr(session, "profile", None)
        raise ProfileNotFoundError(str(profile)) from None


def config_variable(session: Any, name: str) -> Any:
    """``session.get_config_variable(name)``, the profile checked first.

    Raises:
        ProfileNotFoundError: the session's profile does not exist.
    """
    check_profile(session)
    return session.get_config_variable(name)


def _source_of(session: Any, url: str) -> str:
    for name in ("AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_ENDPOINT_URL"):
        if os.environ.get(name) == url:
            return name
    config_file = session.get_config_variable("config_file")
    profile = session.get_config_variable("profile") or "default"
    return (
        f"the AWS config file {config_file!r} (profile {profile!r}: endpoint_url, or its "
        "[services] section)"
    )


def configured_endpoint(session: Any, *, ignore: bool | None = None) -> tuple[str | None, str]:
    """The endpoint URL the AWS configuration sets for CloudWatch, and where it was set.

    Uses botocore's ``ConfiguredEndpointProvider``, the provider botocore's own clients
    consult: ``AWS_ENDPOINT_URL_CLOUDWATCH``, then ``AWS_ENDPOINT_URL``, then the
    profile's ``[services]`` section (``cloudwatch = endpoint_url = ...``), then the
    profile's ``endpoint_url``.

    Args:
        session: a ``botocore.session.Session``.
        ignore: ``True`` to ignore configured endpoints (a client ``Config``'s
            ``ignore_configured_endpoint_urls``); ``None``: botocore's setting
            (``AWS_IGNORE_CONFIGURED_ENDPOINT_URLS``, ``ignore_configured_endpoint_urls``).

    Returns:
        ``(url, source)``, or ``(None, "")`` when no endpoint is configured.

    Raises:
        ProfileNotFoundError: the session's profile does not exist.
        TransportError: the profile names a ``[services]`` section that does not exist.
    """
    from botocore.configprovider import ConfiguredEndpointProvider
    from botocore.exceptions import BotoCoreError

    check_profile(session)
    if ignore is None:
        ignore = bool(session.get_config_variable("ignore_configured_endpoint_urls"))
    if ignore:
        return None, ""
    try:
        provider = ConfiguredEndpointProvider(
            full_config=session.full_config,
            scoped_config=session.get_scoped_config(),
            client_name=CLIENT_NAME,
        )
        url = provider.provide()
    except BotoCoreError as exc:  # InvalidConfigError: a missing [services] section
        raise TransportError(f"invalid AWS configuration: {exc}") from None
    if not url:
        return None, ""
    return str(url), _source_of(session, str(url))
