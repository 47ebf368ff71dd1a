"""The event contract: examples, decoding in every mode, refusals with reasons."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kith_shared.events import (
    ACTIVITY_TYPES,
    EVENT_CLASSES,
    MICROCOMMUNITY_TYPES,
    DecodeError,
    decode_binary,
    decode_kafka_record,
    decode_structured,
    encode_structured,
    structured_headers,
    validate_event,
)
from kith_shared.events.examples import all_examples, example
from kith_shared.events.types import CommunityCreatedEvent, PostCreatedEvent

pytestmark = pytest.mark.unit


def test_every_type_has_a_valid_example() -> None:
    examples = all_examples()
    assert set(examples) == set(EVENT_CLASSES)
    for event_type, raw in examples.items():
        event = validate_event(raw)
        assert event.type == event_type
        assert type(event) is EVENT_CLASSES[event_type]


def test_structured_round_trip_keeps_every_attribute() -> None:
    event = validate_event(example("post.created"))
    again = decode_structured(encode_structured(event))
    assert again == event
    assert decode_kafka_record(encode_structured(event), structured_headers()) == event


def test_binary_mode_from_kafka_headers() -> None:
    raw = example("comment.created")
    headers = {f"ce_{k}": str(v).encode() for k, v in raw.items() if k != "data"}
    headers["content-type"] = b"application/json"
    event = decode_kafka_record(json.dumps(raw["data"]).encode(), list(headers.items()))
    assert event.type == "comment.created"
    assert event.tenant == "demo"
    assert event.data.replied_to_member_id == "m-ada"


def test_binary_mode_from_http_headers() -> None:
    raw = example("member.joined")
    headers: dict[str, bytes | str | None] = {f"ce-{k}": str(v) for k, v in raw.items() if k != "data"}
    event = decode_binary(headers, json.dumps(raw["data"]), prefix="ce-")
    assert event.identity == (raw["source"], raw["id"])


def test_plain_json_without_specversion_is_accepted() -> None:
    raw = example("post.viewed")
    del raw["specversion"]
    assert validate_event(raw).specversion == "1.0"


def test_partition_key_is_community_within_tenant_else_member() -> None:
    assert validate_event(example("post.created")).partition_key() == b"demo:bouldering-berlin"
    assert validate_event(example("member.followed")).partition_key() == b"demo:m-dora"


@pytest.mark.parametrize(
    ("mutate", "field", "fragment"),
    [
        (lambda e: e.update(type="post.exploded"), "type", "unknown event type"),
        (lambda e: e.pop("type"), "type", "missing"),
        (lambda e: e.pop("id"), "id", "Field required"),
        (lambda e: e.update(time="2026-11-02T18:04:05"), "time", "timezone"),
        (lambda e: e["data"].pop("text"), "data.text", "Field required"),
        (lambda e: e["data"].update(properties={"$where": 1}), "data.properties", "'$'"),
        (lambda e: e["data"].update(properties={"a.b": 1}), "data.properties", "'.'"),
        (lambda e: e["data"].update(community_id="a.b"), "data.community_id", "pattern"),
        (lambda e: e.update(tenant="Not A Tenant"), "tenant", "pattern"),
        (lambda e: e["data"].update(surprise=1), "data.surprise", "Extra inputs"),
    ],
)
def test_refusals_name_the_field_and_the_reason(mutate: Any, field: str, fragment: str) -> None:
    raw = example("post.created")
    mutate(raw)
    with pytest.raises(DecodeError) as caught:
        validate_event(raw)
    fields = {p.field: p.reason for p in caught.value.problems}
    assert field in fields, fields
    assert fragment in fields[field]


def test_non_json_and_wrong_content_types_are_refused() -> None:
    with pytest.raises(DecodeError, match="not valid JSON"):
        decode_structured(b"\xff\xfe not json")
    with pytest.raises(DecodeError, match="expected a JSON object"):
        decode_structured(b"[1, 2]")
    with pytest.raises(DecodeError, match="unsupported content type"):
        decode_kafka_record(b"{}", [("content-type", b"application/avro")])
    with pytest.raises(DecodeError, match="tombstone"):
        decode_kafka_record(None, [])


def test_properties_depth_and_size_are_bounded() -> None:
    raw = example("post.created")
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(10):
        cursor["k"] = {}
        cursor = cursor["k"]
    raw["data"]["properties"] = deep
    with pytest.raises(DecodeError, match="deeper"):
        validate_event(raw)
    raw["data"]["properties"] = {"blob": "x" * 20_000}
    with pytest.raises(DecodeError, match="bytes of JSON"):
        validate_event(raw)


def test_union_picks_the_model_from_type() -> None:
    assert isinstance(validate_event(example("post.created")), PostCreatedEvent)


@pytest.mark.parametrize(
    "instant", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T13:59:00+14:00"]
)
def test_every_instant_of_the_contract_must_convert_to_utc(instant: str) -> None:
    joined = {**example("member.joined"), "time": instant}
    with pytest.raises(DecodeError) as raised:
        decode_structured(json.dumps(joined))
    assert [p.field for p in raised.value.problems] == ["time"]
    assert "UTC" in raised.value.problems[0].reason
    headers = [(f"ce_{k}", str(v).encode()) for k, v in joined.items() if k != "data"]
    with pytest.raises(DecodeError):
        decode_kafka_record(json.dumps(joined["data"]).encode(), headers)
    with pytest.raises(DecodeError) as raised:
        validate_event({**example("member.joined"), "receivedtime": instant})
    assert raised.value.problems[0].field == "receivedtime"
    changed = example("engagement.changed")
    with pytest.raises(DecodeError) as raised:
        validate_event({**changed, "data": {**changed["data"], "as_of": instant}})
    assert raised.value.problems[0].field == "data.as_of"


def test_the_edges_of_utc_are_admitted() -> None:
    for instant in ("0001-01-01T00:00:00Z", "0001-01-01T14:00:00+14:00", "9999-12-31T23:59:59.999999Z"):
        assert validate_event({**example("member.joined"), "time": instant}).time.tzinfo is not None


def test_numbers_are_finite() -> None:
    changed = example("engagement.changed")
    for value in ("1e400", "NaN", "-Infinity"):
        body = json.dumps(changed).replace('"score": 12.5', f'"score": {value}', 1)
        assert value in body
        with pytest.raises(DecodeError) as raised:
            decode_structured(body)
        assert [p.field for p in raised.value.problems] == ["data.score"]


def test_micro_community_events_are_keyed_by_their_group_and_never_taken_as_activity() -> None:
    assert {"microcommunity.detected", "microcommunity.changed", "microcommunity.faded"} == MICROCOMMUNITY_TYPES
    for event_type in MICROCOMMUNITY_TYPES:
        event = validate_event(example(event_type))
        assert event.partition_key() == b"demo:mc-3f2a9c1b7d405e0b"
        assert event_type not in ACTIVITY_TYPES
    created = validate_event(example("community.created"))
    assert isinstance(created, CommunityCreatedEvent)
    assert created.data.seeded_from == "mc-3f2a9c1b7d405e0b"
    raw = example("community.created")
    del raw["data"]["seeded_from"]
    assert validate_event(raw).model_dump()["data"]["seeded_from"] is None
