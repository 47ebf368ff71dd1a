"""The Kith service paths for the offline evaluation: data in as events, suggestions out of the API.

Two rows, both through recommend's own consumer (its read model, built by its own code) and its
suggestions route, which runs the same ranking functions as in production and excludes communities
already joined (:mod:`bench.recsys.stack` starts the services):

- :class:`KithDefaults`, what a tenant gets out of the box: the **shipped defaults**, with
  memberships (``member.joined``) and friendships (``member.followed``, both directions) **posted to
  a running ingest** (``POST /v1/events:batch`` with a key of ``events:write``), as a client app
  would send them. It has one configuration, so nothing is tuned on the validation split; before
  ranking it checks through ``GET /v1/settings/ranking`` that the settings in effect are the defaults.
- :class:`KithServicePath`, what the ranking can reach: settings tuned on the validation split (a
  grid of exponents and the social weight, over co-membership and social signals only), with the
  same events published straight onto the activity topic in the form ingest writes there.

Each distinct training set becomes a fresh tenant, so tuning several settings on one split ingests
it once; settings only change how the service ranks (and compiles) its model.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

from bench.recsys.stack import EvalStack
from kith_recommend.domain.changes import Edge
from kith_recommend.domain.params import RankingParams
from kith_shared.events import SCHEMA_VERSION, Event
from kith_shared.events import data as d
from kith_shared.events import types as t

log = logging.getLogger(__name__)

#: The data has no timestamps: every event carries this one (the crawl's), so all joins are of one day.
EVENT_TIME = datetime(2007, 1, 15, tzinfo=UTC)
SOURCE = "bench://recsys"

#: Base of the tuned row: no topics, times or activity exist in this data, so only co-membership and
#: the social source apply; the grid varies the walk's exponents and the social weight.
BASE: dict[str, float] = {
    "co_membership_weight": 1.0,
    "social_weight": 0.1,
    "small_community_boost": 0.0,
    "topic_weight": 0.0,
    "trending_weight": 0.0,
    "popularity_weight": 0.0,
    "mmr_lambda": 1.0,
}


class ReadModelIncomplete(RuntimeError):
    """Recommend's read model does not hold every membership and friendship that was sent."""


class _ServicePath:
    """What both rows share: a stack, a tenant per training set, suggestions from the HTTP route."""

    name: ClassVar[str] = "kith"
    param_grid: ClassVar[list[dict[str, float]]] = [{}]

    def __init__(self, stack: EvalStack, *, concurrency: int = 16, ingest_timeout: float = 1_800.0) -> None:
        self.stack = stack
        self.concurrency = concurrency
        self.ingest_timeout = ingest_timeout
        self._fitted: dict[str, str] = {}
        self._tenant = ""
        self.timings: dict[str, float] = {}

    async def _send(self, tenant: str, train: dict[str, set[str]], follows: set[tuple[str, str]]) -> int:
        """Send the training data of a new tenant; return how many records recommend will apply."""
        raise NotImplementedError

    async def fit(self, train: dict[str, set[str]], friends: list[tuple[str, str]], params: dict[str, float]) -> None:
        """Send the training data as events (once per distinct training set) and rank with ``params``."""
        await self.stack.start()
        fingerprint = _fingerprint(train, friends)
        tenant = self._fitted.get(fingerprint)
        if tenant is None:
            tenant = f"eval-{len(self._fitted) + 1}-{fingerprint[:8]}"
            await self._ingest(tenant, train, friends)
            self._fitted[fingerprint] = tenant
        self._tenant = tenant
        self._settle(params)
        started = time.perf_counter()
        recommender = self.stack.recommender
        recommender.models.pop(tenant, None)
        await self.stack.compiled(tenant)
        self.timings["compile_seconds"] = time.perf_counter() - started

    def _settle(self, params: dict[str, float]) -> None:
        """Apply the row's settings before the model is compiled."""

    async def _ingest(self, tenant: str, train: dict[str, set[str]], friends: list[tuple[str, str]]) -> None:
        members = set(train)
        pairs = {(a, b) for a, b in friends if a != b and a in members and b in members}
        follows = pairs | {(b, a) for a, b in pairs}
        memberships = sum(len(items) for items in train.values())
        since = self.stack.recommender.records
        started = time.perf_counter()
        records = await self._send(tenant, train, follows)
        sent = time.perf_counter()
        await self.stack.applied(records, since, self.ingest_timeout)
        done = time.perf_counter()
        state = self.stack.recommender.state(tenant)
        held = sum(len(items) for items in state.edges[Edge.MEMBER].values())
        ties = sum(len(items) for items in state.edges[Edge.FOLLOWS].values())
        if held != memberships or ties != len(follows):
            raise ReadModelIncomplete(
                f"{tenant}: the read model holds {held} of {memberships} memberships "
                f"and {ties} of {len(follows)} follows"
            )
        self.timings.update(
            send_seconds=sent - started, read_model_seconds=done - started, events=float(memberships + len(follows))
        )
        log.info(
            "%s: %d memberships and %d follows in the read model of %s in %.1fs",
            self.name,
            memberships,
            len(follows),
            tenant,
            done - started,
        )

    async def recommend(self, users: list[str], k: int) -> dict[str, list[str]]:
        """Ask the service's suggestions route for each member (joined communities are excluded there)."""
        client = await self.stack.reader(self._tenant)
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
        """Stop the services and servers of this path."""
        await self.stack.close()


