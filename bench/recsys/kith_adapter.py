"""The Kith service path for the offline evaluation: data in as events, suggestions out of the API.

Training memberships are published as ``member.joined`` events and friendships as
``member.followed`` (both directions) on the activity topic, in the normalized form ingest writes
there. The recommend service's own consumer builds its read model in its own database with its own
code; suggestions come from its HTTP route (in-process through ``httpx.ASGITransport``), which runs
the same ranking functions as in production and excludes communities already joined.

Each distinct training set becomes a fresh tenant, so tuning several settings on one split ingests
it once; settings only change how the service ranks (and compiles) its model.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from kith_devkit.servers import ServerProcess, free_port, start_broker, start_database, wait_for_kafka
from kith_recommend.app import create_app
from kith_recommend.domain.changes import Edge
from kith_recommend.domain.params import RankingParams
from kith_recommend.engine import Recommender
from kith_recommend.settings import RecommendSettings
from kith_shared.auth import Scope
from kith_shared.events import SCHEMA_VERSION, encode_structured, structured_headers
from kith_shared.events import data as d
from kith_shared.events import types as t
from kith_shared.kafka import EventProducer, ensure_topics
from kith_shared.settings import KafkaSettings, MongoSettings
from kith_shared.topics import ACTIVITY

log = logging.getLogger(__name__)

#: The data has no timestamps: every event carries this one, so trending is flat and plays no part.
EVENT_TIME = datetime(2007, 1, 15, tzinfo=UTC)
SOURCE = "bench://recsys"

#: Base settings: no topics, times or activity exist in this data, so only co-membership and the
#: social source apply; the grid varies the walk's exponents and the social weight.
BASE: dict[str, float] = {
    "co_membership_weight": 1.0,
    "social_weight": 0.1,
    "small_community_boost": 0.0,
    "topic_weight": 0.0,
    "trending_weight": 0.0,
    "popularity_weight": 0.0,
    "mmr_lambda": 1.0,
}


class KithServicePath:
    """Evaluate the recommend service through its real path (events -> read model -> HTTP API)."""

    name: ClassVar[str] = "kith"
    param_grid: ClassVar[list[dict[str, float]]] = [
        {"popularity_penalty": 0.25, "source_size_exponent": 0.75, "neighbour_degree_exponent": 0.5},
        {
            "popularity_penalty": 0.25,
            "source_size_exponent": 0.75,
            "neighbour_degree_exponent": 0.5,
            "social_weight": 0.3,
        },
        {"popularity_penalty": 0.35, "source_size_exponent": 0.65, "neighbour_degree_exponent": 0.5},
        {"popularity_penalty": 0.25, "source_size_exponent": 0.85, "neighbour_degree_exponent": 0.5},
        {"popularity_penalty": 0.15, "source_size_exponent": 1.0, "neighbour_degree_exponent": 0.5},
        {"popularity_penalty": 0.25, "source_size_exponent": 1.0, "neighbour_degree_exponent": 1.0},
    ]

    def __init__(
        self,
        bootstrap: str | None = None,
        mongo_uri: str | None = None,
        *,
        concurrency: int = 16,
        publish_chunk: int = 5_000,
        ingest_timeout: float = 1_800.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.mongo_uri = mongo_uri
        self.concurrency = concurrency
        self.publish_chunk = publish_chunk
        self.ingest_timeout = ingest_timeout
        self._servers: list[ServerProcess] = []
        self._stack: AsyncExitStack | None = None
        self._app: FastAPI | None = None
        self._producer: EventProducer | None = None
        self._settings: RecommendSettings | None = None
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._fitted: dict[str, str] = {}
        self._tenant = ""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.timings: dict[str, float] = {}

    async def _start(self) -> None:
        if self._app is not None:
            return
        # One line per request would drown the evaluation's own progress log.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        self._tmp = tempfile.TemporaryDirectory(prefix="kith-eval-")
        tmp = Path(self._tmp.name)
        if self.bootstrap is None:
            broker = start_broker(free_port(), tmp / "broker.log")
            self._servers.append(broker)
            self.bootstrap = broker.address
            await wait_for_kafka(self.bootstrap)
        if self.mongo_uri is None:
            database = start_database(free_port(), tmp / "db", tmp / "db.log")
            self._servers.append(database)
            self.mongo_uri = f"mongodb://{database.address}"
        run = uuid.uuid4().hex[:8]
        kafka = KafkaSettings(
            bootstrap_servers=self.bootstrap, idempotence=False, topic_prefix=f"eval{run}.", request_timeout_ms=30_000
        )
        mongo = MongoSettings(
            uri=SecretStr(self.mongo_uri), database=f"kith_recommend_eval_{run}", auth_database=f"kith_auth_eval_{run}"
        )
        self._settings = RecommendSettings(
            environment="test",
            kafka=kafka,
            mongo=mongo,
            rate_limit_per_second=0,
            batch_max_records=5_000,
            refresh_interval_seconds=0.5,
        )
        await ensure_topics(kafka)
        self._app = create_app(self._settings)
        self._stack = AsyncExitStack()
        await self._stack.enter_async_context(self._app.router.lifespan_context(self._app))
        self._producer = EventProducer(kafka, send_timeout=60.0, linger_ms=20, max_batch_size=1_048_576)
        await self._producer.start()
        await self._producer.wait_connected(30)

    @property
    def _recommender(self) -> Recommender:
        assert self._app is not None
        recommender: Recommender = self._app.state.recommender
        return recommender

    async def _client(self, tenant: str) -> httpx.AsyncClient:
        client = self._clients.get(tenant)
        if client is None:
            assert self._app is not None
            key = await self._app.state.platform.keys.create_key(tenant, [Scope.RECOMMENDATIONS_READ], name="eval")
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self._app),
                base_url="http://recommend",
                headers={"Authorization": f"Bearer {key.key}"},
                timeout=60.0,
            )
            self._clients[tenant] = client
        return client

    async def fit(self, train: dict[str, set[str]], friends: list[tuple[str, str]], params: dict[str, float]) -> None:
        """Publish the training data as events (once per distinct training set) and apply ``params``."""
        await self._start()
        fingerprint = _fingerprint(train, friends)
        tenant = self._fitted.get(fingerprint)
        if tenant is None:
            tenant = f"eval-{len(self._fitted) + 1}-{fingerprint[:8]}"
            await self._ingest(tenant, train, friends)
            self._fitted[fingerprint] = tenant
        self._tenant = tenant
        ranking = RankingParams.model_validate({**BASE, **params})
        recommender = self._recommender
        recommender.ranking = ranking
        started = time.perf_counter()
        recommender.models.pop(tenant, None)
        await recommender.refresh([tenant])
        self.timings["compile_seconds"] = time.perf_counter() - started

    async def _ingest(self, tenant: str, train: dict[str, set[str]], friends: list[tuple[str, str]]) -> None:
        assert self._producer is not None
        assert self._settings is not None
        members = set(train)
        pairs = {(a, b) for a, b in friends if a != b and a in members and b in members}
        follows = pairs | {(b, a) for a, b in pairs}
        expected_memberships = sum(len(items) for items in train.values())
        started = time.perf_counter()
        topic = self._settings.kafka.topic(ACTIVITY)
        headers = structured_headers()
        chunk: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]] | None]] = []
        for event in _events(tenant, train, follows):
            chunk.append((topic, encode_structured(event), event.partition_key(), headers))
            if len(chunk) >= self.publish_chunk:
                await self._producer.send_many(chunk)
                chunk = []
        if chunk:
            await self._producer.send_many(chunk)
        published = time.perf_counter()
        state = self._recommender.state(tenant)
        deadline = time.monotonic() + self.ingest_timeout
        while True:
            memberships = sum(len(items) for items in state.edges[Edge.MEMBER].values())
            ties = sum(len(items) for items in state.edges[Edge.FOLLOWS].values())
            if memberships >= expected_memberships and ties >= len(follows):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"read model has {memberships}/{expected_memberships} memberships after ingest")
            await asyncio.sleep(0.5)
            state = self._recommender.state(tenant)
        done = time.perf_counter()
        self.timings.update(
            publish_seconds=published - started,
            read_model_seconds=done - started,
            events=float(expected_memberships + len(follows)),
        )
        log.info(
            "service path ingested %d memberships and %d follows for %s in %.1fs",
            expected_memberships,
            len(follows),
            tenant,
            done - started,
        )

    async def recommend(self, users: list[str], k: int) -> dict[str, list[str]]:
        """Ask the service's suggestions route for each member (joined communities are excluded there)."""
        client = await self._client(self._tenant)
        gate = asyncio.Semaphore(self.concurrency)
        out: dict[str, list[str]] = {}

        async def one(user: str) -> None:
            async with gate:
                response = await client.get(f"/v1/members/{user}/suggestions", params={"limit": k, "explain": "false"})
            response.raise_for_status()
            out[user] = [s["community_id"] for s in response.json()["suggestions"]]

        await asyncio.gather(*(one(user) for user in users))
        return out

    async def close(self) -> None:
        """Stop the service and the servers this path started."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        if self._producer is not None:
            await self._producer.stop()
        if self._stack is not None:
            await self._stack.aclose()
        for server in reversed(self._servers):
            server.stop()
        self._servers.clear()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()
        self._app = self._stack = self._producer = None


def _fingerprint(train: dict[str, set[str]], friends: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for user in sorted(train):
        digest.update(user.encode())
        digest.update(b"\x00".join(sorted(item.encode() for item in train[user])))
        digest.update(b"\x01")
    digest.update(str(len(friends)).encode())
    return digest.hexdigest()


def _events(tenant: str, train: dict[str, set[str]], follows: set[tuple[str, str]]) -> Iterator[Any]:
    """Yield the training data as normalized activity events."""
    common: dict[str, Any] = {
        "source": SOURCE, "time": EVENT_TIME, "tenant": tenant, "receivedtime": EVENT_TIME,
        "schemaversion": SCHEMA_VERSION,
    }  # fmt: skip
    n = 0
    for user in sorted(train):
        for item in sorted(train[user]):
            n += 1
            yield t.MemberJoinedEvent(id=f"j{n}", **common, data=d.MemberJoined(member_id=user, community_id=item))
    for a, b in sorted(follows):
        n += 1
        yield t.MemberFollowedEvent(id=f"f{n}", **common, data=d.MemberFollowed(member_id=a, followed_member_id=b))
