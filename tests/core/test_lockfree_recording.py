"""The lock-free recorders: many threads record while another folds, flushes and packs
under the lock; every observation ends up counted exactly once."""

from __future__ import annotations

import threading

import pytest

from cwmetrics_core import CoreStateError, InvalidMetricError, MetricKey, MetricsCore

T0 = 1_700_000_000.0


def test_threads_recording_while_the_owner_folds_and_sends_lose_nothing() -> None:
    core = MetricsCore(now=T0)
    lock = threading.Lock()
    record = core.value_recorder
    keys = [MetricKey("App", "Latency", {"Op": f"op{i}"}, "Milliseconds") for i in range(20)]
    n_threads, per_thread = 4, 5000
    stop = threading.Event()
    sent_samples = 0.0

    def sender() -> None:
        nonlocal sent_samples
        while not stop.is_set():
            with lock:
                core.flush(T0 + 1)
                while (batch := core.next_batch(T0 + 1)) is not None:
                    sent_samples += batch.request.samples
                    core.ack(batch, T0 + 1)

    def worker(w: int) -> None:
        for i in range(per_thread):
            if record(keys[(w + i) % len(keys)], float(i % 13), T0, 1.0):
                with lock:
                    core.fold()

    background = threading.Thread(target=sender)
    background.start()
    workers = [threading.Thread(target=worker, args=(w,)) for w in range(n_threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=60)
    stop.set()
    background.join(timeout=60)
    with lock:
        core.flush(T0 + 2)
        while (batch := core.next_batch(T0 + 2)) is not None:
            sent_samples += batch.request.samples
            core.ack(batch, T0 + 2)
        stats = core.stats
    total = n_threads * per_thread
    assert stats.recorded_samples == total
    assert stats.sent_samples == sent_samples == total
    assert stats.buffered_samples == 0 and stats.dropped_overflow == 0


def test_the_recorder_raises_at_the_call_and_queues_nothing() -> None:
    core = MetricsCore(now=T0)
    record = core.value_recorder
    key = MetricKey("App", "Latency")
    with pytest.raises(InvalidMetricError):
        record(key, float("nan"), T0, 1.0)
    with pytest.raises(InvalidMetricError):
        record(key, 1.0, T0, 0.0)
    assert core.stats.recorded_samples == 0
    record(key, 1.0, T0, 1.0)
    core.close(T0)
    with pytest.raises(CoreStateError):
        record(key, 1.0, T0, 1.0)
    with pytest.raises(CoreStateError):
        core.statistic_recorder(key, 1.0, T0)
    assert core.stats.recorded_samples == 1  # the one before close, and only it
