"""The ingest application: HTTP door, raw-topic consumer, deduplication store, and their lifetimes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from kith_ingest import SERVICE, __version__
from kith_ingest.api import router
from kith_ingest.domain.text import warm_up
from kith_ingest.intake import Intake
from kith_ingest.settings import IngestSettings
from kith_ingest.store import DedupeStore
from kith_shared.platform import Platform


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    """Build the ingest app; nothing connects until the lifespan starts."""
    settings = settings or IngestSettings()
    platform = Platform(settings, SERVICE)
    store = DedupeStore(
        platform.db,
        window=timedelta(seconds=settings.dedupe_window_seconds),
        claim_timeout=timedelta(seconds=settings.claim_timeout_seconds),
    )
    intake = Intake(settings, platform.producer, store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from kith_ingest.consumer import RawConsumer

        consumer: RawConsumer | None = None
        await asyncio.to_thread(warm_up)
        await platform.start()
        try:
            await store.start()
            if settings.consume_raw:
                consumer = RawConsumer(settings, intake, platform.keys, platform.producer)
                platform.readiness.add("consumer", consumer.check)
                await consumer.start()
                app.state.consumer = consumer
            yield
        finally:
            if consumer is not None:
                await consumer.stop(within=15)
            await store.stop()
            await platform.stop()

    return platform.app(
        router,
        lifespan,
        title="Kith ingest",
        version=__version__,
        summary="The single door for member activity: validates, normalizes, deduplicates and publishes events.",
        intake=intake,
        store=store,
    )
