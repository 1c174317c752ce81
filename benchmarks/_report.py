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
#: Where each target comes from: an open issue, or the project's own goal.
ISSUE_11, ISSUE_13, OWN = "#11", "#13", "project goal"


def _target(
    name: str,
    measured: float,
    limit: float | None,
    unit: str,
    higher_is_better: bool,
    *,
    source: str = OWN,
    section: str = "",
    fmt: str = ".3g",
) -> dict[str, Any]:
    """One row of the targets table. ``limit=None``: a figure the issue asks to report
    (met when measured). ``section``: where the page explains the figure (and a miss)."""
    shown = f"{measured:{fmt}}{unit}"
    if limit is None:
        met, margin = True, "reported"
    elif higher_is_better:
        met = measured >= limit
        margin = (
            "met"
            if met
            else f"missed: {shown} vs >= {limit:g}{unit} ({limit / measured:.2f}x short)"
        )
    else:
        met = measured <= limit
        margin = (
            "met"
            if met
            else f"missed: {shown} vs <= {limit:g}{unit} ({measured / limit:.2f}x over)"
        )
    return {
        "target": name,
        "measured": measured,
        "shown": shown,
        "limit": limit,
        "unit": unit,
        "met": met,
        "margin": margin,
        "higher_is_better": higher_is_better,
        "source": source,
        "section": section,
    }


def _record_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    rec = r["record"]
    ratio, ns = rec["ratio_vs_dict"], rec["ns_per_event"]
    out = [
        _target(
            "seed `put_metric`, sync / dict floor",
            ratio["ours_sync_put_metric"],
            1.5,
            "x",
            False,
            source=ISSUE_11,
            section="1 (layer table and cProfile)",
        ),
        _target(
            "seed `put_metric`, async / dict floor",
            ratio["ours_async_put_metric"],
            1.6,
            "x",
            False,
            source=ISSUE_11,
            section="1 (layer table and cProfile)",
        ),
    ]
    old = (rec.get("peer006") or {}).get("ns_per_event", {})
    if "peer006_sync_put_statistic" in old and "ours_sync_put_statistic" in ns:
        out.append(
            _target(
                "`put_statistic`: ours / 0.0.6's `put_statistic` (ns per event, same run)",
                ns["ours_sync_put_statistic"] / old["peer006_sync_put_statistic"],
                1.0,
                "x",
                False,
                source=ISSUE_11,
                section="1",
            )
        )
    mon = rec["monitored_task"]
    for kind in ("sync", "async"):
        out.append(
            _target(
                f"`monitored_task` overhead, {kind}",
                mon[f"{kind}_overhead"] / 1e3,
                1.0,
                " us",
                False,
                source=ISSUE_11,
                section="1",
                fmt=".2f",
            )
        )
    if "ours_emf_put_metric" in ns and "aws_embedded_metrics" in ns:
        out.append(
            _target(
                "record cost: `put_metric` with `EmfTransport` / aws-embedded-metrics "
                "`put_metric` (same workload)",
                ns["ours_emf_put_metric"] / ns["aws_embedded_metrics"],
                1.0,
                "x",
                False,
                source=ISSUE_13,
                section="1; section 7 says why",
            )
        )
    ours = ns["ours_sync_put_metric"]
    for key, label, limit in (
        ("prometheus_client", "prometheus_client / ours (speed-up)", 2.0),
        ("opentelemetry_sdk", "OTel SDK / ours (speed-up)", 5.0),
    ):
        if key in ns:
            out.append(_target(label, ns[key] / ours, limit, "x", True, section="1"))
    return out


def _emf_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    e = r["emf"]["workloads"]
    out = []
    ref = e["exact"]["bytes"].get("aws_embedded_metrics")
    if ref:
        for key, limit in (("exact", 1.0), ("quantized", 1.0), ("repeat", 0.25)):
            w = e[key]
            base = e[key]["bytes"].get("aws_embedded_metrics", ref)  # same samples
            out.append(
                _target(
                    f"EMF log bytes per sample / aws-embedded-metrics', {w['label']}",
                    w["bytes"]["ours"] / base,
                    limit,
                    "x",
                    False,
                    source=ISSUE_13,
                    section="7",
                )
            )
    exact = [w for w in e.values() if "series_expected" in w]
    if exact:
        out.append(
            _target(
                "EMF totals exact per series (series exact / expected, both workloads)",
                sum(w["series_exact"] for w in exact) / sum(w["series_expected"] for w in exact),
                1.0,
                "",
                True,
                source=ISSUE_13,
                section="7",
            )
        )
    return out


