"""The pipeline benchmark's load: a generator backlog, live activity at a rate, the YouTube import, probes.

A freshness probe is a ``member.joined`` of a new member, sent alone through ``POST /v1/events``;
from the 202 on, scoring's ``GET /v1/members/{id}/engagement`` (404 until scoring applied it) and
recommend's ``GET /v1/members/{id}/suggestions`` (``known_member`` false until recommend applied it)
are polled (every 50 ms at first, less often as the wait grows) until each shows the member.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.pipeline_stack import Stack
from kith_devkit.generator import GeneratorConfig, live
from kith_devkit.testing.kafka import from_start
from kith_shared.backoff import Backoff
from kith_shared.events import DecodeError, decode_kafka_record
from kith_shared.reading import read_to_end
from kith_shared.settings import KafkaSettings
from kith_shared.topics import ACTIVITY

#: The YouTube data has no times: every imported event carries this one.
IMPORT_TIME = "2007-01-15T00:00:00Z"
PROBE_COMMUNITY = "probe-room"


async def ceiling(kafka: KafkaSettings, expected: int | None) -> dict[str, float]:
    """Read and decode the activity topic to its end now, writing nothing: the read-only consumer's rate."""
    async with from_start(kafka, ACTIVITY, max_poll_records=5_000) as (consumer, partitions):
        count = 0
        started = time.perf_counter()
        async for batch in read_to_end(consumer, partitions, max_records=5_000):
            for record in batch:
                with contextlib.suppress(DecodeError):
                    decode_kafka_record(record.value, list(record.headers or ()))
                count += 1
        seconds = time.perf_counter() - started
    return {"events": count, "seconds": seconds, "events_per_s": count / max(seconds, 1e-9)}


def live_events() -> Iterator[dict[str, Any]]:
    """Yield raw live events of the generator's demo world, each run its own source (no duplicates)."""
    config = GeneratorConfig(tenant="demo", source=f"app://bench-pipeline/{uuid.uuid4().hex[:8]}")
    for event in live(config):
        yield event.model_dump(mode="json", exclude_none=True)


def youtube_events(root: Path, limit: int | None) -> list[dict[str, Any]]:
    """Return the YouTube memberships as ``member.joined`` and friendships as ``member.followed`` both ways."""
    common = {"source": "bench://youtube", "time": IMPORT_TIME, "tenant": "youtube"}
    events: list[dict[str, Any]] = []
    memberships = root / "release-youtube-groupmemberships.txt"
    for number, line in enumerate(memberships.read_text().splitlines()):
        user, group = line.split()[:2]
        data = {"member_id": f"u{user}", "community_id": f"g{group}"}
        events.append({"id": f"j{number}", "type": "member.joined", "data": data, **common})
    friendships = root / "decoded_friend_subgraph_mislove_ids.tsv"
    for number, line in enumerate(friendships.read_text().splitlines()):
        a, b = line.split()[:2]
        for direction, (who, whom) in enumerate(((a, b), (b, a))):
            data = {"member_id": f"u{who}", "followed_member_id": f"u{whom}"}
            events.append({"id": f"f{number}-{direction}", "type": "member.followed", "data": data, **common})
    return events[:limit] if limit is not None else events


