"""Stopping a Kafka consumer never ends the task that stops it, unless that task itself is being cancelled."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
from aiokafka import AIOKafkaConsumer

from kith_shared.consumer import polling

pytestmark = pytest.mark.unit


class _Stops:
    """A consumer whose ``stop`` fails the way aiokafka's can: a fetch task it cancelled surfaces as ours."""

    def __init__(self, error: BaseException, pause: float = 0.0) -> None:
        self.error = error
        self.pause = pause
        self.stopped = 0

    async def stop(self) -> None:
        self.stopped += 1
        await asyncio.sleep(self.pause)
        raise self.error


async def test_a_cancelled_fetch_while_stopping_does_not_end_the_caller() -> None:
    for error in (asyncio.CancelledError(), RuntimeError("connection reset")):
        consumer = _Stops(error)
        await polling.close(cast(AIOKafkaConsumer, consumer))
        assert consumer.stopped == 1
    # The supervisor goes on to its next attempt after a close that raised.
    attempts = 0

    async def supervise() -> int:
        nonlocal attempts
        for _ in range(3):
            attempts += 1
            await polling.close(cast(AIOKafkaConsumer, _Stops(asyncio.CancelledError())))
        return attempts

    assert await asyncio.create_task(supervise()) == 3


async def test_cancelling_the_task_that_closes_still_cancels_it() -> None:
    consumer = _Stops(RuntimeError("never reached"), pause=10.0)
    task = asyncio.create_task(polling.close(cast(AIOKafkaConsumer, consumer)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
