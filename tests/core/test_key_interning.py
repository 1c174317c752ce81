"""Keys are interned: equal keys are one object while alive, so the recording path hashes
and compares keys at C speed (no Python-level __hash__/__eq__ per dict lookup)."""

from __future__ import annotations

import copy
import gc
import pickle
import threading

from cwmetrics_core import MetricKey, Unit


def test_equal_keys_are_one_object_whatever_the_spelling() -> None:
    a = MetricKey("App", "Latency", {"Op": "get", "Host": "h1"}, "Milliseconds")
    b = MetricKey("App", "Latency", [("Host", "h1"), ("Op", "get")], Unit.MILLISECONDS, 60.0)
    assert a is b and a == b and hash(a) == hash(b)
    assert pickle.loads(pickle.dumps(a)) is a
    assert copy.copy(a) is a and copy.deepcopy(a) is a
    assert {a: 1}[b] == 1


def test_keys_differing_in_any_field_are_distinct() -> None:
    base = MetricKey("App", "Latency", {"Op": "get"}, "Milliseconds", 60)
    others = [
        MetricKey("App2", "Latency", {"Op": "get"}, "Milliseconds", 60),
        MetricKey("App", "Latency2", {"Op": "get"}, "Milliseconds", 60),
        MetricKey("App", "Latency", {"Op": "put"}, "Milliseconds", 60),
        MetricKey("App", "Latency", {"Op": "get"}, "Seconds", 60),
        MetricKey("App", "Latency", {"Op": "get"}, "Milliseconds", 1),
        MetricKey("App", "Latency", {}, "Milliseconds", 60),
    ]
    for other in others:
        assert other != base and other is not base
    assert len({base, *others}) == 7
    assert base not in (("App", "Latency"), "App")


def test_a_dead_key_is_rebuilt_and_stays_equal_to_a_live_copy() -> None:
    def build() -> int:
        return id(MetricKey("Gone", "Soon", {"K": "v"}))

    build()
    gc.collect()
    first = MetricKey("Gone", "Soon", {"K": "v"})
    second = MetricKey("Gone", "Soon", {"K": "v"})
    assert first is second
    assert first.dimensions == (("K", "v"),)


def test_threads_building_the_same_keys_get_one_object_each() -> None:
    results: list[list[MetricKey]] = []
    start = threading.Barrier(4)

    def build() -> None:
        start.wait(timeout=10)
        results.append([MetricKey("T", "m", {"i": str(i % 50)}) for i in range(2000)])

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 4
    for i in range(2000):
        assert len({id(r[i]) for r in results}) == 1
