"""Broker outage: 503 with Retry-After and nothing accepted, readiness false, both doors recover without a restart."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kith_devkit.servers import ServerProcess
from kith_devkit.testing import eventually
from kith_ingest.settings import IngestSettings
from kith_shared.events import decode_kafka_record
from kith_shared.events.examples import example
from kith_shared.kafka import ensure_topics, make_producer
from kith_shared.topics import ACTIVITY, RAW

pytestmark = pytest.mark.integration


async def test_broker_down_answers_503_and_ingest_recovers_when_it_returns(
    ingest_settings: IngestSettings, run_ingest: Any, read_topic: Any, make_broker: Callable[..., ServerProcess]
) -> None:
    broker = make_broker()
    kafka = ingest_settings.kafka.model_copy(update={"bootstrap_servers": broker.address, "request_timeout_ms": 3_000})
    await ensure_topics(kafka)
    settings = ingest_settings.model_copy(update={"kafka": kafka, "consume_raw": True})
    first, second, raw = example("post.created"), example("post.created"), example("post.created")
    first["id"], second["id"], raw["id"] = "o-1", "o-2", "o-raw"
    async with run_ingest(settings) as ingest:
        assert (await ingest.client.post("/v1/events", json=first, headers=ingest.auth())).status_code == 202
        assert [decode_kafka_record(r.value, r.headers).id for r in await read_topic(kafka, ACTIVITY, 1)] == ["o-1"]

        broker.stop()
        down = await ingest.client.post("/v1/events:batch", json=[second], headers=ingest.auth())
        assert down.status_code == 503, down.text
        assert down.headers["Retry-After"] == "5"
        assert "nothing was accepted" in down.json()["error"]["message"]
        ready = await ingest.client.get("/readyz")
        assert ready.status_code == 503
        assert "kafka" in ready.json()["failing"]  # the raw-topic consumer may be named too

        restarted = make_broker(port=broker.port)
        await ensure_topics(kafka)  # the embedded broker forgets its topics when it stops

        async def answered() -> httpx.Response | None:
            answer = await ingest.client.post("/v1/events", json=second, headers=ingest.auth())
            return None if answer.status_code == 503 else answer

        answer = await eventually(answered, 60, "an answer other than 503 once the broker is back")
        # The claim of the failed attempt was given back: the retry is accepted, not called a duplicate.
        assert answer.status_code == 202, answer.text

        async def ready() -> bool:  # the raw-topic consumer reconnects by itself, within its own backoff
            return bool((await ingest.client.get("/readyz")).status_code == 200)

        await eventually(ready, 90, "ingest ready again, its raw-topic consumer reconnected")

        # The raw-topic consumer reconnected by itself: a record produced now flows through.
        producer = make_producer(kafka)
        await producer.start()
        try:
            await producer.send_and_wait(kafka.topic(RAW), json.dumps(raw).encode(), key=b"demo:bouldering-berlin")
        finally:
            await producer.stop()
        records = await read_topic(kafka, ACTIVITY, 2, within=60)
        assert sorted(decode_kafka_record(r.value, r.headers).id for r in records) == ["o-2", "o-raw"]
    assert restarted.port == broker.port
