"""Event times at the door: refused with a field error on ``time`` through every door, never a 500."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Producer

from kith_ingest.domain import NormalizeConfig, normalize_raw
from kith_ingest.settings import IngestSettings
from kith_shared.events import DeadLetter, DecodeError
from kith_shared.events.examples import example
from kith_shared.topics import ACTIVITY, DEAD_LETTER, RAW

#: Times ISO 8601 admits that ingest must refuse, and why.
REFUSED = {
    "0001-01-01T00:00:00+14:00": "UTC",  # before year 1 once converted
    "9999-12-31T23:59:59-14:00": "UTC",  # after year 9999 once converted
    "0001-01-02T00:00:00Z": "earliest",  # representable, but before the floor
    "1969-12-31T23:59:59Z": "earliest",
    "9999-12-31T23:59:59Z": "future",
}


def joined(event_id: str, time: str) -> dict[str, Any]:
    body = example("member.joined")
    return {**body, "id": event_id, "time": time}


@pytest.mark.unit
@pytest.mark.parametrize(("time", "why"), REFUSED.items())
def test_normalization_refuses_times_out_of_range_with_a_field_error(time: str, why: str) -> None:
    with pytest.raises(DecodeError) as raised:
        normalize_raw(joined("e", time), tenant="demo", config=NormalizeConfig(), received=datetime.now(UTC))
    assert [p.field for p in raised.value.problems] == ["time"]
    assert why in raised.value.problems[0].reason


@pytest.mark.unit
def test_the_floor_is_a_setting() -> None:
    settings = IngestSettings(earliest_event_time=datetime(2020, 1, 1, tzinfo=UTC))
    config = settings.normalize_config()
    now = datetime.now(UTC)
    with pytest.raises(DecodeError):
        normalize_raw(joined("e", "2019-12-31T23:00:00Z"), tenant="demo", config=config, received=now)
    event = normalize_raw(joined("e", "2020-01-01T01:00:00+01:00"), tenant="demo", config=config, received=now)
    assert event.time == datetime(2020, 1, 1, tzinfo=UTC)
    assert IngestSettings().earliest_event_time == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.integration
async def test_every_http_door_refuses_bad_times_and_keeps_the_rest(
    ingest_settings: IngestSettings, run_ingest: Any, read_topic: Any
) -> None:
    async with run_ingest(ingest_settings) as ingest:
        for index, time in enumerate(REFUSED):
            single = await ingest.client.post("/v1/events", json=joined(f"s-{index}", time), headers=ingest.auth())
            assert single.status_code == 422, (time, single.text)
            assert [p["field"] for p in single.json()["error"]["problems"]] == ["time"]

            sample = joined(f"b-{index}", time)
            ce = {f"ce-{name}": str(sample[name]) for name in ("specversion", "id", "source", "type", "time")}
            binary = await ingest.client.post(
                "/v1/events",
                content=json.dumps(sample["data"]),
                headers={**ingest.auth(), **ce, "Content-Type": "application/json"},
            )
            assert binary.status_code == 422, (time, binary.text)
            assert binary.json()["error"]["problems"][0]["field"] == "time"

        good = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        batch = [joined("ok-1", good), *(joined(f"x-{i}", t) for i, t in enumerate(REFUSED)), joined("ok-2", good)]
        response = await ingest.client.post("/v1/events:batch", json=batch, headers=ingest.auth())
        assert response.status_code == 202, response.text
        results = response.json()["results"]
        assert [r["status"] for r in results] == ["accepted", *["rejected"] * len(REFUSED), "accepted"]
        assert {r["problems"][0]["field"] for r in results if r["status"] == "rejected"} == {"time"}
    published = await read_topic(ingest_settings.kafka, ACTIVITY, 2)
    assert sorted(json.loads(r.value)["id"] for r in published) == ["ok-1", "ok-2"]


@pytest.mark.integration
async def test_the_raw_topic_dead_letters_bad_times_with_the_field(
    ingest_settings: IngestSettings, run_ingest: Any, read_topic: Any
) -> None:
    settings = ingest_settings.model_copy(update={"consume_raw": True})
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers, "acks": "all"})
    for index, time in enumerate(REFUSED):
        producer.produce(settings.kafka.topic(RAW), value=json.dumps(joined(f"k-{index}", time)).encode())
    producer.flush(10)
    async with run_ingest(settings):
        letters = await read_topic(settings.kafka, DEAD_LETTER, len(REFUSED), within=60)
    decoded = [DeadLetter.model_validate_json(record.value) for record in letters]
    assert len(decoded) == len(REFUSED)
    assert {letter.field for letter in decoded} == {"time"}
    assert {letter.error for letter in decoded} == {"DecodeError"}
