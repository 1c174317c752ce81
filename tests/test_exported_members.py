"""Every public name is exported, documented and presented as a member of its package."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["cwmetrics_core", "cwmetrics_transports", "cloudwatch_metrics_client"]


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
        if isinstance(member, type) or callable(member):
            assert member.__module__ == package, f"{package}.{name}: {member.__module__}"
            assert member.__doc__, f"{package}.{name} has no docstring"
