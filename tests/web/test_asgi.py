"""The ASGI middleware with Starlette and FastAPI, served by uvicorn on 127.0.0.1 (lifespan
included), recorded into the local CloudWatch."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cloudwatch_metrics_client import CloudWatchAsyncMetricReporter, Metrics
from cloudwatch_metrics_client.asgi import MetricsMiddleware
from cwmetrics_transports.testing import LocalCloudWatch

from .conftest import NS, dims, latency_series, serve_asgi


def new_reporter(cw: LocalCloudWatch) -> CloudWatchAsyncMetricReporter:
    return CloudWatchAsyncMetricReporter(None, client=cw.boto3_client(), handle_sigterm=False)


def fastapi_app(metrics: Metrics) -> Any:
    from fastapi import APIRouter, FastAPI

    app = FastAPI()
    router = APIRouter(prefix="/v1")

    @router.get("/users/{user_id}")
    async def user(user_id: int) -> dict[str, int]:
        return {"user": user_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/health")
    async def health() -> str:
        return "ok"

    app.include_router(router)
    app.add_middleware(MetricsMiddleware, metrics=metrics, skip_paths={"/health"})
    return app


@pytest.mark.slow_e2e  # a real uvicorn server; importing FastAPI alone takes ~1 s
def test_fastapi_routes_and_lifespan_start_and_drain_the_reporter(
    local_cloudwatch: LocalCloudWatch,
) -> None:
    reporter = new_reporter(local_cloudwatch)
    with serve_asgi(fastapi_app(Metrics(NS, reporter))) as url:
        assert reporter.running  # started by the lifespan startup
        with httpx.Client(base_url=url) as client:
            for i in range(3):
                assert client.get(f"/v1/users/{i}").json() == {"user": i}
            assert client.get("/v1/users/abc").status_code == 422
            assert client.get("/nowhere").status_code == 404
            assert client.post("/v1/users/1").status_code == 405
            assert client.get("/health").status_code == 200
        # Last, on its own connection: uvicorn closes the connection after an exception.
        assert httpx.get(url + "/boom").status_code == 500
    assert not reporter.running  # drained and stopped by the lifespan shutdown
    assert reporter.stats.buffered == 0 and reporter.stats.dropped == 0
    assert latency_series(local_cloudwatch) == {
        dims("/v1/users/{user_id}"): 3,
        dims("/v1/users/{user_id}", status="4xx"): 1,
        dims("(unmatched)", status="4xx"): 1,
        dims("/v1/users/{user_id}", "POST", "4xx"): 1,
        dims("/boom", status="5xx"): 1,
    }
    assert latency_series(local_cloudwatch, "RequestErrors") == {dims("/boom", status="5xx"): 1}


def test_starlette_mounts_give_the_full_template(local_cloudwatch: LocalCloudWatch) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    async def item(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["item_id"])

    async def deep(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["x"])

    inner = [Route("/items/{item_id}", item), Mount("/deep", routes=[Route("/{x}", deep)])]
    app = Starlette(routes=[Mount("/api", routes=inner), Route("/top/{item_id}", item)])
    reporter = new_reporter(local_cloudwatch)
    with serve_asgi(MetricsMiddleware(app, Metrics(NS, reporter))) as url, httpx.Client(
        base_url=url
    ) as client:
        assert client.get("/api/items/5").text == "5"
        assert client.get("/api/deep/6").text == "6"
        assert client.get("/top/7").text == "7"
    assert latency_series(local_cloudwatch) == {
        dims("/api/items/{item_id}"): 1,
        dims("/api/deep/{x}"): 1,
        dims("/top/{item_id}"): 1,
    }


def test_a_reporter_the_application_runs_itself_is_left_to_it(
    local_cloudwatch: LocalCloudWatch,
) -> None:
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette

    reporter = new_reporter(local_cloudwatch)

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        await reporter.run()
        yield

    app = MetricsMiddleware(Starlette(lifespan=lifespan), Metrics(NS, reporter))
    with serve_asgi(app) as url:
        httpx.get(url + "/x")
    assert reporter.running  # not stopped by the middleware: the application owns it


def test_an_app_without_lifespan_support_still_gets_the_reporter_managed(
    local_cloudwatch: LocalCloudWatch,
) -> None:
    async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError("only http")  # lifespan unsupported
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    reporter = new_reporter(local_cloudwatch)
    app = MetricsMiddleware(
        raw_app, Metrics(NS, reporter), route=lambda scope: scope["path"].rsplit("/", 1)[0]
    )
    with serve_asgi(app) as url:
        assert reporter.running
        for i in range(2):
            assert httpx.get(f"{url}/things/{i}").status_code == 204
    assert not reporter.running
    assert latency_series(local_cloudwatch) == {dims("/things"): 2}


def test_manage_reporter_false_leaves_it_alone(local_cloudwatch: LocalCloudWatch) -> None:
    from starlette.applications import Starlette

    reporter = new_reporter(local_cloudwatch)
    app = MetricsMiddleware(Starlette(), Metrics(NS, reporter), manage_reporter=False)
    with serve_asgi(app):
        assert not reporter.running
