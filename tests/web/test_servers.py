"""Multi-process servers end to end: gunicorn (4 sync workers, ``--preload``) with Flask and
uvicorn (2 workers) with Starlette, on 127.0.0.1, reporting to the local CloudWatch
through the default transport; each server is stopped with SIGTERM, as a deployment
does, and every request must be counted exactly once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from cwmetrics_transports.testing import ENV_VARS_TO_UNSET, LocalCloudWatch

from .conftest import dims, latency_series

pytestmark = [
    pytest.mark.slow_e2e,
    pytest.mark.skipif(sys.platform == "win32", reason="gunicorn and SIGTERM: POSIX only"),
]

NS = "Web/E2E"

FLASK_APP = f"""
import os
from flask import Flask
from cloudwatch_metrics_client import CloudWatchSyncMetricReporter, Metrics
from cloudwatch_metrics_client.wsgi import MetricsMiddleware

# Created and started at import: with --preload that is in gunicorn's master, before
# the fork; each worker restarts its own reporting thread with an empty buffer.
reporter = CloudWatchSyncMetricReporter(report_interval=60)
app = Flask(__name__)

@app.get("/items/<int:item_id>")
def item(item_id):
    return str(os.getpid())

@app.get("/ready")
def ready():
    return "ok"

app.wsgi_app = MetricsMiddleware(app.wsgi_app, Metrics({NS!r}, reporter),
                                 skip_paths={{"/ready"}})
reporter.run()
"""

STARLETTE_APP = f"""
import os
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from cloudwatch_metrics_client import CloudWatchAsyncMetricReporter, Metrics
from cloudwatch_metrics_client.asgi import MetricsMiddleware

async def item(request):
    return PlainTextResponse(str(os.getpid()))

async def ready(request):
    return PlainTextResponse("ok")

# One reporter per worker process (uvicorn spawns them); the middleware starts it on
# the lifespan startup and drains it on the shutdown that SIGTERM triggers.
reporter = CloudWatchAsyncMetricReporter(report_interval=60)
app = MetricsMiddleware(
    Starlette(routes=[Route("/items/{{item_id:int}}", item), Route("/ready", ready)]),
    Metrics({NS!r}, reporter),
    skip_paths={{"/ready"}},
)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(cw: LocalCloudWatch, app_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS_TO_UNSET}
    env.update(cw.env())
    env["PYTHONPATH"] = os.pathsep.join([str(app_dir), env.get("PYTHONPATH", "")])
    return env


def _serve_and_count(
    cw: LocalCloudWatch, tmp_path: Path, source: str, command: list[str], port: int, n: int
) -> set[str]:
    """Start the server, send ``n`` requests, SIGTERM it; returns the worker pids seen."""
    (tmp_path / "webapp.py").write_text(textwrap.dedent(source), encoding="utf-8")
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen(
        command, cwd=tmp_path, env=_env(cw, tmp_path), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90  # seconds on a loaded machine, spawning workers
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(base + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)

        with httpx.Client(base_url=base, timeout=10) as client, ThreadPoolExecutor(8) as pool:

            def get(i: int) -> str:
                response = client.get(f"/items/{i}")
                assert response.status_code == 200
                return response.text

            pids = set(pool.map(get, range(n)))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) is not None

    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
    return pids


def test_gunicorn_4_sync_workers_preload_sigterm_counts_every_request_once(
    local_cloudwatch: LocalCloudWatch, tmp_path: Path
) -> None:
    port, n = _free_port(), 200
    import gunicorn.config

    command = [
        sys.executable, "-m", "gunicorn", "--workers", "4", "--preload",
        "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "20", "webapp:app",
    ]  # fmt: skip
    if any(s.name == "control_socket_disable" for s in gunicorn.config.KNOWN_SETTINGS):
        command.insert(-1, "--no-control-socket")  # 25.1+: no socket in $HOME
    pids = _serve_and_count(local_cloudwatch, tmp_path, FLASK_APP, command, port, n)
    assert len(pids) >= 2, pids  # several workers served (the kernel spreads accepts)
    log = (tmp_path / "server.log").read_text()
    assert latency_series(local_cloudwatch, namespace=NS) == {
        dims("/items/<int:item_id>"): n
    }, log


def test_uvicorn_2_workers_sigterm_counts_every_request_once(
    local_cloudwatch: LocalCloudWatch, tmp_path: Path
) -> None:
    port, n = _free_port(), 100
    command = [
        sys.executable, "-m", "uvicorn", "--workers", "2", "--host", "127.0.0.1",
        "--port", str(port), "--timeout-graceful-shutdown", "20", "webapp:app",
    ]  # fmt: skip
    _serve_and_count(local_cloudwatch, tmp_path, STARLETTE_APP, command, port, n)
    log = (tmp_path / "server.log").read_text()
    assert latency_series(local_cloudwatch, namespace=NS) == {
        dims("/items/{item_id:int}"): n
    }, log
