"""Every public name is exported, documented and presented as a member of its package."""

from __future__ import annotations

import importlib
import inspect
import types

import pytest

PACKAGES = [
    "cwmetrics_core",
    "cwmetrics_transports",
    "cwmetrics_transports.testing",
    "cloudwatch_metrics_client",
    "cloudwatch_metrics_client.asgi",
    "cloudwatch_metrics_client.wsgi",
    "cloudwatch_metrics_client.aiohttp",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_exported_members(package: str) -> None:
    module = importlib.import_module(package)
    exported = set(module.__all__)
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, type(module))
    }
    assert public - {"annotations"} <= exported | {"__version__"}, public - exported
    for name in exported:
        member = getattr(module, name)
        # A generic alias (``tuple[str, ...]``) passes isinstance(..., type) on Python 3.10.
        is_class = isinstance(member, type) and not isinstance(member, types.GenericAlias)
        if is_class or inspect.isfunction(member):
            where = member.__module__
            public_submodule = where.startswith(package + ".") and not any(
                part.startswith("_") for part in where[len(package) + 1 :].split(".")
            )
            assert where == package or public_submodule, f"{package}.{name}: {where}"
            assert member.__doc__, f"{package}.{name} has no docstring"
