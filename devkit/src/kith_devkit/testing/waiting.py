"""Wait on a condition, never on a fixed sleep: tests on a loaded machine stay correct, only slower."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]], within: float = 30.0, what: str = "the condition", *, every: float = 0.2
) -> T:
    """Call ``check`` until it returns something other than None or False; return that.

    Raise :class:`AssertionError` naming ``what`` and the last answer after ``within`` seconds.
    """
    deadline = time.monotonic() + within
    last: T | None = None
    while True:
        last = await check()
        if last is not None and last is not False:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {within:g}s waiting for {what}; last: {last!r}")
        await asyncio.sleep(every)
