"""Micro-communities through the service, on the real broker and database: events in, groups and events out."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kith_devkit.events import community, event, join, post, reply
from kith_devkit.testing import RunService, eventually
from kith_recommend.app import create_app
from kith_recommend.settings import RecommendSettings
from kith_recommend.store import Position
from kith_shared.auth import Scope
from kith_shared.events import Event
from kith_shared.kafka import client_options, make_consumer
from kith_shared.reading import end_offsets
from kith_shared.topics import ACTIVITY, ENGAGEMENT, MICROCOMMUNITIES
from tests.tracing_support import spans

from .conftest import Running

__all__ = ["spans"]  # the fixture, for the test that traces a detection

pytestmark = pytest.mark.integration

BAKERS = [f"baker{i}" for i in range(6)]  # talk about sourdough, in no community together
CLIMBERS = [f"climber{i}" for i in range(6)]  # a close group inside the big climbing club
CLUB = [f"club{i}" for i in range(54)]  # the rest of the club (too large to tie its members): barely talking
KEYS = {"acme": [Scope.ADMIN], "other": [Scope.ADMIN], "reader": [Scope.RECOMMENDATIONS_READ]}


def slow_schedule(settings: RecommendSettings, **discovery: Any) -> RecommendSettings:
    """Return settings under which detection runs only when asked for (and quickly retried)."""
    update = {"interval_seconds": 3600.0, "retry_first_seconds": 0.2, "retry_most_seconds": 1.0, **discovery}
    return settings.model_copy(update={"discovery": settings.discovery.model_copy(update=update)})


@pytest.fixture
async def service(recommend_settings: RecommendSettings, running_service: RunService) -> AsyncIterator[Running]:
    """The service with an admin key of tenants acme and other, detecting only when asked."""
    async with running_service(create_app, slow_schedule(recommend_settings), KEYS) as running:
        yield running


def clique(members: list[str], cid: str, tenant: str = "acme") -> list[Event]:
    return [reply(a, b, cid, tenant=tenant) for a, b in itertools.combinations(members, 2)]


def world(tenant: str = "acme") -> list[Event]:
    """Bakers forming a group of their own, climbers close inside a club, a bot and staff tied to everyone."""
    events = [community("c-club", "Climbing Club", ["climbing"], tenant=tenant)]
    events += [community(f"c-home{i}", f"Home {i}", ["home"], tenant=tenant) for i in range(3)]
    events += [join(m, "c-club", tenant=tenant) for m in CLIMBERS + CLUB]
    events += [join(m, f"c-home{i % 3}", tenant=tenant) for i, m in enumerate(BAKERS)]
    events += clique(BAKERS, "c-home0", tenant) + clique(CLIMBERS, "c-club", tenant)
    events += [post(m, "c-home0", "#sourdough starter #rye", ["sourdough", "rye"], tenant=tenant) for m in BAKERS]
    events += [post(m, "c-club", "#climbing crag", ["climbing"], tenant=tenant) for m in CLIMBERS + CLUB[:4]]
    events += [reply(a, b, "c-club", tenant=tenant) for a, b in itertools.pairwise(CLUB)]
    roles = [{"member_id": "bot", "role": "bot"}, {"member_id": "boss", "community_id": "c-club", "role": "staff"}]
    events += [event("member.role.set", role, tenant=tenant) for role in roles]
    for helper in ("bot", "boss"):
        events += [reply(helper, m, "c-club", tenant=tenant) for m in BAKERS + CLIMBERS]
    return events


async def groups(running: Running, tenant: str = "acme", **params: Any) -> dict[str, Any]:
    answer = await running.client_for(tenant).get("/v1/micro-communities", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def caught_up(running: Running, within: float = 60) -> None:
    """Wait until the service applied every record published on its topics so far."""
    kafka = running.settings.kafka
    consumer = make_consumer(kafka, group=None)
    await consumer.start()
    try:
        topics = [kafka.topic(spec) for spec in (ACTIVITY, ENGAGEMENT)]
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or [])]
        consumer.assign(partitions)
        ends = await end_offsets(consumer, partitions)
    finally:
        await consumer.stop()
    positions = running.app.state.recommender.positions

    async def applied() -> bool:
        return all(
            end == 0 or positions.get((tp.topic, tp.partition), Position(0)).offset >= end for tp, end in ends.items()
        )

    await eventually(applied, within, "the service to apply every record")


async def detect_until(
    running: Running, done: Callable[[dict[str, Any]], bool], what: str, tenant: str = "acme", within: float = 60
) -> dict[str, Any]:
    """Wait for the consumer, then ask for detections until the list (with member ids) satisfies ``done``."""
    await caught_up(running)

    async def check() -> dict[str, Any] | None:
        answer = await running.client_for(tenant).post("/v1/micro-communities:detect")
        assert answer.status_code == 202, answer.text
        body = await groups(running, tenant, include="member_ids")
        return body if done(body) else None

    return await eventually(check, within, what, every=0.5)


def by_members(body: dict[str, Any]) -> dict[frozenset[str], dict[str, Any]]:
    return {frozenset(item["member_ids"]): item for item in body["items"]}


async def published(running: Running, count: int, within: float = 30) -> list[dict[str, Any]]:
    """Read the micro-community topic from its start until ``count`` records came."""
    kafka = running.settings.kafka
    consumer = AIOKafkaConsumer(
        kafka.topic(MICROCOMMUNITIES), auto_offset_reset="earliest", group_id=None, **client_options(kafka)
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:

        async def enough() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            found.extend(json.loads(r.value) for rs in batch.values() for r in rs)
            return len(found) >= count

        await eventually(enough, within, f"{count} records on {MICROCOMMUNITIES.name}")
        batch = await consumer.getmany(timeout_ms=1_000)  # and any more that came with them
        found.extend(json.loads(r.value) for rs in batch.values() for r in rs)
    finally:
        await consumer.stop()
    return found


async def test_events_in_groups_out_with_statuses_pages_and_details(service: Running) -> None:
    await service.publish(world())
    body = await detect_until(service, lambda b: len(b["items"]) == 2, "the bakers and the climbers found")
    found = by_members(body)
    assert set(found) == {frozenset(BAKERS), frozenset(CLIMBERS)}  # the bot and the staff member left out
    bakers, climbers = found[frozenset(BAKERS)], found[frozenset(CLIMBERS)]
    assert bakers["status"] == "emerging"
    assert [t["tag"] for t in bakers["topics"]][:2] in (["sourdough", "rye"], ["rye", "sourdough"])
    assert bakers["cohesion"]["density"] == 1.0
    assert bakers["growth"] == {"gained": 6, "lost": 0, "window": "7d", "window_days": 7}
    assert len(bakers["central_members"]) == 5
    assert climbers["status"] == "inside"
    assert climbers["overlaps"][0] == {
        "id": "c-club", "community_id": "c-club", "name": "Climbing Club", "jaccard": 0.1, "share": 1.0
    }  # fmt: skip
    assert set(bakers) == {
        "id", "size", "status", "overlaps", "topics", "cohesion", "first_seen", "growth", "central_members",
        "member_ids",
    }  # fmt: skip

    # Filters, sort and pages.
    assert [i["id"] for i in (await groups(service, status="inside"))["items"]] == [climbers["id"]]
    assert [i["id"] for i in (await groups(service, community_id="c-club"))["items"]] == [climbers["id"]]
    assert (await groups(service, community_id="c-nowhere"))["items"] == []
    first = await groups(service, limit=1, sort="cohesion")
    assert "member_ids" not in first["items"][0]
    second = await groups(service, limit=1, sort="cohesion", cursor=first["next_cursor"])
    assert {first["items"][0]["id"], second["items"][0]["id"]} == {bakers["id"], climbers["id"]}
    assert second["next_cursor"] is None
    client = service.client_for()
    bad = await client.get("/v1/micro-communities", params={"cursor": first["next_cursor"], "sort": "size"})
    assert bad.status_code == 422
    assert bad.json()["error"]["problems"][0]["field"] == "query.cursor"
    assert (await client.get("/v1/micro-communities", params={"include": "everything"})).status_code == 422
    assert (await client.get("/v1/micro-communities", params={"status": "famous"})).status_code == 422

    # One group, with its history and its ties for drawing.
    detail = (await client.get(f"/v1/micro-communities/{bakers['id']}", params={"include": "edges"})).json()
    assert detail["history"] == [{"at": bakers["first_seen"], "size": 6, "status": "emerging"}]
    assert "member_ids" not in detail
    assert len(detail["edges"]) == 15  # every pair of six
    assert {e["a"] for e in detail["edges"]} | {e["b"] for e in detail["edges"]} == set(BAKERS)
    assert all(e["weight"] > 0 for e in detail["edges"])
    missing = await client.get("/v1/micro-communities/mc-0000000000000000")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "microcommunity_not_found"

    # Another tenant sees none of it; a tenant with no interactions gets an empty list; scopes apply.
    assert await groups(service, "other") == {"items": [], "next_cursor": None}
    assert (await service.client_for("other").get(f"/v1/micro-communities/{bakers['id']}")).status_code == 404
    assert (await service.client_for("reader").get("/v1/micro-communities")).status_code == 403
    assert (await service.client.get("/v1/micro-communities")).status_code == 401


async def test_detected_changed_and_faded_are_published_on_their_topic(service: Running) -> None:
    chess = [f"chess{i}" for i in range(5)]
    pals = ["pal0", "pal1", "pal2"]  # tied only by follows
    follows = [
        event("member.followed", {"member_id": a, "followed_member_id": b}) for a, b in itertools.permutations(pals, 2)
    ]
    await service.publish(clique(chess, "c-x") + follows)
    await detect_until(service, lambda b: len(b["items"]) == 2, "the chess players and the pen pals")
    detected = await published(service, 2)
    assert {r["type"] for r in detected} == {"microcommunity.detected"}
    assert {frozenset(r["data"]["members"]) for r in detected} == {frozenset(chess), frozenset(pals)}
    assert all(r["source"] == "kith://recommend/microcommunities" and r["tenant"] == "acme" for r in detected)
    ids = {r["data"]["members"][0]: r["data"]["group_id"] for r in detected}

    # Two newcomers join the chess players (5 -> 7, past 20%); the pen pals unfollow each other.
    newcomers = [reply(n, m, "c-x") for n in ("new0", "new1") for m in [*chess, "new0", "new1"] if n != m]
    pairs = itertools.permutations(pals, 2)
    unfollows = [event("member.unfollowed", {"member_id": a, "followed_member_id": b}) for a, b in pairs]
    await service.publish(newcomers + unfollows)
    await detect_until(service, lambda b: [i["size"] for i in b["items"]] == [7], "seven chess players, no pen pals")
    by_group: dict[str, list[dict[str, Any]]] = {}
    for record in await published(service, 4):  # in order within a group (one partition each), not across
        by_group.setdefault(record["data"]["group_id"], []).append(record)
    chess_events, pal_events = by_group[ids["chess0"]], by_group[ids["pal0"]]
    assert [r["type"] for r in chess_events] == ["microcommunity.detected", "microcommunity.changed"]
    changed = chess_events[1]["data"]
    assert (changed["previous_size"], changed["size"], changed["gained"], changed["lost"]) == (
        5, 7, ["new0", "new1"], []
    )  # fmt: skip
    assert [r["type"] for r in pal_events] == ["microcommunity.detected", "microcommunity.faded"]
    assert sorted(pal_events[1]["data"]["last_members"]) == pals
    assert (await service.client_for().get(f"/v1/micro-communities/{ids['pal0']}")).status_code == 404
    metrics = (await service.client.get("/metrics")).text
    assert 'kith_events_out_total{service="recommend",topic="microcommunities.v1"}' in metrics


async def test_actions_and_the_loop_closing_with_seeded_from(service: Running) -> None:
    await service.publish(world())
    body = await detect_until(service, lambda b: len(b["items"]) == 2, "two groups")
    bakers = by_members(body)[frozenset(BAKERS)]
    climbers = by_members(body)[frozenset(CLIMBERS)]
    client = service.client_for()

    actions = (await client.get(f"/v1/micro-communities/{bakers['id']}/actions")).json()
    create = next(a for a in actions if a["kind"] == "create_community")
    assert create["proposed_name"] in ("Sourdough & Rye", "Rye & Sourdough")
    assert create["title"].startswith("Create a community for this group")
    assert create["members"] == bakers["central_members"]
    assert "6 members who interact with one another" in create["reason"]
    assert set(create) == {"kind", "title", "reason", "members", "proposed_name"}
    inside = (await client.get(f"/v1/micro-communities/{climbers['id']}/actions")).json()
    subspace = next(a for a in inside if a["kind"] == "invite_to_subspace")
    assert subspace["community_id"] == "c-club"
    assert "Climbing Club" in subspace["reason"]
    assert (await client.get("/v1/micro-communities/mc-nope/actions")).status_code == 404

    # A climber slips away (scoring's engagement change): the group's actions say to re-engage them.
    slipping = {"member_id": "climber5", "community_id": "c-club", "score": 0.2, "level": 0, "state": "slipping",
                "as_of": "2026-11-01T00:00:00Z"}  # fmt: skip
    await service.publish([event("engagement.changed", slipping)])

    async def re_engage() -> dict[str, Any] | None:
        found = (await client.get(f"/v1/micro-communities/{climbers['id']}/actions")).json()
        return next((a for a in found if a["kind"] == "re_engage"), None)

    action = await eventually(re_engage, 30, "a re-engage action")
    assert action["members"] == ["climber5"]

    # A community is created for the bakers: it comes first in their suggestions, with the reason.
    created = community("c-bread", "Sourdough & Rye", ["sourdough"], owner="baker0")
    created = created.model_copy(update={"data": created.data.model_copy(update={"seeded_from": bakers["id"]})})
    await service.publish([created, join("baker0", "c-bread"), join("baker1", "c-bread")])

    async def first_suggestion() -> dict[str, Any] | None:
        answer = await client.get("/v1/members/baker2/suggestions", params={"limit": 3})
        suggested = answer.json()["suggestions"]
        return suggested[0] if suggested and suggested[0]["community_id"] == "c-bread" else None

    top = await eventually(first_suggestion, 30, "c-bread first for baker2")
    assert top["reasons"][0] == {"kind": "seeded", "text": "you talk with 2 of its first members"}
    joined = (await client.get("/v1/members/baker0/suggestions")).json()["suggestions"]
    assert "c-bread" not in [s["community_id"] for s in joined]  # already in it
    climber = (await client.get("/v1/members/climber0/suggestions")).json()["suggestions"]
    assert not climber or climber[0]["community_id"] != "c-bread"

    invite = next(a for a in (await client.get(f"/v1/micro-communities/{bakers['id']}/actions")).json())
    assert invite["kind"] == "invite_to_community"
    assert invite["community_id"] == "c-bread"
    assert sorted(invite["members"]) == BAKERS[2:]

    # They all join: the group now matches its community.
    await service.publish([join(m, "c-bread") for m in BAKERS[2:]])
    body = await detect_until(
        service, lambda b: by_members(b).get(frozenset(BAKERS), {}).get("status") == "matches", "the bakers match"
    )
    matched = by_members(body)[frozenset(BAKERS)]
    assert matched["id"] == bakers["id"]
    assert matched["overlaps"][0]["id"] == "c-bread"


async def test_detection_failing_for_one_tenant_leaves_the_others_and_suggestions_alone(
    recommend_settings: RecommendSettings, running_service: RunService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kith_recommend.discovery import job

    real = job.detect  # type: ignore[attr-defined]  # the name the worker calls, replaced here

    def failing_for_other(tenant: str, *args: Any, **kwargs: Any) -> Any:
        if tenant == "other":
            raise RuntimeError("the graph of other cannot be partitioned")
        return real(tenant, *args, **kwargs)

    monkeypatch.setattr(job, "detect", failing_for_other)
    settings = slow_schedule(recommend_settings, executor="thread")
    async with running_service(create_app, settings, KEYS) as running:
        await running.publish(world() + world("other"))
        await detect_until(running, lambda b: len(b["items"]) == 2, "acme's groups")
        client = running.client_for("other")
        assert (await client.post("/v1/micro-communities:detect")).status_code == 202

        async def failed_twice() -> bool:
            metrics = (await running.client.get("/metrics")).text.splitlines()
            counted = any(
                line.startswith("kith_microcommunity_detections_total{") and 'outcome="failed"' in line
                for line in metrics
            )
            return counted and running.app.state.discovery.schedule("other").failures >= 2

        await eventually(failed_twice, 30, "other's detection failed and was retried")
        assert await groups(running, "other") == {"items": [], "next_cursor": None}
        assert len((await groups(running))["items"]) == 2  # acme's groups still served
        suggestions = await client.get("/v1/members/baker0/suggestions")
        assert suggestions.status_code == 200
        metrics = (await running.client.get("/metrics")).text
        assert 'kith_microcommunity_failing_tenants{service="recommend"} 1.0' in metrics

        monkeypatch.setattr(job, "detect", real)  # the cause is fixed: the next retry works
        await detect_until(running, lambda b: len(b["items"]) == 2, "other's groups", tenant="other")


@pytest.mark.slow
async def test_a_restart_serves_the_stored_groups_at_once_and_the_checkpoint_brings_the_graph_back(
    recommend_settings: RecommendSettings, running_service: RunService
) -> None:
    settings = slow_schedule(recommend_settings)
    async with running_service(create_app, settings, KEYS) as running:
        await running.publish(world())
        before = await detect_until(running, lambda b: len(b["items"]) == 2, "two groups")
        await published(running, 2)
    async with running_service(create_app, settings, KEYS) as running:

        async def served() -> dict[str, Any] | None:
            body = await groups(running, include="member_ids")
            return body if body["items"] else None

        assert await eventually(served, 15, "the stored groups") == before
        discovery = running.app.state.discovery
        recommender = running.app.state.recommender

        async def loaded() -> bool:
            return bool(recommender.loaded)

        await eventually(loaded, 30, "the state loaded from the last checkpoint")
        graph = discovery.graph("acme")
        assert graph is not None
        assert graph.graph.tie_count > 0
        assert graph.detection is not None  # the last detection came back with the graph, for the warm start
        after = await detect_until(
            running, lambda b: discovery.schedule("acme").detected_version >= 0, "a detection after the restart"
        )
        assert {i["id"]: i["member_ids"] for i in after["items"]} == {i["id"]: i["member_ids"] for i in before["items"]}
        assert len(await published(running, 2)) == 2  # the same groups are not announced again


@pytest.mark.slow
async def test_only_the_replica_holding_the_lease_detects_and_the_others_serve_what_it_stored(
    recommend_settings: RecommendSettings, running_service: RunService
) -> None:
    settings = slow_schedule(recommend_settings, interval_seconds=1.0)
    async with (
        running_service(create_app, settings, KEYS) as one,
        running_service(create_app, settings, KEYS) as two,
    ):
        await one.publish(world())
        await caught_up(one)
        await caught_up(two)
        replicas = {"one": one, "two": two}
        for running in replicas.values():  # either may be asked: the one that does not detect passes it on
            assert (await running.client_for().post("/v1/micro-communities:detect")).status_code == 202

        async def both_serve() -> bool:
            bodies = [await groups(running, include="member_ids") for running in replicas.values()]
            return all(len(body["items"]) == 2 for body in bodies) and bodies[0] == bodies[1]

        await eventually(both_serve, 60, "both replicas serving the same two groups")
        detected = {name: r.app.state.discovery.schedules for name, r in replicas.items()}
        ran = [name for name, schedules in detected.items() if any(s.last_seconds > 0 for s in schedules.values())]
        assert len(ran) == 1, detected
        assert len(await published(one, 2)) == 2  # announced once, by the replica that detects


async def test_announcements_carry_the_trace_of_the_detection_that_made_them(
    spans: InMemorySpanExporter, service: Running
) -> None:
    chess = [f"chess{i}" for i in range(5)]
    await service.publish(clique(chess, "c-x"))
    await detect_until(service, lambda b: len(b["items"]) == 1, "the chess players")
    (record,) = await published(service, 1)
    assert record["type"] == "microcommunity.detected"
    trace_id = int(record["traceparent"].split("-")[1], 16)
    detections = [span for span in spans.get_finished_spans() if span.name == "microcommunities detect"]
    assert trace_id in {span.context.trace_id for span in detections if span.context is not None}
