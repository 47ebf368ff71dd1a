"""Backoff: pauses double up to a ceiling with jitter below it, reset, honour Retry-After, and stop."""

from __future__ import annotations

import asyncio

import pytest

from kith_shared.backoff import Backoff

pytestmark = pytest.mark.unit


def test_pauses_double_up_to_the_ceiling_and_reset_starts_again() -> None:
    backoff = Backoff(0.5, 5.0, jitter=0.0)
    assert [backoff.next_pause() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next_pause() == 0.5


def test_jitter_only_shortens_a_pause() -> None:
    low = Backoff(1.0, 8.0, jitter=0.25, rand=lambda: 0.999999)
    high = Backoff(1.0, 8.0, jitter=0.25, rand=lambda: 0.0)
    assert [round(low.next_pause(), 3) for _ in range(4)] == [0.75, 1.5, 3.0, 6.0]
    assert [high.next_pause() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_a_held_pause_replaces_the_next_one_only() -> None:
    backoff = Backoff(0.5, 5.0, jitter=0.0)
    backoff.hold(7.0)
    assert [backoff.next_pause(), backoff.next_pause()] == [7.0, 0.5]


def test_bad_parameters_are_refused() -> None:
    for first, most, jitter in ((0.0, 1.0, 0.1), (2.0, 1.0, 0.1), (0.5, 1.0, 1.0)):
        with pytest.raises(ValueError, match="first"):
            Backoff(first, most, jitter=jitter)


async def test_attempts_come_at_once_then_after_pauses_until_tries_run_out() -> None:
    slept: list[float] = []
    backoff = Backoff(0.01, 0.04, jitter=0.0, tries=4)

    async def record(seconds: float) -> bool:
        slept.append(seconds)
        return False

    backoff.sleep = record  # type: ignore[method-assign]
    attempts = [attempt async for attempt in backoff]
    assert attempts == [1, 2, 3, 4]
    assert slept == [0.01, 0.02, 0.04]


async def test_stop_cuts_a_pause_short_and_ends_the_loop() -> None:
    stop = asyncio.Event()
    backoff = Backoff(30.0, 60.0, stop=stop)
    attempts: list[int] = []

    async def stop_soon() -> None:
        await asyncio.sleep(0.05)
        stop.set()

    stopper = asyncio.create_task(stop_soon())
    async with asyncio.timeout(10):  # far shorter than the 30 s pause: only the stop can end it in time
        async for attempt in backoff:
            attempts.append(attempt)
    await stopper
    assert attempts == [1]
    assert [attempt async for attempt in backoff] == []
