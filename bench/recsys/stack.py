"""The services an evaluation runs through: broker and database, ingest as its own process, recommend in process.

Events enter as a client app sends them (``POST /v1/events:batch`` on a running ingest, with a key of
``events:write``) or, for settings tuned on the data, straight onto the activity topic in the
normalized form ingest writes there. Either way recommend's own consumer builds its read model with
its own code, and suggestions and a tenant's settings go through recommend's HTTP routes (in
process, through ``httpx.ASGITransport``: the same app, middleware and routes as a deployed replica).

Recommend runs with the shipped ranking defaults unless given others. Two things differ from a
deployment, neither of them ranking: no rate limit (the evaluation asks for thousands of lists at
once), and no scheduled self-tuning, so that what is measured is the settings named, not whatever an
evaluation in the middle of the ingest might adopt (``python -m bench recommend_tuning`` measures
what self-tuning chooses).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from bench.embedded import service_env
from bench.measure import Server
from kith_cli.client import IngestClient, Tally
from kith_devkit.servers import ServerProcess, free_port, start_broker, start_database, wait_for_kafka
from kith_recommend.app import create_app
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.tuning import TuningParams
from kith_recommend.engine import Recommender
from kith_recommend.settings import RecommendSettings
from kith_shared.auth import Scope
from kith_shared.events import Event, encode_structured, structured_headers
from kith_shared.kafka import EventProducer, ensure_topics
from kith_shared.settings import KafkaSettings, MongoSettings
from kith_shared.topics import ACTIVITY

log = logging.getLogger(__name__)

#: Events per ingest request (ingest's default ``INGEST_MAX_BATCH_EVENTS``) and requests in flight at once.
INGEST_BATCH = 1_000
INGEST_SENDERS = 4


class IngestRefusedEvents(RuntimeError):
    """Ingest did not accept every event posted; the message says which and why."""


class EvalStack:
    """Broker, database, optionally ingest (a process) and recommend (in process), started once, stopped at the end."""

    def __init__(
        self,
        *,
        with_ingest: bool,
        ranking: RankingParams | None = None,
        bootstrap: str | None = None,
        mongo_uri: str | None = None,
    ) -> None:
        self.with_ingest = with_ingest
        self.ranking = ranking
        self.bootstrap = bootstrap
        self.mongo_uri = mongo_uri
        self.servers: list[ServerProcess] = []
        self.ingest: Server | None = None
        self.settings: RecommendSettings | None = None
        self.app: FastAPI | None = None
        self._stack: AsyncExitStack | None = None
        self._producer: EventProducer | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._readers: dict[str, httpx.AsyncClient] = {}
        self._writers: dict[str, IngestClient] = {}

    @property
    def started(self) -> bool:
        """Tell whether :meth:`start` ran (and :meth:`close` did not since)."""
        return self.app is not None

    @property
    def recommender(self) -> Recommender:
        """Return recommend's engine (its read model and compiled models)."""
        assert self.app is not None, "start the stack first"
        recommender: Recommender = self.app.state.recommender
        return recommender

    async def start(self) -> None:
        """Start the servers, ingest when asked for, and recommend with its lifespan (consumer, refresh, tuner)."""
        if self.app is not None:
            return
        # One line per request would drown the evaluation's own progress log.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self._tmp = tempfile.TemporaryDirectory(prefix="kith-eval-")
        tmp = Path(self._tmp.name)
        if self.bootstrap is None:
            broker = start_broker(free_port(), tmp / "broker.log")
            self.servers.append(broker)
            self.bootstrap = broker.address
            await wait_for_kafka(self.bootstrap)
        if self.mongo_uri is None:
            database = start_database(free_port(), tmp / "db", tmp / "db.log")
            self.servers.append(database)
            self.mongo_uri = f"mongodb://{database.address}"
        run = uuid.uuid4().hex[:8]
        prefix = f"eval{run}."
        auth_database = f"kith_auth_eval_{run}"
        kafka = KafkaSettings(
            bootstrap_servers=self.bootstrap, idempotence=False, topic_prefix=prefix, request_timeout_ms=30_000
        )
        mongo = MongoSettings(
            uri=SecretStr(self.mongo_uri), database=f"kith_recommend_eval_{run}", auth_database=auth_database
        )
        overrides: dict[str, Any] = {} if self.ranking is None else {"ranking": self.ranking}
        self.settings = RecommendSettings(
            environment="test",
            kafka=kafka,
            mongo=mongo,
            rate_limit_per_second=0,
            tuning=TuningParams(interval_seconds=0),
            **overrides,
        )
        await ensure_topics(kafka)
        if self.with_ingest:
            port = free_port()
            ingest_mongo = mongo.model_copy(update={"database": f"kith_ingest_eval_{run}"})
            env = service_env("ingest", port, kafka, ingest_mongo, inherit=False, consume_raw="false")
            self.ingest = Server.service("ingest", env, port, tmp / "ingest.log")
            await self.ingest.ready()
        self.app = create_app(self.settings)
        self._stack = AsyncExitStack()
        await self._stack.enter_async_context(self.app.router.lifespan_context(self.app))

    async def key(self, tenant: str, scopes: Sequence[Scope], name: str) -> str:
        """Create an API key of ``tenant`` (in the key store every service reads) and return it."""
        assert self.app is not None, "start the stack first"
        created = await self.app.state.platform.keys.create_key(tenant, list(scopes), name=name)
        return str(created.key)

    async def reader(self, tenant: str) -> httpx.AsyncClient:
        """Return an HTTP client of recommend holding a key of ``tenant`` that reads suggestions and settings."""
        client = self._readers.get(tenant)
        if client is None:
            assert self.app is not None, "start the stack first"
            key = await self.key(tenant, [Scope.RECOMMENDATIONS_READ, Scope.ADMIN], "evaluation")
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.app),
                base_url="http://recommend",
                headers={"Authorization": f"Bearer {key}"},
                timeout=120.0,
            )
            self._readers[tenant] = client
        return client

    async def post(self, tenant: str, events: Iterable[dict[str, Any]]) -> Tally:
        """Post events (as a client app writes them) to ingest in batches; raise unless ingest accepted every one."""
        assert self.ingest is not None, "this stack runs no ingest"
        writer = self._writers.get(tenant)
        if writer is None:
            writer = IngestClient(self.ingest.url, await self.key(tenant, [Scope.EVENTS_WRITE], "evaluation producer"))
            self._writers[tenant] = writer
        queue: asyncio.Queue[tuple[int, list[dict[str, Any]]]] = asyncio.Queue()
        batch: list[dict[str, Any]] = []
        sent = 0
        for event in events:
            batch.append(event)
            if len(batch) == INGEST_BATCH:
                queue.put_nowait((sent, batch))
                sent += len(batch)
                batch = []
        if batch:
            queue.put_nowait((sent, batch))
        total = Tally()

        async def sender() -> None:
            while not queue.empty():
                first, items = queue.get_nowait()
                total.add(await writer.send_batch(items, first))

        await asyncio.gather(*(sender() for _ in range(INGEST_SENDERS)))
        if total.accepted != total.sent:
            shown = "; ".join(f"#{i}: {why}" for i, why in total.rejections[:5])
            raise IngestRefusedEvents(
                f"ingest accepted {total.accepted} of {total.sent} events ({total.duplicate} duplicates, "
                f"{total.rejected} rejected: {shown})"
            )
        return total

    async def publish(self, events: Iterable[Event], chunk: int = 5_000) -> int:
        """Publish normalized events straight onto the activity topic (no ingest); return how many."""
        assert self.settings is not None, "start the stack first"
        if self._producer is None:
            self._producer = EventProducer(self.settings.kafka, send_timeout=60.0, linger_ms=20, max_batch_size=1 << 20)
            await self._producer.start()
            await self._producer.wait_connected(30)
        topic = self.settings.kafka.topic(ACTIVITY)
        headers = structured_headers()
        records: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]] | None]] = []
        count = 0
        for event in events:
            records.append((topic, encode_structured(event), event.partition_key(), headers))
            if len(records) >= chunk:
                await self._producer.send_many(records)
                count += len(records)
                records = []
        if records:
            await self._producer.send_many(records)
            count += len(records)
        return count

    async def applied(self, records: int, since: int, within: float = 1_800.0) -> None:
        """Wait until recommend's consumer applied ``records`` more records than it had at ``since``."""
        recommender = self.recommender
        deadline = time.monotonic() + within
        while recommender.records - since < records:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"recommend applied {recommender.records - since} of {records} records within {within:g}s"
                )
            await asyncio.sleep(0.25)

    async def compiled(self, tenant: str) -> None:
        """Compile the tenant's model from its current state now (the refresh loop would, within a second)."""
        await self.recommender.refresh([tenant])

    async def close(self) -> None:
        """Stop recommend, ingest and the servers this stack started."""
        for client in self._readers.values():
            await client.aclose()
        self._readers.clear()
        for writer in self._writers.values():
            await writer.close()
        self._writers.clear()
        if self._producer is not None:
            await self._producer.stop()
        if self._stack is not None:
            await self._stack.aclose()
        if self.ingest is not None:
            self.ingest.stop()
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()
        self.app = self._stack = self._producer = self.ingest = None
