"""The distribution's version: the one place it is written.

setuptools reads it for the package metadata (``dynamic = ["version"]`` in pyproject.toml);
``cwmetrics_core``, ``cwmetrics_transports`` and ``cloudwatch_metrics_client`` export it as
``__version__``, and ``cloudwatch-metrics-client --version`` prints it.
"""

__version__ = "1.0.0.dev0"
