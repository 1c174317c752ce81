"""The per-section markdown of the benchmark page, computed from one run's results."""

from __future__ import annotations

from typing import Any

from ._record import LABELS


def table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def profile_table(rows: list[dict[str, Any]]) -> list[str]:
    return table(
        ["function", "calls", "own ms", "cum ms", "share of own time"],
        [
            [
                f"`{p['function']}`",
                p["ncalls"],
                f"{p['tottime_ms']:.1f}",
                f"{p['cumtime_ms']:.1f}",
                f"{p['share']:.0%}",
            ]
            for p in rows
        ],
    )


def record(r: dict[str, Any], charts: list[str]) -> list[str]:
    from ._charts import record_rows

    rec = r["record"]
    lines = ["## 1. Record cost", ""]
    if "record-cost.png" in charts:
        lines += ["![record cost](img/record-cost.png)", ""]
    lines += table(
        ["contender", "ns/event", "x plain-dict floor"],
        [[LABELS.get(k, k), f"{v:,.0f}", f"{ratio:.2f}"] for k, v, ratio in record_rows(r)],
    )
    lines += [
        "The floor is `put_metric(MetricName=, Unit=, Dimensions=, Value=)` aggregating into a "
        "dict keyed by (name, unit, sorted dimensions) -> value -> count. Ours records through "
        "a reporter whose transport is `DryRunTransport` (never started: no I/O). "
        "prometheus_client: `Histogram.labels(**dims).observe(v)`; OpenTelemetry: "
        "`histogram.record(v, attributes=dims)` with an `InMemoryMetricReader`; "
        "aws-embedded-metrics: `MetricsLogger.put_metric` on one logger per series (EMF binds "
        "dimensions to the logger), never flushed; ours with `EmfTransport`: the same "
        "`put_metric` through a reporter whose transport is `EmfTransport` writing to a null "
        "stream (never flushed: recording is what is timed); 0.0.6's `put_statistic`: its "
        "own signature, `put_statistic(name=, dimensions=, value=, unit=)`; Powertools: one "
        "`EphemeralMetrics` per series, "
        "`add_dimension` per dimension then `add_metric` (it prints an EMF document every 100 "
        "values, sent to /dev/null here). 0.0.6 runs in a subprocess that times its "
        "contenders once after each of this process's rounds (same load); its ratio is to "
        "this process's floor"
        + (
            f" (the subprocess's own floor: "
            f"{rec['peer006']['ns_per_event']['dict_baseline']:,.0f} ns)."
            if rec.get("peer006")
            else "."
        ),
        "",
    ]
    old_ns = (rec.get("peer006") or {}).get("ns_per_event", {})
    ns = rec["ns_per_event"]
    if "peer006_sync_put_statistic" in old_ns:
        ours_stat, old_stat = ns["ours_sync_put_statistic"], old_ns["peer006_sync_put_statistic"]
        lines += [
            f"`put_statistic`: ours {ours_stat:,.0f} ns per event, 0.0.6's "
            f"{old_stat:,.0f} ns in the same run: **{ours_stat / old_stat:.2f}x** (the target "
            "compares these two). Each against the dict floor timed in its own process: ours "
            f"{ours_stat / ns['dict_baseline']:.2f}x, 0.0.6 "
            f"{old_stat / old_ns['dict_baseline']:.2f}x.",
            "",
        ]
    if "ours_emf_put_metric" in ns and "aws_embedded_metrics" in ns:
        emf, aws = ns["ours_emf_put_metric"], ns["aws_embedded_metrics"]
        lines += [
            f"Recording with `EmfTransport`: {emf:,.0f} ns per event against "
            f"aws-embedded-metrics' {aws:,.0f} ns: **{emf / aws:.2f}x** (section 7 says why "
            "the two calls differ).",
            "",
        ]
    mon = rec["monitored_task"]
    rows = [
        [
            "sync",
            f"{mon['sync_plain']:,.0f}",
            f"{mon['sync_monitored']:,.0f}",
            f"{mon['sync_overhead']:,.0f}",
        ],
        [
            "async",
            f"{mon['async_plain']:,.0f}",
            f"{mon['async_monitored']:,.0f}",
            f"{mon['async_overhead']:,.0f}",
        ],
    ]
    old = (rec.get("peer006") or {}).get("monitored_task")
    if old:
        rows.append(
            [
                "0.0.6 sync",
                f"{old['sync_plain']:,.0f}",
                f"{old['sync_monitored']:,.0f}",
                f"{old['sync_overhead']:,.0f}",
            ]
        )
    lines += [f"**`monitored_task`**, {rec['monitored_calls']:,} calls of a no-op (ns/call):", ""]
    lines += table(["", "undecorated", "decorated", "overhead"], rows)
    layers = rec.get("hot_path")
    if layers:
        lines += ["**Where `put_metric`'s time goes** (each layer timed alone, ns/event):", ""]
        lines += table(["layer", "ns/event", "adds (see label)"], hot_path_rows(layers))
        lines += hot_path_why(layers)
    if r.get("profile_put_metric"):
        lines += [
            "cProfile of the sync `put_metric` loop (profiler overhead inflates small "
            "calls; use the layer table for absolute costs):",
            "",
        ]
        lines += profile_table(r["profile_put_metric"])
    core = r.get("core_bench")
    if core:
        lines += [
            f"`benchmarks/bench_core.py` (core only, prebuilt keys): record_value "
            f"{core['record_value_ns']:.0f} ns vs its dict baseline {core['baseline_ns']:.0f} "
            f"ns = {core['ratio']:.2f}x.",
            "",
        ]
    return lines


