"""The README's account of the async reporter's default transport matches the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = textwrap.dedent(
    """
    import asyncio, importlib.util, sys
    hidden = set(sys.argv[1].split(",")) - {""}
    real_find_spec = importlib.util.find_spec

    def find_spec(name, package=None):
        if name.split(".")[0] in hidden:
            return None
        return real_find_spec(name, package)

    class Hide:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in hidden:
                raise ModuleNotFoundError(name, name=name)

    importlib.util.find_spec = find_spec
    sys.meta_path.insert(0, Hide())
    from cloudwatch_metrics_client._resolve import default_async_transport_async

    async def main():
        transport = await default_async_transport_async()
        print(type(transport).__name__, type(getattr(transport, "inner", None)).__name__)
        await transport.aclose()

    asyncio.run(main())
    """
)


def _default_with(hidden: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",  # nothing is sent; never real AWS anyway
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
    )
    return subprocess.run(
        [sys.executable, "-c", PROBE, hidden],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()[0]  # fmt: skip


def test_async_default_order_is_httpx_aiobotocore_boto3() -> None:
    pytest.importorskip("aiobotocore")
    assert _default_with("") == "HttpxTransport"
    assert _default_with("httpx") == "AioBotocoreTransport"
    assert _default_with("httpx,aiobotocore") == "ToThread"  # boto3 in a worker thread


def test_readme_states_that_order() -> None:
    readme = " ".join((ROOT / "README.md").read_text().split())
    sentence = re.search(r"The async reporter's default transport is[^.]*\.", readme)
    assert sentence is not None
    text = sentence.group(0)
    positions = [text.find(word) for word in ("httpx", "aiobotocore", "boto3 in a")]
    assert -1 not in positions and positions == sorted(positions), text
