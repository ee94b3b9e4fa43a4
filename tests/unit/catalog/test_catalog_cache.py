"""The in-process cache of current documents: bounded in time and size, never storing stale reads."""

from __future__ import annotations

import asyncio

from simpul.catalog.cache import DocumentCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_the_time_limit():
    clock = Clock()
    cache: DocumentCache[str] = DocumentCache(1.0, clock=clock)
    cache.put("A", "one", cache.generation)
    clock.now += 0.99
    assert cache.get("A") == "one"
    clock.now += 0.02
    assert cache.get("A") is None


def test_eviction_drops_the_entry_and_refuses_reads_that_began_before_it():
    cache: DocumentCache[str] = DocumentCache(10.0, clock=Clock())
    cache.put("A", "one", cache.generation)
    began = cache.generation
    cache.evict("A")
    assert cache.get("A") is None
    cache.put("A", "read before the change", began)
    assert cache.get("A") is None
    cache.put("A", "read after the change", cache.generation)
    assert cache.get("A") == "read after the change"


def test_size_is_bounded_and_zero_seconds_disables_it():
    cache: DocumentCache[int] = DocumentCache(10.0, max_entries=3, clock=Clock())
    for number in range(5):
        cache.put(f"K{number}", number, cache.generation)
    assert [cache.get(f"K{number}") for number in range(5)] == [None, None, 2, 3, 4]

    disabled: DocumentCache[int] = DocumentCache(0, clock=Clock())
    disabled.put("A", 1, disabled.generation)
    assert disabled.get("A") is None


async def test_concurrent_misses_share_one_load_and_a_change_starts_a_fresh_one():
    cache = DocumentCache(60)
    loads = []
    release = asyncio.Event()

    async def loader():
        index = len(loads)
        loads.append(index)
        await release.wait()
        return f"copy-{index}"

    readers = [asyncio.create_task(cache.load("KODE", loader)) for _ in range(20)]
    await asyncio.sleep(0)
    cache.evict("KODE")  # a change while the first load is in flight
    late = asyncio.create_task(cache.load("KODE", loader))
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*readers, late)
    assert loads == [0, 1]
    assert set(results[:20]) == {"copy-0"}
    assert results[20] == "copy-1"
    # The load that began before the change is not kept; the one after it is.
    assert cache.get("KODE") == "copy-1"
