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
