"""The aiohttp middleware, served by aiohttp on 127.0.0.1, recorded into the local
CloudWatch; ``setup_metrics`` starts and drains the reporter with the application."""

from __future__ import annotations

import asyncio

import httpx

from cloudwatch_metrics_client import CloudWatchAsyncMetricReporter, Metrics
from cloudwatch_metrics_client.aiohttp import setup_metrics
from cwmetrics_transports.testing import LocalCloudWatch

from .conftest import NS, dims, latency_series


def test_aiohttp_routes_errors_and_reporter_life(local_cloudwatch: LocalCloudWatch) -> None:
    from aiohttp import web

    reporter = CloudWatchAsyncMetricReporter(
        None, client=local_cloudwatch.boto3_client(), handle_sigterm=False
    )

    async def user(request: web.Request) -> web.Response:
        return web.Response(text=request.match_info["user_id"])

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("boom")

    async def gone(request: web.Request) -> web.Response:
        raise web.HTTPGone()

    async def main() -> list[int]:
        app = web.Application()
        app.router.add_get("/users/{user_id}", user)
        app.router.add_get("/boom", boom)
        app.router.add_get("/gone", gone)
        app.router.add_get("/health", gone)
        setup_metrics(app, Metrics(NS, reporter), skip_paths={"/health"})
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        assert reporter.running
        port = runner.addresses[0][1]
        codes = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for path in ("/users/1", "/users/2", "/nope", "/boom", "/gone", "/health"):
                codes.append((await client.get(path)).status_code)
            codes.append((await client.post("/users/1")).status_code)
        await runner.cleanup()
        return codes

    assert asyncio.run(main()) == [200, 200, 404, 500, 410, 410, 405]
    assert not reporter.running
    assert latency_series(local_cloudwatch) == {
        dims("/users/{user_id}"): 2,
        dims("(unmatched)", status="4xx"): 1,
        dims("/boom", status="5xx"): 1,
        dims("/gone", status="4xx"): 1,
        dims("(unmatched)", "POST", "4xx"): 1,
    }
    assert latency_series(local_cloudwatch, "RequestErrors") == {dims("/boom", status="5xx"): 1}