def hot_path_rows(h: dict[str, float]) -> list[list[str]]:
    """Layer table: ns/event of each layer and what it adds over the one below."""
    steps = [
        ("empty loop over the events", h["empty_loop"], None),
        ("plain-dict floor (for reference)", h["dict_baseline"], None),
        (
            "`core.value_recorder` (validate, queue; a fold under a lock every 256), "
            "prebuilt key",
            h["core_record_value"],
            None,
        ),
        (
            "`reporter.record` (one more call around it), prebuilt key",
            h["core_locked"],
            h["core_locked"] - h["core_record_value"],
        ),
        (
            "dims dict -> cached key: `cache.get((name, unit, tuple(dims.items()), 60))`",
            h["key_lookup"],
            None,
        ),
        (
            "`Metrics.put_value` (keywords, the key cache, the clock, then the reporter's "
            "`recorder`), vs the recorder",
            h["metrics_put_value"],
            h["metrics_put_value"] - h["core_record_value"],
        ),
        (
            "`CloudWatchSyncMetrics.put_metric` (the same from the class-level call), vs "
            "the recorder",
            h["facade_put_metric"],
            h["facade_put_metric"] - h["core_record_value"],
        ),
        (
            "`await CloudWatchAsyncMetrics.put_metric` (vs the sync facade)",
            h["facade_async_put_metric"],
            h["facade_async_put_metric"] - h["facade_put_metric"],
        ),
    ]
    return [[name, f"{v:,.0f}", "" if d is None else f"{d:+,.0f}"] for name, v, d in steps]


def hot_path_why(h: dict[str, float]) -> list[str]:
    """Why ``put_metric`` costs what it does, from the layer table's own figures."""
    floor = h["dict_baseline"]
    facade = h["facade_put_metric"]
    return [
        (
            f"Why `put_metric` is {facade / floor:.2f}x the floor and not 1.5x: the floor is "
            "one Python call doing three dict operations. `put_metric` is three calls "
            "(the class-level `put_metric` with keywords, `Metrics._put_value`, and the "
            "store's `enqueue_value` through the reporter's `recorder`), each with its "
            "arguments, plus a 1-in-256 fold that does the floor's dict work; the two outer "
            f"calls with the key cache and the clock add {facade - h['core_record_value']:+,.0f}"
            f" ns to the recorder's {h['core_record_value']:,.0f} ns. What is left is the "
            "cost of "
            "those calls in CPython, not work that can be removed: the recording path has "
            "no lock, no Python-level hash (keys are interned) and no object per value. "
            "Instruction counts (callgrind, 10,000 events, no timing noise) say the same: "
            "see the performance notes."
        ),
        "",
    ]

