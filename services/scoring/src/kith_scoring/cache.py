"""A short-lived cache of answers: figures asked for 'now' are as good a few seconds old.

An answer younger than ``ttl`` is served as it is. With a ``stale`` allowance, an older one (up to
``ttl + stale``) is still served at once while one refresh runs in the background, so only the first
request for a key ever waits for the computation; an answer older than that is computed again before
it is served.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")

log = logging.getLogger(__name__)

Key = tuple[Any, ...]


class ResultCache:
    """Answers computed in the last ``ttl`` seconds; concurrent requests for one key share one computation."""

    def __init__(self, ttl: float, size: int = 1_024, stale: float = 0.0) -> None:
        self.ttl = ttl
        self.size = size
        self.stale = stale
        self._entries: dict[Key, tuple[float, asyncio.Future[Any]]] = {}
        self._refreshing: dict[Key, asyncio.Task[None]] = {}

    async def get(self, key: Key, compute: Callable[[], Awaitable[T]]) -> T:
        """Return the cached answer for ``key``, computing it when absent or too old."""
        if self.ttl <= 0:
            return await compute()
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None:
            age = now - entry[0]
            if age < self.ttl:
                return cast("T", await asyncio.shield(entry[1]))
            if age < self.ttl + self.stale and _settled(entry[1]):
                if key not in self._refreshing:
                    task = asyncio.create_task(self._refresh(key, compute))
                    self._refreshing[key] = task
                return cast("T", entry[1].result())
        return await self._compute(key, compute, now)

    async def _compute(self, key: Key, compute: Callable[[], Awaitable[T]], now: float) -> T:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if len(self._entries) >= self.size and key not in self._entries:
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

    async def _refresh(self, key: Key, compute: Callable[[], Awaitable[Any]]) -> None:
        """Compute ``key`` again in the background; the answer being served stays until this one is ready."""
        started = time.monotonic()
        try:
            value = await compute()
        except Exception:
            # The older answer keeps being served (within its allowance); the next request tries again.
            log.warning("refreshing a cached answer failed", exc_info=True, extra={"key": repr(key[:2])})
        else:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            future.set_result(value)
            if len(self._entries) >= self.size and key not in self._entries:
                self._entries.clear()
            self._entries[key] = (started, future)
        finally:
            self._refreshing.pop(key, None)

    async def close(self) -> None:
        """Stop the refreshes under way (at shutdown)."""
        tasks = list(self._refreshing.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _settled(future: asyncio.Future[Any]) -> bool:
    """Tell whether ``future`` holds an answer (not still computing, not failed)."""
    return future.done() and not future.cancelled() and future.exception() is None
