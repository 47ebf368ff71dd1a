"""The recommend application: platform, checkpoints, consumer, refresher and micro-community discovery, in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from pymongo.errors import PyMongoError

from kith_recommend import SERVICE, __version__, api
from kith_recommend.checkpoints import Checkpointer, CheckpointPolicy
from kith_recommend.consumer import make_consumer
from kith_recommend.discovery import api as discovery_api
from kith_recommend.discovery.scheduler import Discovery
from kith_recommend.discovery.state import parts_for
from kith_recommend.discovery.store import DiscoveryStore
from kith_recommend.engine import Recommender
from kith_recommend.settings import RecommendSettings
from kith_recommend.store import CheckpointStore, CheckpointUnreadable
from kith_recommend.tenants import TenantStore
from kith_recommend.tuner import Tuner
from kith_shared.backoff import Backoff
from kith_shared.consumer import Consumer
from kith_shared.platform import Platform
from kith_shared.tombstone_store import TombstoneStore

log = logging.getLogger(__name__)


async def _load_then_consume(
    checkpointer: Checkpointer, tuner: Tuner, tombstones: TombstoneStore, consumer: Consumer[Any]
) -> None:
    """Load tombstones, tenants' settings and the last checkpoint (retrying while the database is unreachable),
    then consume."""
    recommender = checkpointer.recommender
    async for _ in Backoff(0.5, 5.0):
        try:
            await checkpointer.store.ensure()
            recommender.tombstones.replace(await tombstones.load())
            await tuner.load()
            await checkpointer.load()
            recommender.stale_reasons.pop("database", None)
            break
        except PyMongoError as exc:
            recommender.stale_reasons["database"] = f"checkpoint not loaded: {type(exc).__name__}"
            log.warning("checkpoint not loaded yet; database unreachable", extra={"error": repr(exc)})
        except CheckpointUnreadable as exc:  # not ready, and said why, until the checkpoint is repaired or rebuilt
            recommender.stale_reasons["database"] = f"{exc}; rebuild it (kith recommend rebuild)"
            log.error("the last checkpoint cannot be read; rebuild it", extra={"error": str(exc)})
    await consumer.start()


async def _watch(platform: Platform, recommender: Recommender, interval: float = 2.0) -> None:
    """Mark the model stale while the broker or the database is unreachable, or the consumer behind."""
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
    recommender = Recommender(
        settings.ranking, parts_for(settings.detection), erasure_secret=settings.erasure_secret.get_secret_value()
    )
    policy = CheckpointPolicy(
        every_seconds=settings.checkpoint_seconds,
        every_records=settings.checkpoint_records,
        lease_seconds=settings.checkpoint_lease_seconds,
    )
    checkpointer = Checkpointer(CheckpointStore(platform.db), recommender, policy)
    # The replica that writes the checkpoints (the lease holder) is the one that detects micro-communities.
    discovery = Discovery(
        settings, recommender, DiscoveryStore(platform.db), platform.producer, leads=lambda: checkpointer.holding
    )
    recommender.reorder = discovery.seeding.put_seeded_first
    tombstones = TombstoneStore(platform.db)
    consumer = make_consumer(settings, recommender, platform.producer, reload=checkpointer.load, tombstones=tombstones)
    tuner = Tuner(
        recommender,
        TenantStore(platform.db),
        settings.tuning,
        writer=lambda: checkpointer.holding,
        reload_seconds=settings.tenant_settings_reload_seconds,
    )
    platform.readiness.add("read_model", recommender.check_loaded)
    platform.readiness.add("consumer", consumer.check)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await platform.start()
        tasks: list[asyncio.Task[None]] = []
        try:
            tasks.append(
                asyncio.create_task(
                    _load_then_consume(checkpointer, tuner, tombstones, consumer), name="recommend-load"
                )
            )
            tasks.append(asyncio.create_task(checkpointer.run(), name="recommend-checkpoints"))
            tasks.append(
                asyncio.create_task(
                    recommender.refresh_forever(settings.refresh_interval_seconds), name="recommend-refresh"
                )
            )
            tasks.append(asyncio.create_task(_watch(platform, recommender), name="recommend-watch"))
            tasks.append(asyncio.create_task(discovery.load(), name="recommend-discovery-load"))
            tasks.append(asyncio.create_task(discovery.run(), name="recommend-discovery"))
            tasks.append(asyncio.create_task(discovery.outbox.run(), name="recommend-discovery-relay"))
            tasks.append(asyncio.create_task(tuner.run(), name="recommend-tuning"))
            yield
        finally:
            tasks[0].cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await tasks[0]
            await consumer.stop()
            for task in reversed(tasks[1:]):
                task.cancel()
            for task in reversed(tasks[1:]):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await discovery.close()
            await checkpointer.close()
            await platform.stop()

    app = platform.app(
        api.router,
        lifespan,
        title="Kith recommend",
        version=__version__,
        description="Communities to join, with reasons a person can read; micro-communities to nurture.",
        recommender=recommender,
        consumer=consumer,
        checkpointer=checkpointer,
        discovery=discovery,
        tuner=tuner,
    )
    app.include_router(discovery_api.router)
    return app
