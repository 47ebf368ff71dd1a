"""The service path of the micro-community benchmark: events in through ingest's HTTP API, groups out of recommend's.

:class:`ServiceLab` starts the embedded broker and database once; :meth:`ServiceLab.run` then starts,
on topics of its own, the ingest and recommend apps in this process (with their lifespans: ingest
validates, normalizes, deduplicates and publishes; recommend's consumer builds its read model and
interaction graphs, its worker process detects). A :class:`Run` posts events to
``POST /v1/events:batch``, waits until recommend consumed them, asks for a detection with
``POST /v1/micro-communities:detect`` and reads the groups back from ``GET /v1/micro-communities``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from bench.embedded import embedded_servers
from kith_devkit.testing.kafka import topic_ends
from kith_ingest.app import create_app as create_ingest
from kith_ingest.settings import IngestSettings
from kith_recommend.app import create_app as create_recommend
from kith_recommend.discovery.scheduler import Discovery
from kith_recommend.domain.microcommunities import DetectionParams
from kith_recommend.settings import DiscoverySettings, RecommendSettings
from kith_recommend.store import Position
from kith_shared.auth import Scope
from kith_shared.events import Event
from kith_shared.kafka import ensure_topics
from kith_shared.settings import KafkaSettings, MongoSettings
from kith_shared.topics import ACTIVITY, ENGAGEMENT

log = logging.getLogger(__name__)
BATCH = 1_000


class Run:
    """One tenant's events through ingest and recommend, and the groups recommend found."""

    def __init__(self, tenant: str, ingest: httpx.AsyncClient, recommend: httpx.AsyncClient, app: FastAPI) -> None:
        self.tenant = tenant
        self.ingest = ingest
        self.recommend = recommend
        self.app = app
        self.settings: RecommendSettings = app.state.settings
        self.posted = 0

    @property
    def discovery(self) -> Discovery:
        """Return the recommend app's discovery (to know when an asked-for detection finished)."""
        discovery: Discovery = self.app.state.discovery
        return discovery

    async def post(self, events: Iterable[Event]) -> int:
        """Send events through ingest's batch API (1,000 a request); return how many ingest accepted."""
        accepted = 0
        batch: list[dict[str, Any]] = []

        async def send() -> None:
            nonlocal accepted, batch
            answer = await self.ingest.post(
                "/v1/events:batch", json=batch, headers={"Content-Type": "application/cloudevents-batch+json"}
            )
            if answer.status_code not in (200, 202):
                raise RuntimeError(f"ingest answered {answer.status_code}: {answer.text[:300]}")
            body = answer.json()
            accepted += int(body["accepted"]) + int(body["duplicate"])
            if body["rejected"]:
                raise RuntimeError(f"ingest rejected {body['rejected']} events: {body['results'][:3]}")
            batch = []

        for event in events:
            batch.append(event.model_dump(mode="json", exclude_none=True))
            if len(batch) >= BATCH:
                await send()
        if batch:
            await send()
        self.posted += accepted
        return accepted

    async def caught_up(self, within: float = 1_800.0) -> float:
        """Wait until recommend applied everything on its topics; return the seconds waited."""
        started = time.perf_counter()
        ends = await topic_ends(self.settings.kafka, ACTIVITY, ENGAGEMENT)
        positions = self.app.state.recommender.positions
        while True:
            behind = [
                tp
                for tp, end in ends.items()
                if end and positions.get((tp.topic, tp.partition), Position(0)).offset < end
            ]
            if not behind:
                return time.perf_counter() - started
            if time.perf_counter() - started > within:
                raise TimeoutError(f"recommend did not apply its topics within {within:g} s")
            await asyncio.sleep(0.2)

    async def detect(self, within: float = 1_800.0) -> float:
        """Ask for a detection and wait until it finished; return its wall seconds (raise if it failed)."""
        schedule = self.discovery.schedule(self.tenant)
        before = schedule.last_run
        answer = await self.recommend.post("/v1/micro-communities:detect")
        if answer.status_code != 202:
            raise RuntimeError(f"detect answered {answer.status_code}: {answer.text[:300]}")
        started = time.perf_counter()
        while schedule.last_run == before or schedule.requested:
            if time.perf_counter() - started > within:
                raise TimeoutError(f"no detection of {self.tenant} within {within:g} s")
            await asyncio.sleep(0.2)
        if schedule.failures:
            raise RuntimeError(f"detection of {self.tenant} failed: {schedule.last_error}")
        return schedule.last_seconds

    async def groups(self) -> list[dict[str, Any]]:
        """Return every group with its members, read page by page from the API."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 200, "include": "member_ids"}
            if cursor is not None:
                params["cursor"] = cursor
            answer = await self.recommend.get("/v1/micro-communities", params=params)
            answer.raise_for_status()
            body = answer.json()
            found.extend(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                return found


class ServiceLab:
    """The embedded broker and database for the benchmark's runs."""

    def __init__(self) -> None:
        self._stack = AsyncExitStack()
        self.bootstrap = ""
        self.mongo_uri = ""

    async def __aenter__(self) -> ServiceLab:
        logging.getLogger("httpx").setLevel(logging.WARNING)
        tmp = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="kith-microcommunities-"))
        servers = await self._stack.enter_async_context(embedded_servers(Path(tmp)))
        self.bootstrap = servers.broker.address
        self.mongo_uri = servers.mongo_uri
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._stack.aclose()

    @contextlib.asynccontextmanager
    async def run(self, tenant: str, detection: DetectionParams) -> AsyncIterator[Run]:
        """Start ingest and recommend (with ``detection``) on fresh topics and databases, for one tenant."""
        name = uuid.uuid4().hex[:8]
        kafka = KafkaSettings(
            bootstrap_servers=self.bootstrap, idempotence=False, topic_prefix=f"mc{name}.", request_timeout_ms=30_000
        )
        auth = f"auth_{name}"
        await ensure_topics(kafka)
        ingest_settings = IngestSettings(
            kafka=kafka,
            mongo=MongoSettings(uri=SecretStr(self.mongo_uri), database=f"ingest_{name}", auth_database=auth),
            consume_raw=False,
            rate_limit_per_second=0,
            log_level="WARNING",
        )
        recommend_settings = RecommendSettings(
            kafka=kafka,
            mongo=MongoSettings(uri=SecretStr(self.mongo_uri), database=f"recommend_{name}", auth_database=auth),
            rate_limit_per_second=0,
            batch_max_records=5_000,
            log_level="WARNING",
            detection=detection,
            discovery=DiscoverySettings(interval_seconds=86_400.0, timeout_seconds=1_800.0),
        )
        ingest_app = create_ingest(ingest_settings)
        recommend_app = create_recommend(recommend_settings)
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(ingest_app.router.lifespan_context(ingest_app))
            await stack.enter_async_context(recommend_app.router.lifespan_context(recommend_app))
            await ingest_app.state.platform.producer.wait_connected(60)
            await recommend_app.state.platform.producer.wait_connected(60)
            write = await ingest_app.state.keys.create_key(tenant, [Scope.EVENTS_WRITE], "bench")
            admin = await recommend_app.state.keys.create_key(tenant, [Scope.ADMIN], "bench")
            ingest = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=ingest_app),
                base_url="http://ingest",
                headers={"Authorization": f"Bearer {write.key}"},
                timeout=120.0,
            )
            recommend = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=recommend_app),
                base_url="http://recommend",
                headers={"Authorization": f"Bearer {admin.key}"},
                timeout=120.0,
            )
            stack.push_async_callback(ingest.aclose)
            stack.push_async_callback(recommend.aclose)
            yield Run(tenant, ingest, recommend, recommend_app)