async def post_batches(
    url: str,
    key: str,
    events: Iterator[dict[str, Any]],
    rate: float | None,
    duration: float | None,
    *,
    size: int | None = None,
    senders: int = 4,
) -> dict[str, int]:
    """Post events through ``POST /v1/events:batch``: ``rate`` events/s for ``duration`` s, or all as fast as it goes.

    At a rate, a batch of ``rate / 10`` events leaves every 100 ms (their times set to now); otherwise
    ``senders`` requests of ``size`` events are in flight at once.
    """
    tally = {"sent": 0, "accepted": 0, "duplicate": 0, "rejected": 0}
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    lock = asyncio.Semaphore(16 if rate else senders)

    async def send(client: httpx.AsyncClient, batch: list[dict[str, Any]]) -> None:
        async with lock:
            for _ in range(20):
                reply = await client.post("/v1/events:batch", content=json.dumps(batch), headers=headers)
                if reply.status_code not in (429, 503):
                    break
                await asyncio.sleep(1.0)
            if reply.status_code not in (200, 202, 207):
                raise RuntimeError(f"batch answered {reply.status_code}: {reply.text[:300]}")
            body = reply.json()
            tally["sent"] += len(batch)
            for name in ("accepted", "duplicate", "rejected"):
                tally[name] += int(body.get(name, 0))

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        tasks: list[asyncio.Task[None]] = []
        if rate is None:
            chunk = size or 1_000
            while batch := list(itertools.islice(events, chunk)):
                tasks.append(asyncio.create_task(send(client, batch)))
                running = {t for t in tasks if not t.done()}
                if len(running) >= senders:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        else:
            per_tick = max(1, round(rate / 10))
            started = time.monotonic()
            tick = 0
            while duration is None or time.monotonic() - started < duration:
                now = datetime.now(UTC).isoformat()
                batch = [{**event, "time": now} for event in itertools.islice(events, per_tick)]
                tasks.append(asyncio.create_task(send(client, batch)))
                tick += 1
                await asyncio.sleep(max(0.0, started + tick * 0.1 - time.monotonic()))
        await asyncio.gather(*tasks)
    return tally


class Probes:
    """Freshness probes: from ingest's 202 to the change visible in scoring's and recommend's APIs."""

    def __init__(self, stack: Stack, key: str) -> None:
        self.stack = stack
        self.headers = {"Authorization": f"Bearer {key}"}
        self.run = uuid.uuid4().hex[:6]
        self.scoring: list[float] = []
        self.recommend: list[float] = []
        self.unseen = {"scoring": 0, "recommend": 0}
        self._tasks: list[asyncio.Task[None]] = []
        self._count = itertools.count()

    async def prepare(self) -> None:
        """Wait until every service answers its API (the consumers may still be joining)."""
        async with httpx.AsyncClient(timeout=10, headers=self.headers) as client:
            for service, path in (("scoring", "/v1/whoami"), ("recommend", "/v1/members/nobody/suggestions")):
                for _ in range(600):
                    try:
                        if (await client.get(self.stack.url(service) + path)).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.2)

    async def run_until(self, done: asyncio.Task[Any], every: float) -> None:
        """Send a probe every ``every`` seconds until ``done`` finishes, then wait for the probes in flight."""
        async with httpx.AsyncClient(timeout=30, headers=self.headers) as client:
            while not done.done():
                self._tasks.append(asyncio.create_task(self._probe(client, next(self._count))))
                await asyncio.wait({done}, timeout=every)
            await asyncio.gather(*self._tasks)

    async def _probe(self, client: httpx.AsyncClient, number: int) -> None:
        member = f"probe-{self.run}-{number}"
        event = {
            "id": member, "source": "bench://pipeline-probe", "type": "member.joined",
            "time": datetime.now(UTC).isoformat(), "tenant": self.stack.tenant,
            "data": {"community_id": PROBE_COMMUNITY, "member_id": member},
        }  # fmt: skip
        reply = await client.post(f"{self.stack.ingest_url}/v1/events", json=event)
        if reply.status_code != 202:
            return
        accepted = time.monotonic()
        seen = await asyncio.gather(
            self._until(client, f"{self.stack.url('scoring')}/v1/members/{member}/engagement", None),
            self._until(client, f"{self.stack.url('recommend')}/v1/members/{member}/suggestions?limit=1", "known"),
        )
        for name, at, into in zip(("scoring", "recommend"), seen, (self.scoring, self.recommend), strict=True):
            if at is None:
                self.unseen[name] += 1
            else:
                into.append(at - accepted)

    @staticmethod
    async def _until(client: httpx.AsyncClient, url: str, field: str | None, within: float = 120.0) -> float | None:
        """Poll ``url`` until it shows the probe: every 50 ms at first, then less often (up to every 2 s).

        Probes waiting long must not flood the services they measure with reads.
        """
        deadline = time.monotonic() + within
        async for _ in Backoff(0.05, 2.0, factor=1.3, jitter=0.0):
            if time.monotonic() >= deadline:
                return None
            try:
                reply = await client.get(url)
                if reply.status_code == 200 and (field is None or reply.json().get("known_member")):
                    return time.monotonic()
            except httpx.HTTPError:
                continue
        return None
