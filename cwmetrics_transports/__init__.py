"""cwmetrics_transports: adapters that send cwmetrics_core batches.

Each adapter reports what happened as :class:`~cwmetrics_core.SendOutcome` data; the core
decides what to retry. Optional dependencies are imported lazily, inside each adapter.
"""

import contextlib

from cwmetrics_core import __version__ as __version__

from ._base import AsyncTransport, ToThread, Transport
from ._boto3 import AioBotocoreTransport, Boto3Transport, async_transport_for, transport_for_client
from ._dryrun import DryRunTransport
from ._errors import (
    CredentialsError,
    InsecureEndpointError,
    MissingDependencyError,
    TransportError,
    check_endpoint,
    outcome_from_http,
)
from ._httpx import HttpxTransport
from ._signers import AwsRequestsAuthSigner, BotocoreSigner, Signer, StaticSigner

__all__ = [
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
    "InsecureEndpointError",
    "MissingDependencyError",
    "ToThread",
    "Transport",
    "TransportError",
    "check_endpoint",
    "outcome_from_http",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("cwmetrics_transports."):
        with contextlib.suppress(AttributeError, TypeError):
            _obj.__module__ = "cwmetrics_transports"
del _name, _obj, contextlib
