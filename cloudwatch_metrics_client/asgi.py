"""ASGI middleware: request latency and errors for Starlette, FastAPI and any ASGI app.

Example::

    from fastapi import FastAPI
    from cloudwatch_metrics_client import CloudWatchAsyncMetricReporter, Metrics
    from cloudwatch_metrics_client.asgi import MetricsMiddleware

    metrics = Metrics("MyService", CloudWatchAsyncMetricReporter())
    app = FastAPI()
    app.add_middleware(MetricsMiddleware, metrics=metrics)

Each HTTP request records ``RequestLatency`` (milliseconds) with the dimensions ``Route``
(the route template, e.g. ``/users/{user_id}``; ``(unmatched)`` when no route matched,
never the raw path), ``Method`` and ``StatusClass`` (``2xx``...), and ``RequestErrors``
(a count) when the application raised or answered 5xx. The reporter is started on the
ASGI lifespan startup and drained and stopped on shutdown, unless the application started
it itself. No framework is imported: the Starlette/FastAPI route is read from the scope.
"""

import contextlib

from ._asgi import MetricsMiddleware

__all__ = ["MetricsMiddleware"]

for _name in __all__:
    with contextlib.suppress(AttributeError, TypeError):
        globals()[_name].__module__ = __name__
del _name, contextlib
