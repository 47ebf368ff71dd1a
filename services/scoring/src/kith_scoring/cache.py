"""A short-lived cache of answers: community metrics asked for 'now' are as good a few seconds old."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")


class ResultCache:
    """Answers computed in the last ``ttl`` seconds; concurrent requests for one key share one computation."""

    def __init__(self, ttl: float, size: int = 1_024) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[tuple[Any, ...], tuple[float, asyncio.Future[Any]]] = {}

    async def get(self, key: tuple[Any, ...], compute: Callable[[], Awaitable[T]]) -> T:
        """Return the cached answer for ``key``, computing it when absent or stale."""
        if self.ttl <= 0:
            return await compute()
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl:
            return cast("T", await asyncio.shield(entry[1]))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if len(self._entries) >= self.size:
            self._entries.clear()
        self._entries[key] = (now, future)
        try:
            value = await compute()
        except BaseException as exc:
            self._entries.pop(key, None)
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it
            raise
        future.set_result(value)
        return value
