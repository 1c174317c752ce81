"""``python -m benchmarks``: ours against the peers, in one run, with plots.

Run from the repository root. The first run creates ``benchmarks/.venv``, installs the
project (``-e '.[all,demo]'``), the peers and matplotlib into it, installs
cloudwatch-metrics-client 0.0.6 into ``benchmarks/.peer-0.0.6`` (same package name as
ours: only ever imported in a subprocess), then re-executes itself in that venv. Later
runs reuse both (re-installing when the requirements or pyproject.toml change).

Writes ``docs/benchmarks.md``, ``docs/img/*.png`` and ``benchmarks/results.json``.
``--quick`` runs a small workload for a smoke test and writes under a temporary
directory (or ``--out``), never over the real results.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
PEER_DIR = HERE / ".peer-0.0.6"
STAMP = VENV / ".cwbench-installed"
#: The peers, pinned to the versions these benchmarks were written against.
PEERS = (
    "prometheus_client==0.26.0",
    "opentelemetry-sdk==1.45.2",
    "aws-embedded-metrics==3.5.0",
    "aws-lambda-powertools==3.37.0",
    "boto3",
    "matplotlib",
)
PEER006 = "cloudwatch-metrics-client==0.0.6"

FULL = {
    "n_events": 200_000,
    "n_series": 500,
    "repeat": 7,
    "monitored_calls": 100_000,
    "naive_cap": 500,
    "flush_series": 100_000,
    "flush_repeat": 3,
    "memory_series": 20_000,
    "encoding_calls": 3,
}
QUICK = {
    "n_events": 20_000,
    "n_series": 500,
    "repeat": 2,
    "monitored_calls": 10_000,
    "naive_cap": 200,
    "flush_series": 10_000,
    "flush_repeat": 1,
    "memory_series": 2_000,
    "encoding_calls": 1,
}
SECTIONS = ("record", "wire", "encoding", "flush", "memory", "otlp", "emf")


# ------------------------------------------------------------------ bootstrap
def _in_bench_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def _wanted_stamp() -> str:
    text = "\n".join([*PEERS, PEER006, (REPO / "pyproject.toml").read_text()])
    return hashlib.sha256(text.encode()).hexdigest()


def _pip(python: Path, *args: str) -> None:
    print("+ pip", " ".join(args), flush=True)
    subprocess.run([str(python), "-m", "pip", *args], cwd=REPO, check=True)


def bootstrap() -> None:
    """Create/refresh ``benchmarks/.venv`` and the 0.0.6 target dir, then exec into it."""
    python = VENV / "bin" / "python"
    if not python.exists():
        import venv

        print(f"creating {VENV.relative_to(REPO)}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    fresh = STAMP.exists() and STAMP.read_text() == _wanted_stamp()
    if not fresh:
        _pip(python, "install", "-q", "-e", ".[all,demo]", *PEERS)
    if not fresh or not any(PEER_DIR.glob("cloudwatch_metrics_client-0.0.6.dist-info")):
        _pip(python, "install", "-q", "--upgrade", "--no-deps", "--target", str(PEER_DIR), PEER006)
    STAMP.write_text(_wanted_stamp())
    os.chdir(REPO)
    os.execv(str(python), [str(python), "-m", "benchmarks", *sys.argv[1:]])


# ------------------------------------------------------------------ run
def _step(name: str) -> float:
    print(f"== {name}", flush=True)
    return time.perf_counter()


def _done(start: float, r: dict[str, Any], name: str) -> None:
    took = time.perf_counter() - start
    r.setdefault("section_s", {})[name] = took
    print(f"   {took:.1f} s", flush=True)


def _best_encoding(bench: Any, calls: int) -> dict[str, float]:
    """bench_core's encoding figures, best of ``calls`` calls per side (each call is already
    best of 5, but times ours and botocore one after the other, not interleaved)."""
    runs = [bench() for _ in range(calls)]
    out = dict(runs[0])
    for fmt in ("json", "query"):
        ours = max(run[f"{fmt}_ours_datums_per_s"] for run in runs)
        theirs = max(run[f"{fmt}_botocore_datums_per_s"] for run in runs)
        out[f"{fmt}_ours_datums_per_s"] = ours
        out[f"{fmt}_botocore_datums_per_s"] = theirs
        out[f"{fmt}_speedup"] = ours / theirs
        out[f"{fmt}_speedup_each_call"] = [run[f"{fmt}_speedup"] for run in runs]
    for name in ("query_measure", "botocore_json_measure"):
        if f"{name}_speedup" in runs[0]:
            best = max(runs, key=lambda run: run[f"{name}_speedup"])
            out[f"{name}_speedup"] = best[f"{name}_speedup"]
            out[f"{name}_datums_per_s"] = best[f"{name}_datums_per_s"]
    return out


def run(params: dict[str, Any], sections: tuple[str, ...]) -> dict[str, Any]:
    """Run the chosen sections; the results dict (without targets)."""
    from . import _flush, _memory, _record, _wire, bench_core
    from ._endpoint import Endpoint
    from ._peer006 import Peer006Session, start_peer006
    from ._peers import PEERS as PEER_FACTORIES
    from ._workload import make_workload

    r: dict[str, Any] = {"params": params}
    with contextlib.ExitStack() as stack:
        endpoint = None
        if "wire" in sections:
            # LocalCloudWatch in its own process; moto keeps no per-sample objects
            endpoint = stack.enter_context(Endpoint(store_samples=False))
        stack.callback(_record._reset_facades)
        wl = make_workload(params["n_events"], params["n_series"])
        peer_params = {
            "n_events": wl.n_events,
            "n_series": wl.n_series,
            "repeat": params["repeat"],
            "monitored_calls": params["monitored_calls"],
        }
        if "record" in sections:
            t = _step("record cost (0.0.6 in a subprocess, timed in step)")
            session = Peer006Session(peer_params)
            try:
                r["record"] = _record.run_record(
                    wl,
                    params["repeat"],
                    peers=True,
                    monitored_calls=params["monitored_calls"],
                    between=session.round,
                )
                r["record"]["peer006"] = {
                    "version": session.version,
                    "ns_per_event": {k: v / wl.n_events * 1e9 for k, v in session.best.items()},
                    "monitored_task": session.monitored(),
                }
            finally:
                session.close()
            r["profile_put_metric"] = _record.profile_put_metric(wl)
            if wl.n_events == bench_core.N_EVENTS:
                r["core_bench"] = bench_core.bench_record()
            _done(t, r, "record")
        if "wire" in sections:
            assert endpoint is not None
            t = _step("wire cost (local endpoint in its own process)")
            r["wire"] = _wire.run_wire(wl, endpoint, naive_cap=params["naive_cap"])
            _done(t, r, "wire")
        if "flush" in sections:
            t = _step(f"flush of {params['flush_series']:,} series (fresh process)")
            r["flush"] = _flush.run_flush_isolated(params["flush_series"], params["flush_repeat"])
            _done(t, r, "flush")
        if "encoding" in sections:
            t = _step("encoding throughput (bench_core)")
            r["encoding"] = _best_encoding(bench_core.bench_encoding, params["encoding_calls"])
            r["profile_encoding"] = _wire.profile_encoding(wl, "json")
            r["profile_encoding_query"] = _wire.profile_encoding(wl, "query")
            _done(t, r, "encoding")
        if "otlp" in sections:
            from . import bench_otlp

            t = _step("OTLP encoding cost per data point (bench_otlp)")
            r["otlp"] = bench_otlp.bench_otlp(params["repeat"])
            _done(t, r, "otlp")
        if "memory" in sections:
            t = _step("memory")
            factories = {
                k: v
                for k, v in {**_record.OURS, **PEER_FACTORIES}.items()
                # the async floor's state is the floor's; the EMF contender's is the
                # DryRun put_metric's (the same store): neither is measured twice
                if k not in ("dict_baseline_async", "ours_emf_put_metric")
            }
            r["memory"] = _memory.run_memory(
                wl,
                factories,
                params["memory_series"],
                beside={"_peer006": start_peer006("memory", peer_params)},
            )
            old = r["memory"].pop("_peer006")
            r["memory"]["workload"]["peer006_sync_put_metric"] = {
                "retained_bytes": old["retained_bytes"],
                "peak_bytes": old["peak_bytes"],
            }
            _done(t, r, "memory")
        if "emf" in sections:
            from . import bench_emf

            t = _step("EMF log bytes per sample (bench_emf)")
            r["emf"] = bench_emf.section(wl)
            _done(t, r, "emf")
    return r


def _summary(r: dict[str, Any]) -> None:
    print("\nTargets:")
    for t in r["targets"]:
        print(
            f"  [{'x' if t['met'] else ' '}] {t['target']}: {t['measured']:.3g}{t['unit']}"
            f" -> {t['margin']}"
        )
    if "record" in r:
        from ._charts import record_rows
        from ._record import LABELS

        print("\nRecord cost (ns/event, x floor):")
        for key, ns, ratio in record_rows(r):
            print(f"  {LABELS.get(key, key):48s} {ns:8,.0f}  {ratio:5.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small workload (smoke run)")
    parser.add_argument("--out", type=Path, help="write docs/ and results.json under this dir")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)}",
    )
    parser.add_argument(
        "--no-bootstrap",
        action="store_true",
        help="run in the current interpreter (peers must be installed)",
    )
    args = parser.parse_args(argv)
    if not args.no_bootstrap and not _in_bench_venv():
        bootstrap()  # does not return
    from ._report import machine_info, write_outputs

    sections = tuple(s for s in args.sections.split(",") if s)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    out = args.out or (Path(tempfile.mkdtemp(prefix="cwbench-quick-")) if args.quick else REPO)
    params = dict(QUICK if args.quick else FULL)
    start = time.perf_counter()
    load = os.getloadavg()
    meta = machine_info(REPO)  # before the run: the commit whose code gets imported
    r = run(params, sections)
    r["load_average"] = {"start": load, "end": os.getloadavg()}
    r["runtime_s"] = time.perf_counter() - start
    r["meta"] = meta
    command = "python -m benchmarks" + (" --quick" if args.quick else "")
    paths = write_outputs(r, out, command)
    _summary(r)
    print(f"\nran in {r['runtime_s']:.0f} s; wrote:")
    for path in paths:
        shown = path
        with contextlib.suppress(ValueError):
            shown = path.relative_to(REPO)
        print(f"  {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
