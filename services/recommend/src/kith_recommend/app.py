"""The recommend application: platform, read model, consumer and refresher, started and stopped in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pymongo.errors import PyMongoError

from kith_recommend import SERVICE, __version__, api
from kith_recommend.consumer import ReadModelConsumer
from kith_recommend.engine import Recommender
from kith_recommend.settings import RecommendSettings
from kith_recommend.store import Store
from kith_shared.backoff import Backoff
from kith_shared.platform import Platform

log = logging.getLogger(__name__)


async def _load_then_consume(recommender: Recommender, consumer: ReadModelConsumer) -> None:
    """Load the read model (retrying while the database is unreachable), then consume for ever."""
    async for _ in Backoff(0.5, 5.0):
        try:
            await recommender.store.ensure_indexes()
            await recommender.load()
            recommender.stale_reasons.pop("database", None)
            break
        except PyMongoError as exc:
            recommender.stale_reasons["database"] = f"read model not loaded: {type(exc).__name__}"
            log.warning("read model not loaded yet; database unreachable", extra={"error": repr(exc)})
    await consumer.run()


async def _watch(platform: Platform, recommender: Recommender, interval: float = 2.0) -> None:
    """Mark the model stale while the broker or the database is unreachable."""
    while True:
        results = await platform.readiness.run()
        for name, result in results.items():
            if result == "ok":
                recommender.stale_reasons.pop(name, None)
            else:
                recommender.stale_reasons[name] = result
        await asyncio.sleep(interval)


def create_app(settings: RecommendSettings | None = None) -> FastAPI:
    """Build the recommend service."""
    settings = settings or RecommendSettings()
    platform = Platform(settings, SERVICE)
    recommender = Recommender(Store(platform.db), settings.ranking)
    consumer = ReadModelConsumer(settings, recommender, platform.producer)
    platform.readiness.add("read_model", recommender.check_loaded)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await platform.start()
        tasks: list[asyncio.Task[None]] = []
        try:
            tasks.append(asyncio.create_task(_load_then_consume(recommender, consumer), name="recommend-consume"))
            tasks.append(
                asyncio.create_task(
                    recommender.refresh_forever(settings.refresh_interval_seconds), name="recommend-refresh"
                )
            )
            tasks.append(asyncio.create_task(_watch(platform, recommender), name="recommend-watch"))
            yield
        finally:
            for task in reversed(tasks):
                task.cancel()
            for task in reversed(tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await platform.stop()

    return platform.app(
        api.router,
        lifespan,
        title="Kith recommend",
        version=__version__,
        description="Communities to join, with reasons a person can read.",
        recommender=recommender,
        consumer=consumer,
    )