def wire(r: dict[str, Any], charts: list[str]) -> list[str]:
    w = r["wire"]
    lines = ["## 2. Wire cost", ""]
    if "wire.png" in charts:
        lines += ["![wire cost](img/wire.png)", ""]
    rows = []
    names = [
        ("ours_httpx", "ours, HttpxTransport (compact JSON, gzip)"),
        ("ours_boto3", "ours, Boto3Transport (botocore JSON + its gzip)"),
        ("peer006", "cloudwatch-metrics-client 0.0.6, strict endpoint"),
        ("peer006_lenient", "0.0.6, endpoint not enforcing limits (what it would send)"),
        (
            "naive_boto3",
            f"naive boto3, 1 call per event (the first {w['naive_boto3']['events']:,}, sent)",
        ),
    ]
    for key, label in names:
        if key not in w:
            continue
        c = w[key]
        notes = []
        if c.get("rejected"):
            notes.append("rejected: " + ", ".join(f"{k} x{v}" for k, v in c["rejected"].items()))
        if c.get("error"):
            notes.append(f"client error: `{c['error'][:220]}`")
        rows.append(
            [
                label,
                f"{c['requests']:,}",
                f"{c['wire_bytes']:,}",
                f"{c['raw_bytes']:,}",
                f"{c['datums_accepted']:,}",
                f"{c['series_exact']}/{c['series_expected']}",
                f"{c['samples_lost_fraction']:.1%}",
                "; ".join(notes),
            ]
        )
    ext = w["naive_boto3"]["extrapolated"]
    exact = ext.get("wire_bytes_exact", False)
    rows.append(
        [
            f"naive boto3, all {w['n_events']:,} events",
            f"{ext['requests']:,.0f}",
            f"{ext['wire_bytes']:,.0f}",
            "",
            "",
            "",
            "",
            (
                "requests and bytes exact"
                if exact
                else f"requests exact, bytes x{ext['factor']:.0f} the sample"
            )
            + f"; {ext['elapsed_s']:,.0f} s of sending (the sample's time x{ext['factor']:.0f})",
        ]
    )
    ideal = w["ideal"]
    rows.append(
        [
            "ideal minimum",
            f"{ideal['requests']:,}",
            "",
            "",
            f"{ideal['datums']:,}",
            "",
            "",
            f"{ideal['requests_by_count']} by datum count, "
            f"{ideal['requests_by_bytes']} by 1 MB of compact JSON",
        ]
    )
    lines += table(
        [
            "contender",
            "requests",
            "wire bytes",
            "raw bytes",
            "datums accepted",
            "series exact",
            "samples lost",
            "notes",
        ],
        rows,
    )
    b, ratios = w["botocore_json"], w["ratios"]
    lines += [
        "Ideal minimum: datums = sum over series of ceil(distinct values / 150) = "
        f"{ideal['datums']:,}; requests = max(ceil(datums / 1000), ceil(raw bytes / 1,000,000)). "
        '"series exact": the endpoint\'s exact accepted record (`LocalCloudWatch.series()`) has '
        "the expected SampleCount and Sum for the series. The endpoint validates every "
        "request by CloudWatch's rules, records what it accepts and answers as CloudWatch "
        "does; moto behind it still applies its own PutMetricData checks, but neither keeps "
        "one object per sample for read APIs nothing here calls nor routes and parses "
        "each request its generic way (`Endpoint(store_samples=False)`: the answers are the "
        "same, the endpoint's CPU per request a third). The naive loop sends its first "
        f"{w['naive_boto3']['events']:,} events (one `put_metric_data` each, to the local "
        "endpoint: its time per call is the local round trip, not CloudWatch's); for all "
        "events, one request per event and botocore's body for each (uncompressed: below "
        "botocore's compression threshold) give the totals: "
        f"{b.get('per_event_method', 'serialized one by one')}"
        + (
            "; the sample's bytes on the wire equal its computed bodies."
            if exact
            else "; the sample's bytes on the wire did not equal its computed bodies."
        ),
        "",
        *table(
            ["botocore JSON, uncompressed", "bytes", "ours on the wire / it"],
            [
                [
                    "per-event datums, one request each (the naive loop)",
                    f"{b['per_event_bytes']:,}",
                    f"{ratios['wire_vs_botocore_per_event_json']:.4f}",
                ],
                [
                    "per-event datums, 1000 per request",
                    f"{b['packed_bytes']:,}",
                    f"{ratios['wire_vs_botocore_packed_json']:.4f}",
                ],
                [
                    "our aggregated datums (same datums)",
                    f"{b['same_datums_bytes']:,}",
                    f"{ratios['wire_vs_botocore_same_datums_json']:.3f}",
                ],
            ],
        ),
        f"Uncompressed, our compact JSON for the same datums is "
        f"{ratios['raw_vs_botocore_same_datums_json']:.2f}x botocore's.",
        "",
    ]
    return lines


