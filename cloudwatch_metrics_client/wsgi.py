"""WSGI middleware: request latency and errors for Flask, Django and any WSGI app.

Example (Flask)::

    from flask import Flask
    from cloudwatch_metrics_client import CloudWatchSyncMetricReporter, Metrics
    from cloudwatch_metrics_client.wsgi import MetricsMiddleware

    reporter = CloudWatchSyncMetricReporter()
    metrics = Metrics("MyService", reporter)
    app = Flask(__name__)
    app.wsgi_app = MetricsMiddleware(app.wsgi_app, metrics)
    reporter.run()

Each request records ``RequestLatency`` (milliseconds, until the response body is sent
and closed) with the dimensions ``Route``, ``Method`` and ``StatusClass``, and
``RequestErrors`` (a count) when the application raised or answered 5xx. The route
template is Flask's ``url_rule`` (``/users/<int:user_id>``), Django's resolver route
(``/users/<int:pk>/``) or ``environ["cloudwatch_metrics_client.route"]`` when the
application sets it; a request no route matched is ``(unmatched)``, never the raw path.
No framework is imported unless the application is one.
"""

import contextlib

from ._wsgi import ROUTE_KEY, MetricsMiddleware

__all__ = ["MetricsMiddleware", "ROUTE_KEY"]

for _name in __all__:
    with contextlib.suppress(AttributeError, TypeError):
        globals()[_name].__module__ = __name__
del _name, contextlib
