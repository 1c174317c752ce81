"""Smoke test of the benchmark suite (``python -m benchmarks``) so it cannot rot.

Imports every benchmark module and runs the record section on a tiny workload, without
the peers and without the benchmark venv; the full benchmark is never run here.
"""

from __future__ import annotations

import importlib

import pytest

MODULES = (
    "benchmarks.__main__",
    "benchmarks._charts",
    "benchmarks._endpoint",
    "benchmarks._flush",
    "benchmarks._memory",
    "benchmarks._peer006",
    "benchmarks._peers",
    "benchmarks._record",
    "benchmarks._report",
    "benchmarks._sections",
    "benchmarks._wire",
    "benchmarks._workload",
    "benchmarks.bench_otlp",
)


@pytest.mark.parametrize("name", MODULES)
def test_benchmark_modules_import(name: str) -> None:
    importlib.import_module(name)


def test_record_section_runs_on_a_tiny_workload() -> None:
    from benchmarks import _record
    from benchmarks._workload import make_workload

    wl = make_workload(n_events=2_000, n_series=50)
    assert len(wl.events) == 2_000
    assert sum(count for count, _ in wl.expected().values()) == 2_000

    result = _record.run_record(wl, repeat=1, peers=False, monitored_calls=500)

    assert set(result["ns_per_event"]) == set(_record.OURS)
    assert all(ns > 0 for ns in result["ns_per_event"].values())
    assert result["ratio_vs_dict"]["dict_baseline"] == 1.0
    assert {"core_record_value", "core_locked", "key_lookup", "empty_loop"} <= set(
        result["hot_path"]
    )
    monitored = result["monitored_task"]
    assert monitored["sync_monitored"] > 0 and monitored["async_monitored"] > 0


def test_targets_are_evaluated_from_a_record_result() -> None:
    from benchmarks import _record
    from benchmarks._report import evaluate_targets
    from benchmarks._workload import make_workload

    result = _record.run_record(make_workload(500, 10), repeat=1, peers=False, monitored_calls=100)
    targets = evaluate_targets({"record": result})
    names = {t["target"] for t in targets}
    assert "sync put_metric / dict floor" in names
    assert all(isinstance(t["met"], bool) for t in targets)


def test_signing_benchmark_runs_on_a_tiny_workload() -> None:
    from benchmarks import bench_signing

    result = bench_signing.run(n=5, repeat=1)
    for body in result["bodies"].values():
        assert body["ratio_vs_floor"]["floor (sha256 + 5 hmac)"] == 1.0
        assert {"StaticSigner.sign", "BotocoreSigner.sign", "BotocoreSigner.asign"} <= set(
            body["us"]
        )
        assert all(us > 0 for us in body["us"].values())


def test_a_rewrite_of_the_page_keeps_the_sections_of_their_own() -> None:
    from benchmarks._report import KEPT_MARKER, kept_sections

    page = f"# Benchmarks\n\ngenerated\n\n{KEPT_MARKER}\n\n## Signing\n\nby hand\n"
    assert kept_sections(page) == f"\n{KEPT_MARKER}\n\n## Signing\n\nby hand\n"
    assert kept_sections("# Benchmarks\n\ngenerated\n") == ""
