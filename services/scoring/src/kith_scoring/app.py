"""The scoring app: platform, store, consumer, slipping-away sweep and routes, started and stopped by the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from pymongo.errors import PyMongoError

from kith_scoring import SERVICE
from kith_scoring.api import router
from kith_scoring.cache import ResultCache
from kith_scoring.consumer import ScoringConsumer
from kith_scoring.insights_api import router as insights_router
from kith_scoring.settings import ScoringSettings
from kith_scoring.store import ScoringStore
from kith_scoring.sweep import SlippingSweep
from kith_shared.platform import Platform

log = logging.getLogger(__name__)


async def _ensure_indexes(store: ScoringStore) -> None:
    delay = 0.5
    while True:
        try:
            await store.ensure_indexes()
            return
        except PyMongoError as exc:
            log.warning("indexes not ensured yet; database unreachable", extra={"error": str(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


def create_app(settings: ScoringSettings | None = None) -> FastAPI:
    """Build the scoring service."""
    settings = settings or ScoringSettings()

    # Nothing here connects: the clients connect lazily and the producer starts in the lifespan.
    platform = Platform(settings, SERVICE)
    store = ScoringStore(
        platform.mongo,
        platform.db,
        erasure_salt=settings.erasure_salt.get_secret_value(),
        erasure_secret=settings.erasure_secret.get_secret_value(),
        recent_events=settings.engagement.recent_events,
    )
    consumer = ScoringConsumer(settings, store, platform.producer)
    sweep = SlippingSweep(
        store=store,
        producer=platform.producer,
        quiet_days=settings.engagement.quiet_days,
        interval=settings.slipping_sweep_seconds,
        lock=consumer.lock,
    )

    metrics_cache = ResultCache(settings.metrics_cache_seconds)
    insights_cache = ResultCache(settings.insights_cache_seconds, size=64, stale=settings.insights_stale_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        indexes: asyncio.Task[None] | None = None
        try:
            await platform.start()
            indexes = asyncio.create_task(_ensure_indexes(store), name="scoring-indexes")
            if settings.consume:
                platform.readiness.add("consumer", consumer.check)
                await consumer.start()
                await sweep.start()
            yield
        finally:
            await sweep.stop()
            await insights_cache.close()
            await consumer.stop()
            if indexes is not None:
                indexes.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await indexes
            await platform.stop()

    app = FastAPI(
        title="Kith scoring",
        version="0.1.0",
        description="Engagement metrics per member, community and member in community, with explanations.",
        lifespan=lifespan,
    )
    platform.install(app)
    app.state.settings = settings
    app.state.store = store
    app.state.consumer = consumer
    app.state.sweep = sweep
    app.state.cache = metrics_cache
    app.state.insights_cache = insights_cache
    app.include_router(router)
    app.include_router(insights_router)

    return app
