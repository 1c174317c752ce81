"""Targets, machine facts, and writing the page, the charts and results.json.

Everything written here is computed from the results dict of one run; nothing is typed in.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from . import _sections
from ._charts import write_charts
from ._sections import table

#: What the benchmarks measure: a dirty tree here means the commit is not the whole story.
LIBRARY_PATHS = (
    "cloudwatch_metrics_client",
    "cwmetrics_core",
    "cwmetrics_transports",
    "pyproject.toml",
)
PACKAGES = (
    "cloudwatch-metrics-client",
    "prometheus_client",
    "opentelemetry-sdk",
    "aws-embedded-metrics",
    "aws-lambda-powertools",
    "boto3",
    "botocore",
    "httpx",
    "moto",
    "matplotlib",
)


def machine_info(repo: Path) -> dict[str, Any]:
    """CPU model, cores, OS, Python, package versions, commit and date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    from ._peer006 import peer_version

    versions["cloudwatch-metrics-client (original, subprocess)"] = peer_version() or "missing"
    commit = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *LIBRARY_PATHS],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        commit += " (library has uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        pass
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "packages": versions,
        "commit": commit,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# ------------------------------------------------------------------ targets
def _target(
    name: str, measured: float, limit: float, unit: str, higher_is_better: bool
) -> dict[str, Any]:
    met = measured >= limit if higher_is_better else measured <= limit
    if met:
        margin = "met"
    elif higher_is_better:
        margin = (
            f"missed: {measured:.3g}{unit} vs >= {limit:g}{unit} ({limit / measured:.2f}x short)"
        )
    else:
        margin = (
            f"missed: {measured:.3g}{unit} vs <= {limit:g}{unit} ({measured / limit:.2f}x over)"
        )
    return {
        "target": name,
        "measured": measured,
        "limit": limit,
        "unit": unit,
        "met": met,
        "margin": margin,
        "higher_is_better": higher_is_better,
    }


