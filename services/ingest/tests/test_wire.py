"""Reading raw events off the wire: Kafka structured, binary and plain JSON; HTTP binary mode."""

from __future__ import annotations

import json

import pytest

from kith_ingest.deadletters import REPLAY_HEADER, replay_count
from kith_shared.events import DecodeError, http_binary_event, kafka_event, parse_batch
from kith_shared.events.examples import example

pytestmark = pytest.mark.unit


def test_kafka_records_in_every_mode() -> None:
    event = example("member.joined")
    structured = json.dumps(event).encode()
    assert kafka_event(structured, [("content-type", b"application/cloudevents+json; charset=utf-8")]) == event
    assert kafka_event(structured, []) == event
    headers = [(f"ce_{name}", str(event[name]).encode()) for name in ("specversion", "id", "source", "type", "tenant")]
    binary = kafka_event(json.dumps(event["data"]).encode(), [*headers, ("content-type", b"application/json")])
    assert binary["data"] == event["data"]
    assert binary["type"] == "member.joined"


def test_bad_kafka_records_are_refused_with_a_reason_never_a_crash() -> None:
    cases: list[tuple[bytes | None, list[tuple[str, bytes | None]], str]] = [
        (None, [], "value"),
        (b"\xff\xfe", [], "event"),
        (b"[1, 2]", [], "event"),
        (b"{}", [("content-type", b"application/avro")], "content-type"),
        (b"<xml/>", [("ce_type", b"member.joined"), ("content-type", b"text/xml")], "content-type"),
        (b"{}", [("ce_type", b"\xff")], "ce_type"),
    ]
    for value, headers, field in cases:
        with pytest.raises(DecodeError) as caught:
            kafka_event(value, headers)
        assert caught.value.problems[0].field == field
    assert kafka_event(b"{}", [("ce_type", None)])["type"] == ""


def test_http_binary_mode_decodes_percent_encoded_headers() -> None:
    headers = {"ce-id": "a%20b", "ce-type": "post.created", "ce-tenant": "demo", "content-type": "application/json"}
    event = http_binary_event(headers, b'{"x": 1}')
    assert event == {"id": "a b", "type": "post.created", "tenant": "demo", "data": {"x": 1}}


def test_batches_and_replay_counts() -> None:
    assert parse_batch(b"[{}, 1]") == [{}, 1]
    with pytest.raises(DecodeError):
        parse_batch(b"{}")
    assert replay_count([(REPLAY_HEADER, b"2")]) == 2
    assert replay_count([(REPLAY_HEADER, b"x"), ("other", None)]) == 0
    assert replay_count([(REPLAY_HEADER, None)]) == 0
