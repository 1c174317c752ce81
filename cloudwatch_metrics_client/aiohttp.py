"""aiohttp middleware: request latency and errors of an ``aiohttp.web`` application.

Example::

    from aiohttp import web
    from cloudwatch_metrics_client import CloudWatchAsyncMetricReporter, Metrics
    from cloudwatch_metrics_client.aiohttp import setup_metrics

    metrics = Metrics("MyService", CloudWatchAsyncMetricReporter())
    app = web.Application()
    setup_metrics(app, metrics)     # the middleware, and the reporter started/stopped

Each request records ``RequestLatency`` (milliseconds, until the handler returns) with the
dimensions ``Route`` (the resource's canonical path, e.g. ``/users/{id}``; ``(unmatched)``
when no route matched, never the raw path), ``Method`` and ``StatusClass``, and
``RequestErrors`` (a count) when the handler raised something other than an HTTP
exception, or the status is 5xx. aiohttp is imported when the middleware is built, not
when this module is.
"""

import contextlib

from ._aiohttp import metrics_middleware, setup_metrics

__all__ = ["metrics_middleware", "setup_metrics"]

for _name in __all__:
    with contextlib.suppress(AttributeError, TypeError):
        globals()[_name].__module__ = __name__
del _name, contextlib