def encoding(r: dict[str, Any], charts: list[str]) -> list[str]:
    e = r["encoding"]
    lines = ["## 3. Encoding throughput", ""]
    if "encoding.png" in charts:
        lines += ["![encoding](img/encoding.png)", ""]
    lines += table(
        ["format", "ours, datums/s", "botocore, datums/s", "speed-up"],
        [
            [
                fmt,
                f"{e[f'{fmt}_ours_datums_per_s']:,.0f}",
                f"{e[f'{fmt}_botocore_datums_per_s']:,.0f}",
                f"{e[f'{fmt}_speedup']:.1f}x",
            ]
            for fmt in ("json", "query")
        ]
        + [
            [
                label,
                f"{e[f'{name}_datums_per_s']:,.0f}",
                "",
                f"{e[f'{name}_speedup']:.1f}x",
            ]
            for name, label in (
                ("query_measure", "query, pack + measure only (the boto3 path)"),
                ("botocore_json_measure", "botocore JSON, pack + measure only (the boto3 path)"),
            )
            if f"{name}_speedup" in e
        ],
    )
    lines += [
        "From `benchmarks/bench_core.py` (its own 200,000-event workload, whatever the "
        f"flags): `batches_to_send` turning {e['json_datums']:,.0f} aggregated datums of up "
        "to 150 values into 1000-datum requests (datum building + packing + encoding; the "
        "query body, only measured while packing since botocore serializes `params` on the "
        "boto3 path, is built by reading `request.body`) vs "
        "botocore's serializer for the same params (validation off). Best of "
        f"{len(e.get('json_speedup_each_call', [0]))} calls per side; the speed-up of each "
        "call: JSON "
        + ", ".join(f"{x:.1f}x" for x in e.get("json_speedup_each_call", []))
        + "; query "
        + ", ".join(f"{x:.1f}x" for x in e.get("query_speedup_each_call", []))
        + ".",
        "",
    ]
    for key, name in (("profile_encoding", "JSON"), ("profile_encoding_query", "query")):
        if r.get(key):
            lines += [f"cProfile of our {name} datum building + pack + encode:", ""]
            lines += profile_table(r[key])
    return lines


FLUSH_KINDS = (
    ("httpx", "HttpxTransport -> local endpoint, warm transport"),
    ("httpx_cold", "HttpxTransport, the transport's first flush"),
    ("httpx_nogc", "HttpxTransport, warm, GC disabled during the flush (diagnostic)"),
    ("dryrun", "DryRunTransport (no I/O)"),
)


