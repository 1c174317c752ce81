"""The PNG charts of the benchmark page (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._record import LABELS

OURS_COLOR, FLOOR_COLOR, PEER_COLOR, OLD_COLOR = "#1f77b4", "#9e9e9e", "#ff7f0e", "#d62728"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _color(name: str) -> str:
    if name.startswith("dict"):
        return FLOOR_COLOR
    if name.startswith("ours"):
        return OURS_COLOR
    if name.startswith("peer006"):
        return OLD_COLOR
    return PEER_COLOR


def record_rows(r: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(key, ns/event, ratio to the dict floor) for every contender, fastest first."""
    rec = r["record"]
    floor = rec["ns_per_event"]["dict_baseline"]
    rows = [(k, v, v / floor) for k, v in rec["ns_per_event"].items()]
    old = rec.get("peer006")
    if old:
        rows += [(k, v, v / floor) for k, v in old["ns_per_event"].items() if k != "dict_baseline"]
    return sorted(rows, key=lambda row: row[1])


def chart_record(r: dict[str, Any], path: Path) -> None:
    plt = _plt()
    rows = record_rows(r)
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.4))
    names = [LABELS.get(k, k) for k, _, _ in rows][::-1]
    values = [v for _, v, _ in rows][::-1]
    ax.barh(names, values, color=[_color(k) for k, _, _ in rows][::-1])
    ax.set_xscale("log")
    for y, (value, (_, _, ratio)) in enumerate(zip(values, rows[::-1], strict=True)):
        ax.text(value * 1.05, y, f"{value:,.0f} ns  ({ratio:.1f}x floor)", va="center", fontsize=8)
    ax.set_xlim(min(values) / 1.5, max(values) * 6)
    rec = r["record"]
    ax.set_title(
        f"Record cost per event, {rec['n_events']:,} events / {rec['n_series']} series "
        "(lower is better)",
        fontsize=10,
    )
    ax.set_xlabel(f"ns per event (log scale), best of {rec['repeat']} runs")
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def wire_rows(r: dict[str, Any]) -> list[tuple[str, float, float, str]]:
    """(label, requests, wire bytes, color) of the wire section."""
    w = r["wire"]
    rows = [
        ("ideal minimum", w["ideal"]["requests"], float("nan"), FLOOR_COLOR),
        (
            "ours, HttpxTransport",
            w["ours_httpx"]["requests"],
            w["ours_httpx"]["wire_bytes"],
            OURS_COLOR,
        ),
        (
            "ours, Boto3Transport",
            w["ours_boto3"]["requests"],
            w["ours_boto3"]["wire_bytes"],
            OURS_COLOR,
        ),
    ]
    for key, label in (
        ("peer006", "0.0.6, strict endpoint"),
        ("peer006_lenient", "0.0.6, lenient endpoint"),
    ):
        if key in w:
            lost = w[key]["samples_lost_fraction"]
            shown = label + (f" ({lost:.0%} of data lost)" if lost else "")
            rows.append((shown, w[key]["requests"], w[key]["wire_bytes"], OLD_COLOR))
    ext = w["naive_boto3"]["extrapolated"]
    rows.append(("naive boto3 per event (extrap.)", ext["requests"], ext["wire_bytes"], PEER_COLOR))
    return rows


def chart_wire(r: dict[str, Any], path: Path) -> None:
    plt = _plt()
    rows = wire_rows(r)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.8))
    labels = [row[0] for row in rows][::-1]
    ax1.barh(labels, [row[1] for row in rows][::-1], color=[row[3] for row in rows][::-1])
    ax1.set_xscale("log")
    ax1.set_title("PutMetricData requests (log)", fontsize=10)
    sized = [row for row in rows if row[2] == row[2]]
    sized.append(
        (
            "botocore JSON, per-event datums",
            r["wire"]["botocore_json"]["per_event_bytes"],
            r["wire"]["botocore_json"]["per_event_bytes"],
            FLOOR_COLOR,
        )
    )
    ax2.barh(
        [row[0] for row in sized][::-1],
        [row[2] / 1e3 for row in sized][::-1],
        color=[row[3] for row in sized][::-1],
    )
    ax2.set_xscale("log")
    ax2.set_title("bytes on the wire, kB (log)", fontsize=10)
    for y, row in enumerate(rows[::-1]):
        ax1.text(row[1], y, f" {row[1]:,.0f}", va="center", fontsize=7)
    for y, row in enumerate(sized[::-1]):
        ax2.text(row[2] / 1e3, y, f" {row[2] / 1e3:,.0f}", va="center", fontsize=7)
    ax1.set_xlim(0.5, max(row[1] for row in rows) * 20)
    ax2.set_xlim(min(row[2] for row in sized) / 3e3, max(row[2] for row in sized) * 20 / 1e3)
    for ax in (ax1, ax2):
        ax.grid(axis="x", which="both", alpha=0.3)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def chart_simple(
    path: Path,
    title: str,
    labels: list[str],
    series: dict[str, list[float]],
    xlabel: str,
    log: bool = False,
    line: float | None = None,
) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(labels) * max(1, len(series)) / 1.5 + 1.5))
    height = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        ys = [y + i * height for y in range(len(labels))]
        ax.barh(ys, values, height=height, label=name)
        for y, v in zip(ys, values, strict=True):
            ax.text(v, y, f" {v:,.0f}" if v >= 100 else f" {v:.3g}", va="center", fontsize=8)
    ax.set_yticks([y + height * (len(series) - 1) / 2 for y in range(len(labels))], labels)
    if log:
        ax.set_xscale("log")
    if line is not None:
        ax.axvline(line, color="red", linestyle="--", label=f"target {line:g}")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_charts(r: dict[str, Any], img: Path) -> list[str]:
    """Write every chart this run has data for; their file names."""
    img.mkdir(parents=True, exist_ok=True)
    written = []
    if "record" in r:
        chart_record(r, img / "record-cost.png")
        written.append("record-cost.png")
    if "wire" in r:
        chart_wire(r, img / "wire.png")
        written.append("wire.png")
    if "encoding" in r:
        e = r["encoding"]
        chart_simple(
            img / "encoding.png",
            "Encoding throughput, datums/s (higher is better)",
            ["JSON 1.0", "query"],
            {
                "ours": [e["json_ours_datums_per_s"], e["query_ours_datums_per_s"]],
                "botocore": [e["json_botocore_datums_per_s"], e["query_botocore_datums_per_s"]],
            },
            "datums per second",
        )
        written.append("encoding.png")
    if "flush" in r:
        f = r["flush"]
        kinds = [k for k in ("httpx", "httpx_cold", "httpx_nogc", "dryrun") if k in f]
        chart_simple(
            img / "flush.png",
            f"Event-loop stall during a flush of {f['n_series']:,} series",
            kinds,
            {
                "worst": [f[k]["worst_stall_ms"] for k in kinds],
                "p99": [f[k]["p99_stall_ms"] for k in kinds],
            },
            "ms (log)",
            log=True,
            line=f["target_stall_ms"],
        )
        written.append("flush.png")
    if "memory" in r:
        m = r["memory"]["workload"]
        names = sorted(m, key=lambda k: m[k]["peak_bytes"])
        chart_simple(
            img / "memory.png",
            "Memory recording the workload (tracemalloc), MB",
            [LABELS.get(k, k) for k in names],
            {
                "retained": [m[k]["retained_bytes"] / 1e6 for k in names],
                "peak": [m[k]["peak_bytes"] / 1e6 for k in names],
            },
            "MB",
        )
        written.append("memory.png")
    return written
