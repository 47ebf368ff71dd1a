"""Erasure at ingest's door: an erased member's events are refused, reinstating is explicit, dead letters redacted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import Producer

from kith_devkit.testing import eventually
from kith_ingest.settings import IngestSettings
from kith_shared.auth import Scope
from kith_shared.erasure import PLACEHOLDER_ERASURE_SECRET, tombstone
from kith_shared.events import DeadLetter, decode_kafka_record
from kith_shared.mongo import make_mongo_client
from kith_shared.topics import ACTIVITY, DEAD_LETTER, RAW

pytestmark = pytest.mark.integration

_ids = iter(range(1, 10_000))


def body(event_type: str, tenant: str | None = None, **data: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": f"e-{next(_ids)}",
        "source": "app://tests",
        "type": event_type,
        "time": "2026-11-02T17:00:00Z",
        "data": data,
    }
    return event if tenant is None else {**event, "tenant": tenant}


def post(member: str, tenant: str | None = None) -> dict[str, Any]:
    return body("post.created", tenant, community_id="c-1", member_id=member, post_id=f"p-{next(_ids)}", text="hi")


async def stored_documents(settings: IngestSettings) -> list[str]:
    mongo = make_mongo_client(settings.mongo, app_name="ingest-test")
    try:
        db = mongo[settings.mongo.database]
        return [json.dumps(d, default=str) for n in await db.list_collection_names() async for d in db[n].find({})]
    finally:
        await mongo.close()


async def test_an_erased_member_is_refused_until_the_platform_reinstates_them(
    ingest_settings: IngestSettings, run_ingest: Any, read_topic: Any
) -> None:
    async with run_ingest(ingest_settings) as ingest:
        writer = ingest.client_for("demo")
        admin = ingest.auth((await ingest.keys.create_key("demo", [Scope.ADMIN], "admin")).key)
        assert (await writer.post("/v1/events", json=post("m-gone"))).status_code == 202
        assert (await writer.post("/v1/events", json=body("member.erased", member_id="m-gone"))).status_code == 202

        refused = await writer.post("/v1/events", json=post("m-gone"))
        assert refused.status_code == 422, refused.text
        [problem] = refused.json()["error"]["problems"]
        assert problem["field"] == "data.member_id"
        assert "erased" in problem["reason"]
        batch = await writer.post("/v1/events:batch", json=[post("m-gone"), post("m-here")])
        assert [r["status"] for r in batch.json()["results"]] == ["rejected", "accepted"]
        # Following an erased member is no act of theirs: let through (recommend drops the tie).
        follow = body("member.followed", member_id="m-here", followed_member_id="m-gone")
        assert (await writer.post("/v1/events", json=follow)).status_code == 202
        # Producers cannot reinstate anyone.
        sneaky = await writer.post("/v1/events", json=body("member.reinstated", member_id="m-gone"))
        assert sneaky.status_code == 422
        assert sneaky.json()["error"]["problems"][0]["field"] == "type"

        # The tombstone is a keyed hash: ingest stores no document naming the member.
        documents = await stored_documents(ingest_settings)
        assert not [d for d in documents if "m-gone" in d]
        assert any(tombstone(PLACEHOLDER_ERASURE_SECRET, "demo", "m-gone") in d for d in documents)

        assert (await writer.post("/v1/admin/members/m-gone/reinstate")).status_code == 403
        done = await ingest.client.post("/v1/admin/members/m-gone/reinstate", headers=admin)
        assert done.status_code == 202, done.text
        assert done.json()["member_id"] == "m-gone"
        assert (await writer.post("/v1/events", json=post("m-gone"))).status_code == 202
        again = await ingest.client.post("/v1/admin/members/m-gone/reinstate", headers=admin)
        assert (again.status_code, again.json()["error"]["code"]) == (404, "not_erased")

    records = await read_topic(ingest_settings.kafka, ACTIVITY, 7)
    types = [decode_kafka_record(r.value, list(r.headers)).type for r in records]
    assert types.count("member.reinstated") == 1
    assert types.count("post.created") == 3


async def test_dead_letters_naming_an_erased_member_are_redacted_and_never_replayed(
    ingest_settings: IngestSettings, run_ingest: Any, read_topic: Any
) -> None:
    settings = ingest_settings.model_copy(update={"consume_raw": True})
    kafka = settings.kafka
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers, "acks": "all"})
    shout = body("post.shouted", "demo", community_id="c-1", member_id="m-raw", post_id="p-1", text="x")
    producer.produce(kafka.topic(RAW), value=json.dumps(shout).encode(), key=b"demo:c-1")
    assert producer.flush(10) == 0

    async with run_ingest(settings) as ingest:
        admin = ingest.auth(await ingest.add_key("demo", [Scope.ADMIN], "admin"))

        async def listed() -> list[dict[str, Any]] | None:
            reply = await ingest.client.get("/v1/dead-letters", headers=admin)
            assert reply.status_code == 200, reply.text
            items: list[dict[str, Any]] = reply.json()["items"]
            return items or None

        (before,) = await eventually(listed, 40, "the dead letter")
        assert before["event_id"] == shout["id"]
        assert before["replayable"] is True

        erase = body("member.erased", "demo", member_id="m-raw")
        producer.produce(kafka.topic(RAW), value=json.dumps(erase).encode(), key=b"demo:m-raw")
        assert producer.flush(10) == 0
        await read_topic(kafka, ACTIVITY, 1)
        late = post("m-raw", "demo")
        producer.produce(kafka.topic(RAW), value=json.dumps(late).encode(), key=b"demo:c-1")
        assert producer.flush(10) == 0

        async def both() -> list[dict[str, Any]] | None:
            items = await listed()
            return items if items is not None and len(items) == 2 else None

        letters = await eventually(both, 40, "the late event's dead letter")
        assert all(item["event_id"] is None for item in letters)  # nothing of the original is shown
        assert all(not item["replayable"] for item in letters)
        assert {item["error"] for item in letters} == {"DecodeError", "ErasedMember"}
        place = {"partition": letters[0]["partition"], "offset": letters[0]["offset"]}
        replay = (await ingest.client.post("/v1/dead-letters:replay", json={"letters": [place]}, headers=admin)).json()
        assert replay["replayed"] == []
        assert "erased member" in replay["refused"][0]["reason"]

    on_topic = [DeadLetter.model_validate_json(r.value) for r in await read_topic(kafka, DEAD_LETTER, 2)]
    written = {letter.error: letter for letter in on_topic}
    # Written before the erasure, the first still holds the event on the topic (until retention);
    # the one written after it was redacted as it was written.
    assert written["ErasedMember"].redacted
    assert b"m-raw" not in written["ErasedMember"].model_dump_json().encode()
    assert not written["DecodeError"].redacted
