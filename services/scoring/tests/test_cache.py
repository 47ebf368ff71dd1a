"""The short-lived cache of community metrics asked for 'now'."""

from __future__ import annotations

import asyncio

import pytest

from kith_scoring.cache import ResultCache

pytestmark = pytest.mark.unit


async def test_concurrent_requests_share_one_computation_and_errors_are_not_kept() -> None:
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return calls

    cache = ResultCache(ttl=60)
    assert await asyncio.gather(*(cache.get(("k",), compute) for _ in range(10))) == [1] * 10
    assert calls == 1

    async def fail() -> int:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await cache.get(("bad",), fail)
    assert await cache.get(("bad",), compute) == 2
    assert await ResultCache(ttl=0).get(("k",), compute) == 3


async def test_an_older_answer_is_served_at_once_while_one_refresh_runs_and_a_failed_refresh_keeps_it() -> None:
    calls = 0
    release = asyncio.Event()

    async def compute() -> int:
        nonlocal calls
        calls += 1
        if calls > 1:
            await release.wait()
        return calls

    cache = ResultCache(ttl=0.05, stale=60)
    assert await cache.get(("k",), compute) == 1
    await asyncio.sleep(0.06)
    # Past its time: the answer held is served at once, and one refresh starts however many ask.
    assert await asyncio.gather(*(cache.get(("k",), compute) for _ in range(5))) == [1] * 5
    assert calls == 2
    release.set()
    await asyncio.sleep(0.01)
    assert await cache.get(("k",), compute) == 2

    async def fail() -> int:
        raise ValueError("database down")

    await asyncio.sleep(0.06)
    assert await cache.get(("k",), fail) == 2  # served while the refresh fails in the background
    await asyncio.sleep(0.01)
    assert await cache.get(("k",), compute) == 2  # still the older answer; this request refreshes again
    await asyncio.sleep(0.01)
    assert await cache.get(("k",), compute) == 3
    await cache.close()


async def test_an_answer_past_its_allowance_is_computed_again_before_it_is_served() -> None:
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        return calls

    cache = ResultCache(ttl=0.02, stale=0.02)
    assert await cache.get(("k",), compute) == 1
    await asyncio.sleep(0.05)
    assert await cache.get(("k",), compute) == 2