def evaluate_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue that this run measured, with met/missed and margin."""
    out: list[dict[str, Any]] = []
    rec = r.get("record")
    if rec:
        ratio, ns = rec["ratio_vs_dict"], rec["ns_per_event"]
        out.append(
            _target("sync put_metric / dict floor", ratio["ours_sync_put_metric"], 1.5, "x", False)
        )
        out.append(
            _target(
                "async put_metric / dict floor", ratio["ours_async_put_metric"], 2.0, "x", False
            )
        )
        ours = ns["ours_sync_put_metric"]
        if "prometheus_client" in ns:
            out.append(
                _target(
                    "prometheus_client / ours (speed-up)",
                    ns["prometheus_client"] / ours,
                    2.0,
                    "x",
                    True,
                )
            )
        if "opentelemetry_sdk" in ns:
            out.append(
                _target(
                    "OTel SDK / ours (speed-up)", ns["opentelemetry_sdk"] / ours, 5.0, "x", True
                )
            )
        mon = rec["monitored_task"]
        out.append(
            _target("monitored_task overhead, sync", mon["sync_overhead"] / 1e3, 1.5, " us", False)
        )
        out.append(
            _target(
                "monitored_task overhead, async", mon["async_overhead"] / 1e3, 1.5, " us", False
            )
        )
    wire = r.get("wire")
    if wire:
        ours = wire["ours_httpx"]
        out.append(
            _target(
                "requests / ideal minimum",
                ours["requests"] / wire["ideal"]["requests"],
                1.0,
                "x",
                False,
            )
        )
        out.append(
            _target(
                "wire bytes / botocore JSON (per-event datums)",
                wire["ratios"]["wire_vs_botocore_per_event_json"],
                0.5,
                "x",
                False,
            )
        )
        out.append(
            _target(
                "data delivered exactly (series exact / expected)",
                ours["series_exact"] / ours["series_expected"],
                1.0,
                "",
                True,
            )
        )
    enc = r.get("encoding")
    if enc:
        out.append(
            _target("encoding speed-up vs botocore, JSON", enc["json_speedup"], 6.0, "x", True)
        )
        out.append(
            _target("encoding speed-up vs botocore, query", enc["query_speedup"], 5.0, "x", True)
        )
    flush = r.get("flush")
    if flush:
        for kind in ("httpx", "httpx_cold", "dryrun"):
            if kind in flush:
                out.append(
                    _target(
                        f"worst event-loop stall, flush of {flush['n_series']:,} series ({kind})",
                        flush[kind]["worst_stall_ms"],
                        10.0,
                        " ms",
                        False,
                    )
                )
    return out


# ------------------------------------------------------------------ markdown
def _header(r: dict[str, Any], command: str) -> list[str]:
    m, p = r["meta"], r["params"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {m['date']} from one run that took {r['runtime_s']:.0f} s.",
        "Do not edit by hand: re-run to update. Raw figures: `benchmarks/results.json`.",
        "",
        *table(
            ["machine", ""],
            [
                ["CPU", m["cpu"]],
                ["cores", f"{m['cores']} ({m['cores_usable']} usable)"],
                ["OS", m["os"]],
                ["Python", f"{m['python']} ({m['implementation']})"],
                ["commit", m["commit"]],
                [
                    "load average (1 min) at start / end",
                    f"{r['load_average']['start'][0]:.2f} / {r['load_average']['end'][0]:.2f}",
                ],
            ],
        ),
        *table(["package", "version"], [[k, v] for k, v in m["packages"].items()]),
        f"**Workload** (fixed, seed 1): {p['n_events']:,} events over {p['n_series']} series "
        "(metric `Latency`, unit `Milliseconds`, dimensions `Op` x `Host`), values "
        "lognormal(3.0, 0.6) ms rounded to 0.1 ms. The machine is shared and noisy: every "
        f"figure is the best of {p['repeat']} runs, contenders are timed round-robin, and "
        "targets are ratios measured in this same run.",
        "",
    ]
    return lines


def _targets(r: dict[str, Any]) -> list[str]:
    rows = [
        [
            t["target"],
            f"{t['measured']:.3g}{t['unit']}",
            f"{'>=' if t['higher_is_better'] else '<='} {t['limit']:g}{t['unit']}",
            "met" if t["met"] else f"**{t['margin']}**",
        ]
        for t in r["targets"]
    ]
    return ["## Targets", "", *table(["target", "measured", "limit", "result"], rows)]


def _misses(r: dict[str, Any]) -> list[str]:
    missed = [t for t in r["targets"] if not t["met"]]
    if not missed:
        return ["## Misses", "", "None: every target measured in this run was met.", ""]
    where = {
        "put_metric": "1 (layer table)",
        "monitored": "1",
        "prometheus": "1",
        "OTel": "1",
        "requests": "2",
        "bytes": "2",
        "delivered": "2",
        "encoding": "3 (cProfile)",
        "stall": "4 (pieces and cProfile)",
    }
    lines = ["## Misses", ""]
    for t in missed:
        section = next((v for k, v in where.items() if k in t["target"]), "")
        lines.append(
            f"- {t['target']}: {t['margin']}" + (f"; see section {section}." if section else ".")
        )
    return [*lines, ""]


def render_markdown(r: dict[str, Any], charts: list[str], command: str) -> str:
    """The whole page."""
    lines = _header(r, command) + _targets(r)
    for name in ("record", "wire", "encoding", "flush", "memory", "otlp"):
        if name in r:
            lines += getattr(_sections, name)(r, charts)
    lines += _misses(r)
    return "\n".join(lines).rstrip() + "\n"


#: Everything from this line to the end of the page is written by a benchmark of its own
#: (``python -m benchmarks.bench_signing``) and kept when the page is rewritten.
KEPT_MARKER = "<!-- Kept when python -m benchmarks rewrites this page: sections of their own. -->"


def kept_sections(old_page: str) -> str:
    """The part of an existing page that a rewrite keeps: from :data:`KEPT_MARKER` on."""
    start = old_page.find(KEPT_MARKER)
    return "" if start < 0 else "\n" + old_page[start:].rstrip() + "\n"


def write_outputs(r: dict[str, Any], out: Path, command: str) -> list[Path]:
    """Write results.json, the charts and the page under ``out``; the paths written."""
    import json

    r["targets"] = evaluate_targets(r)
    img = out / "docs" / "img"
    charts = write_charts(r, img)
    page = out / "docs" / "benchmarks.md"
    page.parent.mkdir(parents=True, exist_ok=True)
    kept = kept_sections(page.read_text()) if page.exists() else ""
    page.write_text(render_markdown(r, charts, command) + kept)
    results = out / "benchmarks" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(r, indent=1, sort_keys=True, default=str) + "\n")
    return [results, page, *(img / c for c in charts)]
