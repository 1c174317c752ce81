"""`demo --aws` without credentials fails fast with one clear line, contacting nothing."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_aws_without_credentials_fails_fast() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_CONFIG_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",  # never ask an instance metadata service
        # Guards: were anything sent anyway, it would go to a closed local port.
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        NO_PROXY="",
    )
    result = subprocess.run(
        [sys.executable, "-m", "cloudwatch_metrics_client", "demo", "--aws",
         "--duration", "1", "--quiet"],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no AWS credentials found" in lines[0]
    assert "Traceback" not in result.stderr
    assert "namespace" not in result.stdout  # nothing was started