def evaluate_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the open issues (#11, #13) this run measured, then the project's
    own goals; each with met/missed, the margin and the section that explains it."""
    out: list[dict[str, Any]] = []
    if r.get("record"):
        out += _record_targets(r)
    enc = r.get("encoding")
    if enc:
        out.append(
            _target(
                "encoding speed-up vs botocore, JSON",
                enc["json_speedup"],
                6.0,
                "x",
                True,
                source=ISSUE_11,
                section="3 (cProfile)",
            )
        )
        out.append(
            _target(
                "encoding speed-up vs botocore, query",
                enc["query_speedup"],
                5.0,
                "x",
                True,
                source=ISSUE_11,
                section="3 (cProfile)",
            )
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
                        source=ISSUE_11,
                        section="4 (pieces and cProfile)",
                    )
                )
    mem = r.get("memory")
    if mem and "public_api" in mem:
        api = mem["public_api"]
        out.append(
            _target(
                "memory per buffered series",
                api["buffered_per_series"],
                None,
                " bytes",
                False,
                source=ISSUE_11,
                section="5",
                fmt=",.0f",
            )
        )
        out.append(
            _target(
                "memory per in-flight datum (held by the request until acked)",
                api["request_per_datum"],
                None,
                " bytes",
                False,
                source=ISSUE_11,
                section="5",
                fmt=",.0f",
            )
        )
    if r.get("emf"):
        out += _emf_targets(r)
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
                section="2",
            )
        )
        out.append(
            _target(
                "wire bytes / botocore JSON (per-event datums)",
                wire["ratios"]["wire_vs_botocore_per_event_json"],
                0.5,
                "x",
                False,
                section="2",
            )
        )
        out.append(
            _target(
                "data delivered exactly (series exact / expected)",
                ours["series_exact"] / ours["series_expected"],
                1.0,
                "",
                True,
                section="2",
            )
        )
    order = {ISSUE_11: 0, ISSUE_13: 1, OWN: 2}
    return sorted(out, key=lambda t: order[t["source"]])


# ------------------------------------------------------------------ markdown
def _header(r: dict[str, Any], command: str) -> list[str]:
    m, p = r["meta"], r["params"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{command}` on {m['date']} from one run that took {r['runtime_s']:.0f} s"
        + (
            " (" + ", ".join(f"{name} {took:.0f} s" for name, took in r["section_s"].items()) + ")."
            if r.get("section_s")
            else "."
        ),
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
            t["source"] if t["source"] == OWN else f"issue {t['source']}",
            t["target"],
            t["shown"],
            "report it"
            if t["limit"] is None
            else f"{'>=' if t['higher_is_better'] else '<='} {t['limit']:g}{t['unit']}",
            t["margin"] if t["met"] else f"**{t['margin']}**; see section {t['section']}",
        ]
        for t in r["targets"]
    ]
    return [
        "## Targets",
        "",
        "Every target of the open issues (#11 the core redesign, #13 the EMF sink) that this "
        "run measured, then the project's own goals (targets no open issue names). Every "
        "ratio is of two figures timed in this same run.",
        "",
        *table(["from", "target", "measured", "limit", "result"], rows),
    ]


def _misses(r: dict[str, Any]) -> list[str]:
    missed = [t for t in r["targets"] if not t["met"]]
    if not missed:
        return ["## Misses", "", "None: every target measured in this run was met.", ""]
    lines = [
        "## Misses",
        "",
        "Each miss, by how much, and the section with its measurements; "
        "[Performance notes](performance.md) explains the causes found so far.",
        "",
    ]
    for t in missed:
        source = "the project's own goal" if t["source"] == OWN else f"issue {t['source']}"
        lines.append(
            f"- {t['target']} ({source}): {t['margin']}"
            + (f"; see section {t['section']}." if t["section"] else ".")
        )
    return [*lines, ""]


def render_markdown(r: dict[str, Any], charts: list[str], command: str) -> str:
    """The whole page."""
    lines = _header(r, command) + _targets(r)
    for name in ("record", "wire", "encoding", "flush", "memory", "otlp", "emf"):
        if name in r:
            lines += getattr(_sections, name)(r, charts)
    lines += _misses(r)
    return "\n".join(lines).rstrip() + "\n"


#: Everything from this line to the end of the page is written by a benchmark of its own
#: (``python -m benchmarks.bench_signing``) and kept when the page is rewritten.
KEPT_MARKER = "<!-- Kept when python -m benchmarks rewrites this page: sections of their own. -->"
#: Kept sections that the run now generates itself: dropped from the kept part.
NOW_GENERATED = ("## Embedded Metric Format",)


def kept_sections(old_page: str) -> str:
    """The part of an existing page that a rewrite keeps: from :data:`KEPT_MARKER` on,
    without the ``## `` sections the run now writes itself (:data:`NOW_GENERATED`)."""
    start = old_page.find(KEPT_MARKER)
    if start < 0:
        return ""
    head, *sections = old_page[start:].split("\n## ")
    kept = [head.rstrip()] + [
        "## " + body.rstrip() for body in sections if not ("## " + body).startswith(NOW_GENERATED)
    ]
    return "\n" + "\n\n".join(kept).rstrip() + "\n"


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
