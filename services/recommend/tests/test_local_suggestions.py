"""Places, staff and bots, per-tenant settings and self-tuning on the real broker and database.

Places go in through ingest's HTTP API (run beside recommend on the test's topics), so their
validation, normalization and the consumer's reading are all on the path.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kith_devkit.events import community, event, join
from kith_devkit.testing import MakeSettings, RunService, eventually
from kith_ingest.app import create_app as create_ingest
from kith_ingest.settings import IngestSettings
from kith_recommend.app import create_app
from kith_recommend.domain.tuning import TuningParams
from kith_recommend.settings import RecommendSettings
from kith_shared.auth import Scope
from kith_shared.events import Event

from .conftest import Running

pytestmark = pytest.mark.integration

SEATTLE = {"name": "Seattle", "country": "US", "latitude": 47.6062, "longitude": -122.3321}
BALLARD = {"name": "Ballard, Seattle", "country": "us", "latitude": 47.6677, "longitude": -122.3847}
DENVER = {"name": "Denver", "country": "US", "latitude": 39.7392, "longitude": -104.9903}
LISBON = {"name": "Lisbon", "country": "PT", "latitude": 38.7223, "longitude": -9.1393}
WHEN = datetime.now(UTC) - timedelta(days=2)


def raw(n: int, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """An event as a client app sends it to ingest."""
    when = (WHEN + timedelta(seconds=n)).isoformat()
    return {"id": f"loc-{n}", "source": "app://test", "type": event_type, "time": when, "data": data}


def running_world() -> list[dict[str, Any]]:
    """Running clubs in Seattle, Denver and Lisbon, an online group; the far clubs are the most joined."""
    clubs = [
        ("c-sea", "Seattle Run Club", "local", SEATTLE),
        ("c-den", "Denver Pace Group", "local", DENVER),
        ("c-lis", "Lisbon Run Club", "local", LISBON),
        ("c-web", "Marathon Training Online", "online", None),
        ("c-home", "Runners Everywhere", "online", None),
    ]
    bodies = []
    for cid, name, mode, where in clubs:
        data: dict[str, Any] = {"community_id": cid, "name": name, "topics": ["running"], "mode": mode}
        if where is not None:
            data["location"] = where
        bodies.append(("community.created", data))
    for i in range(8):
        bodies += [("member.joined", {"member_id": f"r{i}", "community_id": c}) for c in ("c-home", "c-den", "c-lis")]
    for i in range(4):
        bodies += [("member.joined", {"member_id": f"s{i}", "community_id": c}) for c in ("c-home", "c-sea", "c-web")]
    # A bot in every club: staff and bots count as nobody's co-member.
    bodies += [("member.joined", {"member_id": "bot-1", "community_id": c}) for c, *_ in clubs]
    bodies.append(("member.role.set", {"member_id": "bot-1", "role": "bot"}))
    bodies += [("member.joined", {"member_id": m, "community_id": "c-home"}) for m in ("m-42", "m-43", "m-44")]
    bodies.append(("member.profile.updated", {"member_id": "m-42", "location": SEATTLE}))
    attended = {"member_id": "m-43", "community_id": "c-home", "event_id": "e-1", "location": BALLARD}
    bodies += [("event.attended", attended), ("event.attended", {**attended, "event_id": "e-2"})]
    return [raw(n, t, d) for n, (t, d) in enumerate(bodies)]


async def suggestions(running: Running, member: str, **params: Any) -> list[dict[str, Any]]:
    response = await running.client_for("acme").get(f"/v1/members/{member}/suggestions", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["suggestions"]
    return found


async def test_places_through_ingest_filter_and_explain_suggestions(
    make_settings: MakeSettings, running_service: RunService, running: Running
) -> None:
    ingest_settings = make_settings(IngestSettings, consume_raw=False)
    async with running_service(create_ingest, ingest_settings, {"acme": [Scope.EVENTS_WRITE]}) as ingest:
        batch = running_world()
        nowhere = {"country": "XX", "latitude": 10.0, "longitude": 200.0}
        bad = raw(999, "community.created", {"community_id": "c-bad", "name": "Bad", "location": nowhere})
        answer = await ingest.client_for("acme").post("/v1/events:batch", json=[*batch, bad])
        assert answer.status_code == 202, answer.text
        results = answer.json()["results"]
        assert all(r["status"] == "accepted" for r in results[:-1]), results
        assert results[-1]["status"] == "rejected"
        assert {p["field"] for p in results[-1]["problems"]} == {"data.location.longitude"}

    async def located() -> bool:
        found = await suggestions(running, "m-43")
        return bool(found) and any(s["place"].get("distance_km") is not None for s in found)

    await eventually(located, 30, "suggestions for m-43 know where m-43 is")
    for member in ("m-42", "m-43"):  # declared in Seattle; inferred from events attended in Ballard
        found = await suggestions(running, member, limit=10)
        ids = [s["community_id"] for s in found]
        assert "c-den" not in ids
        assert "c-lis" not in ids
        assert ids[:1] == ["c-sea"] or ids[:2] == ["c-web", "c-sea"]
        seattle = next(s for s in found if s["community_id"] == "c-sea")
        assert seattle["place"]["mode"] == "local"
        assert seattle["reasons"][0]["kind"] == "place"
        assert seattle["reasons"][0]["text"].startswith("meets in Seattle, ")
        assert seattle["reasons"][0]["text"].endswith(" km from you")
        assert [s["position"] for s in found] == list(range(1, len(found) + 1))
        scores = [s["score"] for s in found]
        assert scores == sorted(scores, reverse=True)
        assert seattle["members"] == 4  # the bot is not counted
    # Nobody knows where m-44 is: no local club (it could be in any city), the online ones are shown.
    unknown = [s["community_id"] for s in await suggestions(running, "m-44", limit=10)]
    assert unknown == ["c-web"]
    assert "bot" not in str(await suggestions(running, "m-44"))

    # Places off, as the tenant's own setting: the far clubs come back for m-42, with no distance shown.
    await running.add_key("acme", [Scope.RECOMMENDATIONS_READ, Scope.RECOMMENDATIONS_WRITE, Scope.ADMIN])
    admin = running.client_for("acme")
    refused = await admin.put("/v1/settings/ranking", json={"settings": {"use_places": "maybe"}})
    assert refused.status_code == 422
    assert refused.json()["error"]["problems"][0]["field"] == "settings.use_places"
    off = await admin.put("/v1/settings/ranking", json={"settings": {"use_places": False}, "pinned": True})
    assert off.status_code == 200, off.text
    assert off.json()["effective"]["use_places"] is False

    async def placeless() -> list[dict[str, Any]] | None:
        found = await suggestions(running, "m-42", limit=10)
        return found if {"c-den", "c-lis"} <= {s["community_id"] for s in found} else None

    far = await eventually(placeless, 30, "m-42 ranked without places")
    assert all(s["place"].get("distance_km") is None for s in far)
    assert (await admin.delete("/v1/settings/ranking")).json()["effective"]["use_places"] is True
    back = [s["community_id"] for s in await suggestions(running, "m-42", limit=10)]
    assert "c-den" not in back
    assert "c-lis" not in back

    # Erasure takes the member's location with everything else.
    await running.publish([event("member.erased", {"member_id": "m-42"})])

    async def forgotten() -> bool:
        return "m-42" not in running.app.state.recommender.state("acme").locations

    await eventually(forgotten, 20, "m-42's location erased")
    assert all(s["place"].get("distance_km") is None for s in await suggestions(running, "m-42"))


def clustered() -> list[Event]:
    """Clusters of three communities; members join two early and the third late (the held-out joins)."""
    events: list[Event] = []
    for k in range(12):
        events += [community(f"c-{k}-{j}", f"Club {k}-{j}", [f"topic{k}"]) for j in range(3)]
    for k in range(12):
        for i in range(60 if k < 2 else 20):
            first, second, late = (i % 3, (i + 1) % 3, (i + 2) % 3)
            m = f"m-{k}-{i}"
            events += [join(m, f"c-{k}-{first}", day=1), join(m, f"c-{k}-{second}", day=2)]
            events.append(join(m, f"c-{k}-{late}", day=20 + i % 5))
    return events


POPULARITY_ONLY = {"co_membership_weight": 0, "social_weight": 0, "topic_weight": 0, "trending_weight": 0,
                   "popularity_weight": 1}  # fmt: skip


async def test_per_tenant_settings_self_tuning_pinning_and_the_quality_route(
    make_settings: MakeSettings, running_service: RunService
) -> None:
    settings = make_settings(
        RecommendSettings,
        refresh_interval_seconds=0.2,
        batch_timeout_ms=50,
        rate_limit_per_second=0,
        checkpoint_lease_seconds=3,
        tenant_settings_reload_seconds=0.5,
        tuning=TuningParams(interval_seconds=0.5, holdout_share=0.3, min_members=20, margin=0.01),
    )
    keys = {"acme": [Scope.RECOMMENDATIONS_READ, Scope.ADMIN], "small": [Scope.ADMIN]}
    async with running_service(create_app, settings, keys) as service:
        admin = service.client_for("acme")
        assert (await service.client_for("small").get("/v1/model/quality")).json()["status"] == "not_evaluated"
        refused = await admin.put("/v1/settings/ranking", json={"settings": {"radius_km": 0}})
        assert refused.status_code == 422
        assert refused.json()["error"]["problems"][0]["field"] == "settings.radius_km"
        unknown = await admin.put("/v1/settings/ranking", json={"settings": {"radius": 10}})
        assert unknown.status_code == 422
        for huge in ({"candidate_pool": 8 * 10**24}, {"social_weight": 1e300}, {"small_community_size": 2**70}):
            refused = await admin.put("/v1/settings/ranking", json={"settings": huge})
            assert refused.status_code == 422, (huge, refused.text)
            assert refused.json()["error"]["problems"][0]["field"] == f"settings.{next(iter(huge))}"
        reader = await service.add_key("reader", [Scope.RECOMMENDATIONS_READ])
        assert (await service.client.get("/v1/model/quality", headers=service.auth(reader))).status_code == 403

        # An operator leaves popularity-only settings, unpinned: self-tuning may replace them.
        put = await admin.put("/v1/settings/ranking", json={"settings": POPULARITY_ONLY, "pinned": False})
        assert put.status_code == 200, put.text
        assert put.json()["effective"]["co_membership_weight"] == 0
        await service.publish(clustered())
        await service.publish([join("x-1", "c-0-0", tenant="small"), join("x-2", "c-0-1", tenant="small")])

        async def adopted() -> dict[str, Any] | None:
            body: dict[str, Any] = (await admin.get("/v1/model/quality")).json()
            return body if body["status"] == "adopted" else None

        quality = await eventually(adopted, 60, "self-tuning adopting better settings")
        assert quality["members"] >= 20
        assert quality["configurations"][0]["name"] == "current"
        chosen = [c for c in quality["configurations"] if c["chosen"]]
        assert len(chosen) == 1
        assert chosen[0]["name"] != "current"
        assert chosen[0]["ndcg_at_10"] > quality["configurations"][0]["ndcg_at_10"] + 0.01
        assert quality["difference"]["low"] > 0
        assert "margin" in quality["why"]
        assert quality["chosen"]["name"] == chosen[0]["name"]
        effective = (await admin.get("/v1/settings/ranking")).json()
        assert effective["tuned"]["name"] == chosen[0]["name"]
        assert effective["effective"]["co_membership_weight"] > 0

        async def small_said_why() -> dict[str, Any] | None:
            body: dict[str, Any] = (await service.client_for("small").get("/v1/model/quality")).json()
            return body if body["status"] == "too_small" else None

        small = await eventually(small_said_why, 30, "the small tenant evaluated")
        assert "needed" in small["why"] or "no join times" in small["why"]

        # Pinned settings apply and are never tuned away.
        pinned = await admin.put("/v1/settings/ranking", json={"settings": POPULARITY_ONLY, "pinned": True})
        assert pinned.json()["tuned"] is None
        assert pinned.json()["effective"]["co_membership_weight"] == 0
        await service.publish([join("late-1", "c-3-0", day=30)])

        async def pinned_evaluated() -> dict[str, Any] | None:
            body: dict[str, Any] = (await admin.get("/v1/model/quality")).json()
            return body if body["status"] == "pinned" else None

        quality = await eventually(pinned_evaluated, 60, "a pinned tenant evaluated without a change")
        assert "pinned by an operator" in quality["why"]
        assert (await admin.get("/v1/settings/ranking")).json()["effective"]["co_membership_weight"] == 0

    # Settings and the last evaluation are kept across a restart.
    async with running_service(create_app, settings, keys) as again:

        async def kept() -> dict[str, Any] | None:
            body: dict[str, Any] = (await again.client_for("acme").get("/v1/settings/ranking")).json()
            return body if body["pinned"] else None

        await eventually(kept, 30, "tenant settings read back after a restart")
        quality = (await again.client_for("acme").get("/v1/model/quality")).json()
        assert quality["status"] == "pinned"
        assert len(quality["configurations"]) >= 5
        reset = await again.client_for("acme").delete("/v1/settings/ranking")
        assert reset.json()["settings"] == {}
        assert reset.json()["pinned"] is False


async def test_a_reload_that_read_before_a_put_does_not_undo_it(running: Running) -> None:
    """Every replica reloads tenants' settings every few seconds; a read taken before a PUT must not undo it."""
    await running.add_key("acme", [Scope.RECOMMENDATIONS_READ, Scope.ADMIN])
    admin = running.client_for("acme")
    tuner = running.app.state.tuner
    read, release = asyncio.Event(), asyncio.Event()
    real = tuner.store.all_settings

    async def stale_read() -> Any:
        settings = await real()
        read.set()
        await release.wait()
        return settings

    tuner.store.all_settings = stale_read
    reload = asyncio.create_task(tuner.load())
    await asyncio.wait_for(read.wait(), 30)
    put = await admin.put("/v1/settings/ranking", json={"settings": {"use_places": False}, "pinned": True})
    assert put.status_code == 200, put.text
    release.set()
    await reload
    tuner.store.all_settings = real
    kept = (await admin.get("/v1/settings/ranking")).json()
    assert kept["effective"]["use_places"] is False
    assert kept["pinned"] is True
    # The next reload reads the PUT back from the database and keeps it.
    await tuner.load()
    assert (await admin.get("/v1/settings/ranking")).json()["effective"]["use_places"] is False
