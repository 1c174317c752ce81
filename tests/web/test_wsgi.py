"""The WSGI middleware with Flask and Django, served by wsgiref on 127.0.0.1, recorded into
the local CloudWatch."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cloudwatch_metrics_client import CloudWatchSyncMetricReporter, Metrics
from cloudwatch_metrics_client.wsgi import ROUTE_KEY, MetricsMiddleware
from cwmetrics_core import OVERFLOW_MARKER, CoreConfig, InvalidConfigError
from cwmetrics_transports.testing import LocalCloudWatch

from .conftest import NS, dims, latency_series, serve_wsgi


@pytest.fixture
def reporter(local_cloudwatch: LocalCloudWatch) -> Iterator[CloudWatchSyncMetricReporter]:
    reporter = CloudWatchSyncMetricReporter(
        None, client=local_cloudwatch.boto3_client(), handle_sigterm=False
    )
    yield reporter
    reporter.stop()


def flask_app() -> Any:
    from flask import Flask

    app = Flask("webtest")

    @app.get("/users/<int:user_id>")
    def user(user_id: int) -> str:
        return f"user {user_id}"

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("boom")

    @app.get("/health")
    def health() -> str:
        return "ok"

    @app.get("/stream")
    def stream() -> Any:
        return app.response_class(iter([b"a", b"b"]))

    return app


def test_flask_routes_methods_status_classes_and_errors(
    local_cloudwatch: LocalCloudWatch, reporter: CloudWatchSyncMetricReporter
) -> None:
    app = flask_app()
    app.wsgi_app = MetricsMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, Metrics(NS, reporter), skip_paths={"/health"}
    )
    with serve_wsgi(app) as url, httpx.Client(base_url=url) as client:
        for i in range(3):
            assert client.get(f"/users/{i}").status_code == 200
        assert client.get("/users/x").status_code == 404  # no rule matches: not the path
        assert client.get("/nowhere/at/all").status_code == 404
        assert client.post("/users/1").status_code == 405
        assert client.get("/boom").status_code == 500
        assert client.get("/health").status_code == 200  # skipped
        assert client.get("/stream").content == b"ab"
    assert reporter.stop() is True
    assert latency_series(local_cloudwatch) == {
        dims("/users/<int:user_id>"): 3,
        dims("(unmatched)", status="4xx"): 2,
        dims("(unmatched)", "POST", "4xx"): 1,  # Flask matches no rule for a 405
        dims("/boom", status="5xx"): 1,
        dims("/stream"): 1,
    }
    assert latency_series(local_cloudwatch, "RequestErrors") == {dims("/boom", status="5xx"): 1}


def test_options_rename_drop_add_and_route_hook(
    local_cloudwatch: LocalCloudWatch, reporter: CloudWatchSyncMetricReporter
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"].startswith("/items/"):
            environ[ROUTE_KEY] = "/items/{id}"  # any framework can name its route
        start_response("201 Created", [("Content-Type", "text/plain")])
        return [b"ok"]

    middleware = MetricsMiddleware(
        app,
        Metrics(NS, reporter),
        metric_name="Latency",
        error_metric_name=None,
        dimension_names={"Route": "Endpoint", "StatusClass": None},
        add_dimensions=lambda environ: {"Tenant": environ.get("HTTP_X_TENANT", "none")},
        skip_paths=lambda path: path.startswith("/internal/"),
        route=lambda environ: "/hooked" if environ["PATH_INFO"] == "/h" else None,
    )
    with serve_wsgi(middleware) as url, httpx.Client(base_url=url) as client:
        client.get("/items/7", headers={"X-Tenant": "a"})
        client.delete("/items/8")
        client.get("/h")
        client.request("BREW", "/items/9")
        client.get("/internal/metrics")
    assert reporter.stop() is True
    assert latency_series(local_cloudwatch, "Latency") == {
        (("Endpoint", "/items/{id}"), ("Method", "GET"), ("Tenant", "a")): 1,
        (("Endpoint", "/items/{id}"), ("Method", "DELETE"), ("Tenant", "none")): 1,
        (("Endpoint", "/hooked"), ("Method", "GET"), ("Tenant", "none")): 1,
        (("Endpoint", "/items/{id}"), ("Method", "OTHER"), ("Tenant", "none")): 1,
    }


def test_a_recording_failure_never_breaks_the_request_and_is_counted(
    local_cloudwatch: LocalCloudWatch,
    reporter: CloudWatchSyncMetricReporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"ok"]

    # An empty dimension value is refused by CloudWatch's rules: the request still works.
    middleware = MetricsMiddleware(app, Metrics(NS, reporter), add_dimensions={"Tenant": ""})
    with caplog.at_level(logging.WARNING, "cloudwatch_metrics_client"), serve_wsgi(
        middleware
    ) as url, httpx.Client(base_url=url) as client:
        assert client.get("/").text == "ok"
        assert client.get("/").text == "ok"
    assert middleware.recorder.recording_errors == 2
    assert len([r for r in caplog.records if "could not record" in r.message]) == 1


def test_cardinality_guard_folds_raw_paths_into_one_overflow_series(
    local_cloudwatch: LocalCloudWatch, caplog: pytest.LogCaptureFixture
) -> None:
    reporter = CloudWatchSyncMetricReporter(
        None,
        client=local_cloudwatch.boto3_client(),
        config=CoreConfig(flush_interval=3600.0, max_series_per_metric=3),
        handle_sigterm=False,
    )

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"ok"]

    # The mistake the guard exists for: the raw path as the route.
    middleware = MetricsMiddleware(
        app, Metrics(NS, reporter), route=lambda environ: environ["PATH_INFO"]
    )
    with serve_wsgi(middleware) as url, httpx.Client(base_url=url) as client:
        for i in range(10):
            client.get(f"/users/{i}")
    with caplog.at_level(logging.WARNING, "cloudwatch_metrics_client"):
        assert reporter.flush() is True
        with serve_wsgi(middleware) as url, httpx.Client(base_url=url) as client:
            client.get("/users/10")  # folded again: counted, the warning is rate-limited
        assert reporter.stop() is True
    stats = reporter.stats.core
    assert stats.folded_samples == 8 and stats.custom_metrics == 4
    series = latency_series(local_cloudwatch)
    overflow = (("Method", OVERFLOW_MARKER), ("Route", OVERFLOW_MARKER))
    overflow += (("StatusClass", OVERFLOW_MARKER),)
    assert series == {
        dims("/users/0"): 1, dims("/users/1"): 1, dims("/users/2"): 1, overflow: 8,
    }  # fmt: skip
    warnings = [r.message for r in caplog.records if "cardinality guard" in r.message]
    assert len(warnings) == 1 and "7 new sample(s)" in warnings[0], warnings


def test_a_body_that_fails_half_way_is_an_error(
    local_cloudwatch: LocalCloudWatch, reporter: CloudWatchSyncMetricReporter
) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        raise RuntimeError("lost the database half-way")

    with (
        serve_wsgi(MetricsMiddleware(app, Metrics(NS, reporter))) as url,
        contextlib.suppress(httpx.HTTPError),  # a truncated response, as sent
    ):
        httpx.get(url + "/report")
    assert reporter.stop() is True
    assert latency_series(local_cloudwatch, "RequestErrors") == {dims("(unmatched)"): 1}
    assert latency_series(local_cloudwatch) == {dims("(unmatched)"): 1}


def django_app() -> Any:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="test-only",
            ROOT_URLCONF="tests.web.django_urls",
            ALLOWED_HOSTS=["127.0.0.1"],
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            LOGGING_CONFIG=None,
        )
        django.setup()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def test_django_resolver_routes(
    local_cloudwatch: LocalCloudWatch, reporter: CloudWatchSyncMetricReporter
) -> None:
    middleware = MetricsMiddleware(django_app(), Metrics(NS, reporter))
    with serve_wsgi(middleware) as url, httpx.Client(base_url=url) as client:
        assert client.get("/users/5/").text == "user 5"
        assert client.get("/users/6/").text == "user 6"
        assert client.get("/api/v1/items/").text == "items"
        assert client.get("/").text == "home"
        assert client.get("/nope/").status_code == 404
        assert client.get("/boom/").status_code == 500
    assert reporter.stop() is True
    assert latency_series(local_cloudwatch) == {
        dims("/users/<int:pk>/"): 2,
        dims("/api/v1/items/"): 1,
        dims("/"): 1,
        dims("(unmatched)", status="4xx"): 1,
        dims("/boom/", status="5xx"): 1,
    }
    assert latency_series(local_cloudwatch, "RequestErrors") == {dims("/boom/", status="5xx"): 1}


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("dimension_names", {"Path": "X"}),
        ("dimension_names", {"Route": ""}),
        ("add_dimensions", 3),
        ("skip_paths", "/health"),
        ("metric_name", ""),
        ("unmatched_route", ""),
        ("route", "not callable"),
    ],
)
def test_bad_options_name_the_option(
    option: str, value: object, reporter: CloudWatchSyncMetricReporter
) -> None:
    with pytest.raises(InvalidConfigError, match=option):
        MetricsMiddleware(lambda e, s: [], Metrics(NS, reporter), **{option: value})


def test_metrics_must_be_a_metrics_instance() -> None:
    with pytest.raises(InvalidConfigError, match="metrics"):
        MetricsMiddleware(lambda e, s: [], object())  # type: ignore[arg-type]