def flush(r: dict[str, Any], charts: list[str]) -> list[str]:
    f = r["flush"]
    lines = [f"## 4. Flush of {f['n_series']:,} series", ""]
    if "flush.png" in charts:
        lines += ["![flush](img/flush.png)", ""]
    rows = []
    for kind, label in FLUSH_KINDS:
        if kind in f:
            c = f[kind]
            rows.append(
                [
                    label,
                    f"{c['wall_s']:.2f}",
                    f"{c['worst_stall_ms']:.1f}",
                    f"{c['p99_stall_ms']:.1f}",
                    f"{c['gc_worst_pause_ms']:.1f} ({c['gc_gen2_collections']} gen2)",
                    c["requests"],
                    f"{c['datums_sent']:,}",
                    ", ".join(f"{x:.1f}" for x in c["all_worst_stall_ms"]),
                ]
            )
    headers = ["transport", "wall s", "worst stall ms", "p99 lag ms", "worst GC pause ms"]
    headers += ["requests", "datums", "worst stall of each run"]
    lines += table(headers, rows)
    p = f["batch_pieces"]
    lines += [
        "A ticker task sleeps 1 ms in a loop and records how late it wakes; the flush is "
        "`await CloudWatchAsyncMetricReporter.flush()` after one value was recorded into each "
        "series, in a fresh interpreter (the endpoint in another process: it validates and "
        "records every request, as in section 2). Every garbage "
        "collection during the "
        "flush is timed (`gc.callbacks`).",
        "",
    ]
    if "httpx" in f and "httpx_nogc" in f:
        warm, nogc = f["httpx"], f["httpx_nogc"]
        lines += [
            f"Warm httpx: worst stall {warm['worst_stall_ms']:.1f} ms, worst GC pause during "
            f"the flush {warm['gc_worst_pause_ms']:.1f} ms ({warm['gc_gen2_collections']} full "
            f"collection(s) over {warm['gc_tracked_objects']:,} GC-tracked objects; this "
            "section runs in a fresh process, so the heap is mostly the library's own "
            "series); with the "
            f"collector disabled for the flush the worst stall is {nogc['worst_stall_ms']:.1f} ms.",
            "",
        ]
    if "dryrun" in f:
        d = f["dryrun"]
        lines += [
            f"DryRunTransport: {d['ticks']} tick(s) during a {d['wall_s'] * 1e3:.0f} ms flush "
            "(its `asend` completes without awaiting anything: the loop runs between the "
            "slices in which the reporter packs each request, `MetricsCore.prepare`, and "
            "after each request).",
            "",
        ]
    lines += [
        "Synchronous work per request, timed piece by piece (ms):",
        "",
        *table(
            ["piece", "ms"],
            [
                ["seal (`core.flush`)", f"{p['seal_ms']:.2f}"],
                [
                    "pack + encode 1000 datums (`core.next_batch`), mean",
                    f"{p['pack_encode_ms_mean']:.2f}",
                ],
                ["pack + encode, worst", f"{p['pack_encode_ms_max']:.2f}"],
                *(
                    [
                        [
                            f"one `core.prepare(now, {p['slice_budget']})` slice, mean / worst",
                            f"{p['prepare_slice_ms_mean']:.2f} / {p['prepare_slice_ms_max']:.2f}",
                        ],
                        [
                            "`core.next_batch` after the slices (finish), mean / worst",
                            f"{p['finish_ms_mean']:.2f} / {p['finish_ms_max']:.2f}",
                        ],
                    ]
                    if "prepare_slice_ms_mean" in p
                    else []
                ),
                [
                    f"gzip level 1 of a {p['body_bytes_mean'] / 1e3:,.0f} kB body",
                    f"{p['gzip_ms_mean']:.2f}",
                ],
                ["SigV4 signing", f"{p['sign_ms_mean']:.2f}"],
            ],
        ),
    ]
    for kind, _label in FLUSH_KINDS:
        if f.get(f"profile_{kind}"):
            lines += [
                f"cProfile of one flush ({kind}), event-loop thread, idle waiting excluded:",
                "",
                *profile_table(f[f"profile_{kind}"]),
            ]
    return lines


