"""Command line: ``python -m cloudwatch_metrics_client demo [--help]``, ``--version``."""

from __future__ import annotations

import argparse
import sys

from cwmetrics_core import __version__


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cloudwatch-metrics-client`` command."""
    parser = argparse.ArgumentParser(
        prog="cloudwatch-metrics-client",
        description="CloudWatch metrics client utilities.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}",
        help="print the version and exit",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="run a simulated service, report its metrics, read them back and compare",
        description=(
            "Runs a small simulated service (async handlers and a sync worker thread), "
            "reports its metrics to an embedded local CloudWatch (unless --endpoint-url or "
            "--aws), reads them back and prints a table per series and a verdict."
        ),
    )
    demo.add_argument("--duration", type=float, default=10.0, help="seconds to run (10)")
    demo.add_argument(
        "--transport",
        choices=("httpx", "boto3", "dry-run"),
        default="httpx",
        help="how to send (default httpx)",
    )
    target = demo.add_mutually_exclusive_group()
    target.add_argument("--endpoint-url", help="a CloudWatch-compatible endpoint to use")
    target.add_argument(
        "--aws", action="store_true", help="use real CloudWatch with your AWS configuration"
    )
    demo.add_argument("--region", help="AWS region (default: environment, else us-east-1)")
    demo.add_argument("--rate", type=float, default=300.0, help="requests per second (300)")
    demo.add_argument("--plot", metavar="FILE.png", help="write a latency distribution chart")
    demo.add_argument("--quiet", action="store_true", help="no live progress line")
    args = parser.parse_args(argv)
    from ._demo import run_demo

    return run_demo(args)


if __name__ == "__main__":
    sys.exit(main())
