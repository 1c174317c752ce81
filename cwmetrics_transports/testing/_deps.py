"""The optional packages the local CloudWatch needs, checked with an install hint."""

from __future__ import annotations

import importlib

from .._errors import MissingDependencyError

__all__ = ["require_server_dependencies"]

#: What ``LocalCloudWatch.start()`` imports: werkzeug serves, moto stores and answers.
SERVER_MODULES = ("werkzeug.serving", "moto.moto_server.werkzeug_app", "moto.cloudwatch")
INSTALL_HINT = "pip install 'cloudwatch-metrics-client[testing]'"


def require_server_dependencies() -> None:
    """Check that the local CloudWatch endpoint can start.

    Raises:
        MissingDependencyError: (an ``ImportError``) moto's server or werkzeug is not
            installed; the message names the extra to install.
    """
    for module in SERVER_MODULES:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            missing = exc.name or module
            raise MissingDependencyError(
                f"the local CloudWatch needs {missing!r}, which is not installed: "
                f"{INSTALL_HINT}"
            ) from exc
