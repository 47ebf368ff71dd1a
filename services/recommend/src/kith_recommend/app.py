"""The recommend application: platform, read model, consumer, refresher and micro-community discovery, in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka.errors import KafkaError
from fastapi import FastAPI
from pymongo.errors import PyMongoError

from kith_recommend import SERVICE, __version__, api
from kith_recommend.consumer import ReadModelConsumer
from kith_recommend.discovery import api as discovery_api
from kith_recommend.discovery.replay import replay
from kith_recommend.discovery.scheduler import Discovery
from kith_recommend.discovery.store import DiscoveryStore
from kith_recommend.engine import Recommender
from kith_recommend.settings import RecommendSettings
from kith_recommend.store import Store
from kith_shared.backoff import Backoff
from kith_shared.platform import Platform

log = logging.getLogger(__name__)


async def _load_then_consume(
    recommender: Recommender, consumer: ReadModelConsumer, discovery: Discovery, settings: RecommendSettings
) -> None:
    """Load the read model and the stored micro-communities, rebuild the graphs, then consume for ever."""
    async for _ in Backoff(0.5, 5.0):
        try:
            await recommender.store.ensure_indexes()
            await recommender.load()
            recommender.stale_reasons.pop("database", None)
            break
        except PyMongoError as exc:
            recommender.stale_reasons["database"] = f"read model not loaded: {type(exc).__name__}"
            log.warning("read model not loaded yet; database unreachable", extra={"error": repr(exc)})
    await discovery.load()
    if settings.discovery.enabled and settings.discovery.replay:
        async for _ in Backoff(0.5, 5.0):
            try:
                await replay(settings, discovery)
                break
            except (KafkaError, OSError) as exc:
                log.warning("interaction graphs not rebuilt yet; broker unreachable", extra={"error": repr(exc)})
    discovery.replayed.set()
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
    discovery = Discovery(settings, recommender, DiscoveryStore(platform.db), platform.producer)
    recommender.followers.append(discovery.apply)
    recommender.reorder = discovery.put_seeded_first
    platform.readiness.add("read_model", recommender.check_loaded)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await platform.start()
        tasks: list[asyncio.Task[None]] = []
        try:
            tasks.append(
                asyncio.create_task(
                    _load_then_consume(recommender, consumer, discovery, settings), name="recommend-consume"
                )
            )
            tasks.append(
                asyncio.create_task(
                    recommender.refresh_forever(settings.refresh_interval_seconds), name="recommend-refresh"
                )
            )
            tasks.append(asyncio.create_task(_watch(platform, recommender), name="recommend-watch"))
            if settings.discovery.enabled:
                tasks.append(asyncio.create_task(discovery.run(), name="recommend-discovery"))
                tasks.append(asyncio.create_task(discovery.relay(), name="recommend-discovery-relay"))
            else:
                tasks.append(asyncio.create_task(discovery.reload_forever(), name="recommend-discovery-reload"))
            yield
        finally:
            for task in reversed(tasks):
                task.cancel()
            for task in reversed(tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await discovery.close()
            await platform.stop()

    app = platform.app(
        api.router,
        lifespan,
        title="Kith recommend",
        version=__version__,
        description="Communities to join, with reasons a person can read; micro-communities to nurture.",
        recommender=recommender,
        consumer=consumer,
        discovery=discovery,
    )
    app.include_router(discovery_api.router)
    return app
