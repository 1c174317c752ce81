"""Choosing a transport: explicit, from a client object, or the default for what is installed."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from cwmetrics_transports import (
    AsyncTransport,
    MissingDependencyError,
    ToThread,
    Transport,
)

__all__ = [
    "sync_transport",
    "async_transport",
    "default_sync_transport",
    "default_async_transport",
    "default_async_transport_async",
]


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


#: Set by the AWS Lambda runtime in every function's environment.
LAMBDA_ENV = "AWS_LAMBDA_FUNCTION_NAME"


def _in_lambda() -> bool:
    return bool(os.environ.get(LAMBDA_ENV))


def default_sync_transport() -> Transport:
    """boto3 when installed, else httpx (sync), configured from the AWS environment.

    Inside AWS Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set): an ``EmfTransport`` to stdout
    (or to ``AWS_EMF_AGENT_ENDPOINT``), so no API call is on the invocation's path.

    Raises:
        MissingDependencyError: neither is installed.
        TransportError: no region, or an insecure endpoint.
    """
    if _in_lambda():
        from cwmetrics_transports import EmfTransport

        return EmfTransport()
    if _installed("boto3"):
        from cwmetrics_transports import Boto3Transport

        return Boto3Transport()
    if _installed("httpx"):
        from cwmetrics_transports import HttpxTransport

        return HttpxTransport()
    raise MissingDependencyError(
        "no transport available: pip install 'cloudwatch-metrics-client[boto3]' (or [httpx])"
    )


def default_async_transport() -> AsyncTransport:
    """httpx when installed, else boto3 in a worker thread, from the AWS environment.

    (An aiobotocore client needs an event loop to create: see
    :func:`default_async_transport_async`, which the async reporter uses.) Inside AWS
    Lambda: an ``EmfTransport``, as :func:`default_sync_transport`.

    Raises:
        MissingDependencyError: neither is installed.
    """
    if _in_lambda():
        from cwmetrics_transports import EmfTransport

        return EmfTransport()
    if _installed("httpx"):
        from cwmetrics_transports import HttpxTransport

        return HttpxTransport()
    if _installed("boto3"):
        from cwmetrics_transports import Boto3Transport

        return ToThread(Boto3Transport())
    raise MissingDependencyError(
        "no transport available: pip install 'cloudwatch-metrics-client[httpx]' (or [boto3])"
    )


async def default_async_transport_async() -> AsyncTransport:
    """httpx when installed, else aiobotocore (created here), else boto3 in a thread.

    Raises:
        MissingDependencyError: none of them is installed.
        TransportError: no region or credentials, or an insecure endpoint.
    """
    if not _in_lambda() and not _installed("httpx") and _installed("aiobotocore"):
        from cwmetrics_transports import AioBotocoreTransport

        return await AioBotocoreTransport.create()
    return default_async_transport()


def sync_transport(client: Any) -> Transport:
    """A sync transport for ``client``: one of ours, or a boto3/botocore client.

    Raises:
        TypeError: an async-only transport or client, or an unknown object.
    """
    from cwmetrics_transports import transport_for_client

    transport = transport_for_client(client)
    if not isinstance(transport, Transport):
        raise TypeError(
            f"{type(client).__name__} is async-only; the sync reporter needs a sync client "
            "(a boto3 client, Boto3Transport, HttpxTransport or DryRunTransport)"
        )
    return transport


def async_transport(client: Any) -> AsyncTransport:
    """An async transport for ``client``; sync ones run in a worker thread.

    Raises:
        TypeError: an unknown object.
    """
    from cwmetrics_transports import async_transport_for

    return async_transport_for(client)
