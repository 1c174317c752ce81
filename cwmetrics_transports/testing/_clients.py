"""boto3 clients pointed at a local endpoint, in either CloudWatch wire protocol."""

from __future__ import annotations

import copy
from typing import Any, Literal

__all__ = ["ClientProtocol", "make_client", "FAKE_CREDENTIALS"]

#: Wire protocol to force on a client; ``None`` keeps botocore's choice (JSON 1.0 on 1.43+).
ClientProtocol = Literal["json", "query"] | None
#: The dummy credentials the local endpoint expects (moto ignores signatures).
FAKE_CREDENTIALS = ("testing", "testing")


def _force_protocol(botocore_session: Any, protocol: str) -> None:
    """Make ``botocore_session`` load CloudWatch's model with only ``protocol``.

    botocore picks the wire protocol from the service model's ``protocols`` list, so
    the only way to get a query-protocol client on botocore 1.43 is to edit the model
    the session's loader returns.
    """
    loader = botocore_session.get_component("data_loader")
    original = loader.load_service_model

    def load_service_model(service_name: str, type_name: str, api_version: Any = None) -> Any:
        model = original(service_name, type_name, api_version)
        if service_name == "cloudwatch" and type_name == "service-2":
            model = copy.deepcopy(model)
            model["metadata"]["protocol"] = protocol
            model["metadata"]["protocols"] = [protocol]
        return model

    loader.load_service_model = load_service_model


def make_client(
    endpoint_url: str,
    region: str,
    *,
    protocol: ClientProtocol = None,
    config: Any = None,
) -> Any:
    """Build a boto3 CloudWatch client for a local endpoint.

    Args:
        endpoint_url: the endpoint, e.g. ``"http://127.0.0.1:5000"``.
        region: the signing region.
        protocol: force ``"json"`` or ``"query"`` (``None``: botocore's default).
        config: an optional ``botocore.config.Config`` merged over the defaults.

    Returns:
        A ``boto3`` CloudWatch client (typed ``Any`` so boto3 stays optional).
    """
    import boto3
    import botocore.session
    from botocore.config import Config

    botocore_session = botocore.session.Session()
    if protocol is not None:
        _force_protocol(botocore_session, protocol)
    merged = Config(region_name=region)
    if config is not None:
        merged = merged.merge(config)
    session = boto3.Session(botocore_session=botocore_session)
    return session.client(
        "cloudwatch",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=FAKE_CREDENTIALS[0],
        aws_secret_access_key=FAKE_CREDENTIALS[1],
        aws_session_token=None,
        config=merged,
    )