class KithDefaults(_ServicePath):
    """The shipped defaults, fed through ingest's public HTTP API."""

    name: ClassVar[str] = "kith defaults"
    param_grid: ClassVar[list[dict[str, float]]] = [{}]

    def __init__(self, stack: EvalStack | None = None, **options: Any) -> None:
        super().__init__(stack or EvalStack(with_ingest=True), **options)
        self.effective: dict[str, Any] = {}

    def _settle(self, params: dict[str, float]) -> None:
        if params:
            raise ValueError(f"the defaults row takes no settings, got {params}")

    async def _send(self, tenant: str, train: dict[str, set[str]], follows: set[tuple[str, str]]) -> int:
        tally = await self.stack.post(tenant, _wire_events(tenant, train, follows))
        return tally.accepted

    async def fit(self, train: dict[str, set[str]], friends: list[tuple[str, str]], params: dict[str, float]) -> None:
        """Post the training data to ingest, then check that the tenant's settings in effect are the defaults."""
        await super().fit(train, friends, params)
        client = await self.stack.reader(self._tenant)
        response = await client.get("/v1/settings/ranking")
        response.raise_for_status()
        body = response.json()
        self.effective = body["effective"]
        shipped = RankingParams().model_dump()
        if self.effective != shipped or body["settings"] or body["tuned"]:
            raise RuntimeError(f"the tenant does not rank with the shipped defaults: {body}")


class KithServicePath(_ServicePath):
    """Settings tuned on the validation split, with events published straight onto the activity topic."""

    name: ClassVar[str] = "kith tuned"
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

    def __init__(self, stack: EvalStack | None = None, **options: Any) -> None:
        super().__init__(stack or EvalStack(with_ingest=False), **options)

    def _settle(self, params: dict[str, float]) -> None:
        self.stack.recommender.ranking = RankingParams.model_validate({**BASE, **params})

    async def _send(self, tenant: str, train: dict[str, set[str]], follows: set[tuple[str, str]]) -> int:
        return await self.stack.publish(_normalized_events(tenant, train, follows))


def _fingerprint(train: dict[str, set[str]], friends: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for user in sorted(train):
        digest.update(user.encode())
        digest.update(b"\x00".join(sorted(item.encode() for item in train[user])))
        digest.update(b"\x01")
    digest.update(str(len(friends)).encode())
    return digest.hexdigest()


def _pairs(train: dict[str, set[str]], follows: set[tuple[str, str]]) -> Iterator[tuple[str, str, str]]:
    """Yield ("join", member, community) and ("follow", member, followed) in a stable order."""
    for user in sorted(train):
        for item in sorted(train[user]):
            yield "join", user, item
    for a, b in sorted(follows):
        yield "follow", a, b


def _wire_events(tenant: str, train: dict[str, set[str]], follows: set[tuple[str, str]]) -> Iterator[dict[str, Any]]:
    """Yield the training data as a client app posts it to ingest (the key names the tenant)."""
    at = EVENT_TIME.isoformat()
    for n, (kind, a, b) in enumerate(_pairs(train, follows), start=1):
        if kind == "join":
            yield {"specversion": "1.0", "id": f"{tenant}-j{n}", "source": SOURCE, "type": "member.joined",
                   "time": at, "data": {"member_id": a, "community_id": b}}  # fmt: skip
        else:
            yield {"specversion": "1.0", "id": f"{tenant}-f{n}", "source": SOURCE, "type": "member.followed",
                   "time": at, "data": {"member_id": a, "followed_member_id": b}}  # fmt: skip


def _normalized_events(tenant: str, train: dict[str, set[str]], follows: set[tuple[str, str]]) -> Iterator[Event]:
    """Yield the training data as normalized activity events (what ingest writes on the activity topic)."""
    common: dict[str, Any] = {
        "source": SOURCE, "time": EVENT_TIME, "tenant": tenant, "receivedtime": EVENT_TIME,
        "schemaversion": SCHEMA_VERSION,
    }  # fmt: skip
    for n, (kind, a, b) in enumerate(_pairs(train, follows), start=1):
        if kind == "join":
            yield t.MemberJoinedEvent(id=f"j{n}", **common, data=d.MemberJoined(member_id=a, community_id=b))
        else:
            yield t.MemberFollowedEvent(id=f"f{n}", **common, data=d.MemberFollowed(member_id=a, followed_member_id=b))


#: Candidate shipped defaults, each a change of the current defaults chosen on principle; the
#: candidates row compares them on the validation split (the test split never chooses a default).
DEFAULT_CANDIDATES: list[dict[str, float]] = [
    {},
    {"social_weight": 0.3},
    {"social_weight": 0.2},
    {"mmr_lambda": 0.95},
    {"mmr_lambda": 1.0},
    {"popularity_weight": 0.0},
    {"social_weight": 0.3, "mmr_lambda": 0.95},
    {"social_weight": 0.2, "mmr_lambda": 0.95},
    {"social_weight": 0.1, "popularity_weight": 0.0, "small_community_boost": 0.0, "mmr_lambda": 1.0},
]


class KithDefaultCandidates(KithServicePath):
    """Candidate defaults (changes of the shipped ones), compared on the validation split, onto the topic."""

    name: ClassVar[str] = "kith default candidates"
    param_grid: ClassVar[list[dict[str, float]]] = DEFAULT_CANDIDATES

    def _settle(self, params: dict[str, float]) -> None:
        self.stack.recommender.ranking = RankingParams().model_copy(update=params)
