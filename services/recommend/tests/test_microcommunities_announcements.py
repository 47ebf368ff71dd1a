"""Micro-community announcements: detected, changed and faded on their topic, carrying the detection's trace."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kith_devkit.events import event, reply
from tests.tracing_support import spans

from .conftest import Running
from .microcommunities_world import clique, detect_until, published

__all__ = ["spans"]  # the fixture, for the test that traces a detection

pytestmark = pytest.mark.integration


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
