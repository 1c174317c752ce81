"""cwmetrics_transports: adapters that send cwmetrics_core batches.

Each adapter reports what happened as :class:`~cwmetrics_core.SendOutcome` data; the core
decides what to retry. Optional dependencies are imported lazily, inside each adapter.

Logs go to the ``cwmetrics_transports`` logger tree (``cwmetrics_transports.httpx``,
``cwmetrics_transports.dryrun``), which has a ``NullHandler``.
"""

import contextlib
import logging

from cwmetrics_core import __version__ as __version__

from ._aiobotocore import AioBotocoreTransport
from ._base import AsyncTransport, ToThread, Transport, sink_for
from ._boto3 import Boto3Transport, async_transport_for, transport_for_client
from ._dryrun import DryRunTransport
from ._emf import AGENT_ENDPOINT_ENV, EmfTransport
from ._errors import (
    CredentialsError,
    InsecureEndpointError,
    InvalidEndpointError,
    MissingDependencyError,
    ProfileNotFoundError,
    TransportError,
    check_endpoint,
    outcome_from_http,
    query_error_code,
)
from ._httpx import HttpxTransport
from ._otlp import OtlpTransport
from ._signers import AwsRequestsAuthSigner, BotocoreSigner, Signer, StaticSigner

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "AGENT_ENDPOINT_ENV",
    "AioBotocoreTransport",
    "AsyncTransport",
    "AwsRequestsAuthSigner",
    "Boto3Transport",
    "BotocoreSigner",
    "HttpxTransport",
    "Signer",
    "StaticSigner",
    "async_transport_for",
    "transport_for_client",
    "CredentialsError",
    "DryRunTransport",
    "EmfTransport",
    "InsecureEndpointError",
    "InvalidEndpointError",
    "OtlpTransport",
    "MissingDependencyError",
    "ProfileNotFoundError",
    "ToThread",
    "Transport",
    "TransportError",
    "check_endpoint",
    "outcome_from_http",
    "query_error_code",
    "sink_for",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("cwmetrics_transports."):
        with contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = "cwmetrics_transports"
del _name, _obj, contextlib, logging