def memory(r: dict[str, Any], charts: list[str]) -> list[str]:
    m = r["memory"]
    lines = ["## 5. Memory", ""]
    if "memory.png" in charts:
        lines += ["![memory](img/memory.png)", ""]
    api = m.get("public_api")
    if api:
        lines += [
            f"Through the public API: {api['n_series']:,} series, one value each (one "
            "request), recorded with `Metrics.put_value` into a `CloudWatchSyncMetricReporter` "
            "whose transport's `send` blocks until released; tracemalloc's traced total "
            "against the total before recording (the reporter and its `Metrics` already "
            "built):",
            "",
            *table(
                ["state", "bytes per series (datum)"],
                [
                    ["recorded, buffered", f"{api['buffered_per_series']:,.0f}"],
                    [
                        f"packed, the request in flight ({api['datums_in_flight']:,} datums, "
                        "`send` blocked)",
                        f"{api['in_flight_per_datum']:,.0f}",
                    ],
                    ["acknowledged (what stays: keys, caches)", f"{api['acked_per_series']:,.0f}"],
                    [
                        "**held by the in-flight request itself** (in flight minus acknowledged)",
                        f"**{api['request_per_datum']:,.0f}**",
                    ],
                ],
            ),
        ]
    lines += [
        f"Core only (`MetricsCore.record_value` with keys built inside the window), "
        f"measured with tracemalloc: **{m['bytes_per_series']:,.0f} bytes per series** "
        f"(one value; key and dimension strings included, {m['n_series_probe']:,} series) and "
        f"**{m['bytes_per_distinct_value']:,.0f} bytes per additional distinct value**.",
        "",
    ]
    lines += [
        "Recording the workload: each contender's state built and the whole workload fed "
        "once inside the tracemalloc window. The float values are the workload's own objects "
        "(shared, not counted), so a contender that keeps every value (aws-embedded-metrics: "
        "a list per metric) is charged 8 bytes per value; histograms (prometheus_client, "
        "OpenTelemetry) keep bucket counts only, and Powertools flushes every 100 values."
        + (
            " "
            + " and ".join(LABELS.get(k, k) for k in m["measured_in_child"])
            + " (slow under tracemalloc) are measured in child processes started first, "
            "the same way, while this one measures the others: bytes do not depend on timing."
            if m.get("measured_in_child")
            else ""
        ),
        "",
    ]
    w = m["workload"]
    lines += table(
        ["recording the workload", "retained MB", "peak MB"],
        [
            [LABELS.get(k, k), f"{v['retained_bytes'] / 1e6:.2f}", f"{v['peak_bytes'] / 1e6:.2f}"]
            for k, v in sorted(w.items(), key=lambda kv: kv[1]["peak_bytes"])
        ],
    )
    return lines


def otlp(r: dict[str, Any], charts: list[str]) -> list[str]:
    o = r["otlp"]
    lines = ["## 6. OTLP encoding cost", ""]
    lines += table(
        ["per series-period (one OTLP data point)", "OTLP", "PutMetricData JSON"],
        [
            [
                "pack (histograms / datums, size measured)",
                f"{o['otlp_pack_us_per_point']:.0f} us",
                f"{o['json_pack_us_per_point']:.0f} us",
            ],
            [
                "encode + gzip",
                f"{o['otlp_encode_gzip_us_per_point']:.0f} us",
                f"{o['json_gzip_us_per_point']:.0f} us",
            ],
            ["total", f"{o['otlp_us_per_point']:.0f} us", f"{o['json_us_per_point']:.0f} us"],
            [
                "wire bytes per sample (gzip)",
                f"{o['otlp_wire_bytes_per_sample']:.3f}",
                f"{o['json_wire_bytes_per_sample']:.3f}",
            ],
        ],
    )
    lines += [
        f"From `benchmarks/bench_otlp.py` (bench_core's 200,000 events over 500 series: "
        f"{o['points']:,} data points, {o['datums']:,} PutMetricData datums): from the same "
        "sealed core to gzipped bytes, best of "
        f"{o['repeat']} runs, the two sides alternated. OTLP costs "
        f"**{o['ratio_vs_json']:.2f}x** PutMetricData JSON per series-period: one log2 per "
        "distinct value (its exponential bucket) against one float repr; the protobuf "
        "encoding itself (opentelemetry-proto, upb) is a small share. In exchange a "
        "period's distinct values collapse into at most 160 buckets per sign: "
        f"**{o['json_wire_bytes_per_sample'] / o['otlp_wire_bytes_per_sample']:.1f}x fewer "
        "bytes on the wire** per sample (percentiles then carry the relative error stated "
        "in [the OTLP page](transports/otlp.md)). The packed size bound was "
        f"{o['otlp_size_bound_bytes']:,} bytes for {o['otlp_uncompressed_bytes']:,} encoded. "
        "Recording is the same code path whatever the transport, so section 1's record "
        "cost holds for OTLP too.",
        "",
    ]
    return lines


EMF_PEERS = (("aws_embedded_metrics", "aws-embedded-metrics"), ("powertools", "Powertools"))


