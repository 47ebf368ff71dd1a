"""Retry with jittered exponential backoff: the one way every loop waits after a failure.

``Backoff`` is an async iterator of attempts: the first comes at once, each later one after a pause
that doubles from ``first`` up to ``most`` seconds, shortened by up to ``jitter`` of itself at random
so that replicas that failed together do not retry together. Iteration ends when ``stop`` is set
(the pause is cut short) or after ``tries`` attempts; the loop body breaks out on success::

    async for _ in Backoff(0.5, 10.0, stop=stopping):
        try:
            await work()
            break
        except BrokerUnavailable as exc:
            log.warning("not done yet; retrying", extra={"error": repr(exc)})
    else:
        ...  # stopped (or out of tries) before it worked

A long-running loop calls :meth:`Backoff.reset` once it works again, so that the next failure
starts from ``first`` again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from typing import Self


class Backoff:
    """Attempts separated by jittered, doubling pauses, until success, ``stop`` or ``tries``."""

    def __init__(
        self,
        first: float = 0.5,
        most: float = 5.0,
        *,
        factor: float = 2.0,
        jitter: float = 0.2,
        stop: asyncio.Event | None = None,
        tries: int | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not 0 < first <= most or factor < 1 or not 0 <= jitter < 1:
            raise ValueError("need 0 < first <= most, factor >= 1 and 0 <= jitter < 1")
        self.first = first
        self.most = most
        self.factor = factor
        self.jitter = jitter
        self.stop = stop
        self.tries = tries
        self._rand = rand
        self._delay = first
        self._held: float | None = None
        self.attempts = 0

    @property
    def stopping(self) -> bool:
        """Tell whether the stop event is set."""
        return self.stop is not None and self.stop.is_set()

    def reset(self) -> None:
        """Start the pauses from ``first`` again (after the work succeeded for a while)."""
        self._delay = self.first
        self._held = None

    def hold(self, seconds: float) -> None:
        """Make the next pause ``seconds`` long instead (a server's Retry-After, for instance)."""
        self._held = max(0.0, seconds)

    def next_pause(self) -> float:
        """Return the next pause in seconds and advance the schedule."""
        if self._held is not None:
            pause, self._held = self._held, None
            return pause
        pause = self._delay * (1.0 - self.jitter * self._rand())
        self._delay = min(self.most, self._delay * self.factor)
        return pause

    async def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``, or less if stopping meanwhile; return True when stopping."""
        if self.stop is None:
            await asyncio.sleep(seconds)
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.stop.wait()
        return self.stop.is_set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> int:
        if self.stopping or (self.tries is not None and self.attempts >= self.tries):
            raise StopAsyncIteration
        if self.attempts > 0 and await self.sleep(self.next_pause()):
            raise StopAsyncIteration
        self.attempts += 1
        return self.attempts
