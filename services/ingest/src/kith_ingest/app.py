"""The ingest application: HTTP door, raw-topic consumer, deduplication store, and their lifetimes."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from kith_ingest import SERVICE, __version__
from kith_ingest.api import EVENT_COMPONENTS, router
from kith_ingest.deadletters_api import router as dead_letters_router
from kith_ingest.domain.text import warm_up
from kith_ingest.erasure import ErasedMembers
from kith_ingest.intake import Intake
from kith_ingest.members_api import router as members_router
from kith_ingest.settings import IngestSettings
from kith_ingest.store import DedupeStore
from kith_shared.platform import Platform

#: Niceness of normalization worker processes: when the CPU is short, the event loop (health, every
#: other request) goes first and costly text waits.
WORKER_NICENESS = 5


def _start_worker() -> None:
    os.nice(WORKER_NICENESS)
    warm_up()


def normalization_pool(settings: IngestSettings) -> Executor | None:
    """Return the pool that normalizes large requests off the event loop (None: normalize on the loop)."""
    if settings.normalize_workers == 0:
        return None
    if settings.normalize_pool == "process":
        # Spawned, not forked: the service's process holds threads (broker and database clients).
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(settings.normalize_workers, mp_context=context, initializer=_start_worker)
    return ThreadPoolExecutor(settings.normalize_workers, thread_name_prefix="normalize")


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    """Build the ingest app; nothing connects until the lifespan starts."""
    settings = settings or IngestSettings()
    platform = Platform(settings, SERVICE)
    store = DedupeStore(
        platform.db,
        window=timedelta(seconds=settings.dedupe_window_seconds),
        claim_timeout=timedelta(seconds=settings.claim_timeout_seconds),
    )
    pool = normalization_pool(settings)
    erased = ErasedMembers(platform.db, settings.erasure_secret.get_secret_value(), settings.erasure_refresh_seconds)
    intake = Intake(settings, platform.producer, store, pool, erased)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from kith_ingest.consumer import RawConsumer

        consumer: RawConsumer | None = None
        await asyncio.to_thread(warm_up)
        if pool is not None:
            # Start every worker now (a process loads its language model), not on the first large request.
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(pool, warm_up) for _ in range(settings.normalize_workers)))
        await platform.start()
        try:
            await store.start()
            await erased.start()
            if settings.consume_raw:
                consumer = RawConsumer(settings, intake, platform.keys, platform.producer)
                platform.readiness.add("consumer", consumer.check)
                await consumer.start()
                app.state.consumer = consumer
            yield
        finally:
            if consumer is not None:
                await consumer.stop(within=15)
            await erased.stop()
            await store.stop()
            await platform.stop()
            if pool is not None:
                await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    app = platform.app(
        router,
        lifespan,
        title="Kith ingest",
        version=__version__,
        summary="The single door for member activity: validates, normalizes, deduplicates and publishes events.",
        schemas=EVENT_COMPONENTS,
        intake=intake,
        store=store,
    )
    app.include_router(dead_letters_router)
    app.include_router(members_router)
    return app