def emf(r: dict[str, Any], charts: list[str]) -> list[str]:
    e = r["emf"]
    n = e["samples"]
    lines = ["## 7. Embedded Metric Format: log bytes per sample", ""]
    rows = []
    for key in ("exact", "repeat", "quantized"):
        w = e["workloads"][key]
        ref = w["bytes"].get("aws_embedded_metrics") or e["workloads"]["exact"]["bytes"].get(
            "aws_embedded_metrics"
        )
        contenders = [("ours", "ours: `EmfTransport`")] + [
            (k, f"{label} {e['versions'].get(k, '')}".strip()) for k, label in EMF_PEERS
        ]
        first = True
        for name, label in contenders:
            if name not in w["bytes"]:
                continue
            size = w["bytes"][name]
            rows.append(
                [
                    w["label"] if first else "",
                    label,
                    f"{size:,}",
                    f"{size / n:.2f}",
                    f"{size / ref:.2f}x" if ref else "",
                ]
            )
            first = False
    lines += table(
        ["workload", "contender", "log bytes", "bytes per sample", "vs aws-embedded-metrics"],
        rows,
    )
    exact = [w for w in e["workloads"].values() if "series_expected" in w]
    q = e["workloads"]["quantized"]
    lines += [
        f"The workload's {n:,} latencies (and the same latencies rounded to 1 ms, where values "
        "repeat as integer counts or coarse latencies do) recorded through each library; what "
        "each would write to stdout is counted (CloudWatch Logs bills ingestion per "
        "uncompressed GB). Ours: `Metrics.put_value` into a sync reporter whose transport is "
        "`EmfTransport` on a counting stream, one flush (every sample in one period). "
        "aws-embedded-metrics: one `MetricsLogger` per series, `put_metric` per sample, then "
        "its `LogSerializer` per logger plus the newline its sinks add (no environment "
        "metadata: this favours it). Powertools: one `EphemeralMetrics` per series, "
        "`add_dimension` and `add_metric` per sample (it prints a document every 100 values), "
        "then `flush_metrics()`. Bytes do not vary between runs: one pass each. With "
        f"`quantization={q['quantization']}` the same samples are compared with "
        "aws-embedded-metrics' bytes for them; the largest p50/p90/p99 error of any series "
        f"was {q['percentile_error']:.3%}.",
        "",
        "Why the bytes differ: ours writes each series' distinct values once with their "
        "counts, in one document per dimension set and period; aws-embedded-metrics writes "
        "every sample as its own array entry. So the saving grows with the repeats: "
        + "; ".join(
            f"{w['label']}: {w['samples_per_series']:,.0f} samples per series over "
            f"{w['distinct_per_series']:,.0f} distinct values on average"
            for w in (e["workloads"]["exact"], e["workloads"]["repeat"])
            if "distinct_per_series" in w
        )
        + "."
        + (
            " Quantization snaps values to a logarithmic grid whose points are long decimals "
            "(where the sample was a short one such as `20.1`), which here costs more bytes "
            "than the repeats it creates save."
            if q["bytes"]["ours"] > e["workloads"]["exact"]["bytes"]["ours"]
            else ""
        ),
        "",
        "Totals: every document of ours is parsed back; series whose SampleCount and Sum "
        "(from `Values` x `Counts`) equal what was recorded: "
        + ", ".join(f"{w['series_exact']}/{w['series_expected']} ({w['label']})" for w in exact)
        + ".",
        "",
    ]
    rec = (r.get("record") or {}).get("ns_per_event", {})
    if "ours_emf_put_metric" in rec and "aws_embedded_metrics" in rec:
        emf_ns, aws = rec["ours_emf_put_metric"], rec["aws_embedded_metrics"]
        lines += [
            f"Record cost (section 1, same run): `put_metric` with `EmfTransport` "
            f"{emf_ns:,.0f} ns per sample, aws-embedded-metrics `put_metric` {aws:,.0f} ns "
            f"(**{emf_ns / aws:.2f}x**). The calls do different work: aws-embedded-metrics "
            "binds the dimensions to a logger built per series before the timed loop, so its "
            "per-sample call passes no dimensions and appends the value to a list; ours "
            "passes the dimensions on every call (the seed's `put_metric` shape), looks up "
            "the series' validated key, validates the value and queues it, and every 256 "
            "samples folds the queue into each series' count per value under the "
            "reporter's lock (section 1's layer table shows what each step costs).",
            "",
        ]
    return lines
