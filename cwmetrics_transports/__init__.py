"""cwmetrics_transports: adapters that send cwmetrics_core batches.

Each adapter reports what happened as :class:`~cwmetrics_core.SendOutcome` data; the core
decides what to retry. Optional dependencies are imported lazily, inside each adapter.
"""

import contextlib

from ._base import AsyncTransport, ToThread, Transport
from ._dryrun import DryRunTransport
from ._errors import (
    CredentialsError,
    InsecureEndpointError,
    MissingDependencyError,
    TransportError,
    check_endpoint,
    outcome_from_http,
)

__all__ = [
    "AsyncTransport",
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
