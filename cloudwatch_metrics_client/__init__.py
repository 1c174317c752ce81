"""cloudwatch_metrics_client: collect application metrics and report them to CloudWatch."""

__all__: list[str] = []
__version__ = "1.0.0.dev0"
