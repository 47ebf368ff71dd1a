"""Decode events from the wire and encode them back.

Accepted: CloudEvents structured mode (the whole event as a JSON object, on Kafka or HTTP), binary
mode (attributes in ``ce_`` Kafka headers or ``ce-`` HTTP headers, ``data`` as the body), and plain
JSON events (structured without ``specversion``). Anything else is refused with a reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from kith_shared.events.types import EVENT_ADAPTER, EVENT_CLASSES, Event

STRUCTURED_CONTENT_TYPE: Final = "application/cloudevents+json"
BATCH_CONTENT_TYPE: Final = "application/cloudevents-batch+json"
JSON_CONTENT_TYPE: Final = "application/json"


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason an event was refused."""

    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        """Return the problem as a JSON-ready mapping."""
        return {"field": self.field, "reason": self.reason}


class DecodeError(ValueError):
    """An event could not be decoded; ``problems`` says which field and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in problems))

    @classmethod
    def single(cls, field: str, reason: str) -> DecodeError:
        """Build an error with one problem."""
        return cls([Problem(field, reason)])


def problems_from_validation(exc: ValidationError) -> list[Problem]:
    """Turn pydantic's errors into field/reason pairs a person can act on."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = [str(part) for part in err["loc"]]
        # Drop the union tag pydantic inserts ("post.created") so the path reads data.text.
        if loc and loc[0] in EVENT_CLASSES:
            loc = loc[1:]
        problems.append(Problem(".".join(loc) or "event", err["msg"]))
    return problems


def validate_event(obj: object) -> Event:
    """Validate a decoded JSON object as an event, or raise :class:`DecodeError`."""
    if not isinstance(obj, dict):
        raise DecodeError.single("event", f"expected a JSON object, got {type(obj).__name__}")
    candidate: dict[str, Any] = dict(obj)
    candidate.setdefault("specversion", "1.0")
    event_type = candidate.get("type")
    if event_type is None:
        raise DecodeError.single("type", "missing: every event needs a type")
    if not isinstance(event_type, str) or event_type not in EVENT_CLASSES:
        known = ", ".join(sorted(EVENT_CLASSES))
        raise DecodeError.single("type", f"unknown event type {event_type!r}; known types: {known}")
    if "data_base64" in candidate:
        raise DecodeError.single("data_base64", "binary data is not accepted; send data as a JSON object")
    try:
        return EVENT_ADAPTER.validate_python(candidate)
    except ValidationError as exc:
        raise DecodeError(problems_from_validation(exc)) from None


def _parse_json(body: bytes | str, what: str) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError.single(what, f"not valid JSON: {exc}") from None


def decode_structured(body: bytes | str) -> Event:
    """Decode a structured-mode (or plain JSON) event."""
    return validate_event(_parse_json(body, "event"))


def decode_batch(body: bytes | str) -> list[object]:
    """Split a batch body (a JSON array) into raw objects; each is validated on its own."""
    parsed = _parse_json(body, "batch")
    if not isinstance(parsed, list):
        raise DecodeError.single("batch", "a batch must be a JSON array of events")
    return parsed


def _header_text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError.single("headers", "header value is not UTF-8") from None
    return value


def decode_binary(headers: Mapping[str, bytes | str | None], body: bytes | str, *, prefix: str) -> Event:
    """Decode a binary-mode event: attributes from ``prefix``-ed headers, data from the body."""
    attributes: dict[str, Any] = {}
    content_type = None
    for raw_name, raw_value in headers.items():
        name = raw_name.lower()
        if name == "content-type":
            content_type = _header_text(raw_value)
        elif name.startswith(prefix):
            attributes[name[len(prefix) :]] = _header_text(raw_value)
    if content_type is not None and not content_type.split(";")[0].strip().endswith("json"):
        raise DecodeError.single("content-type", f"data must be JSON, got {content_type!r}")
    attributes["data"] = _parse_json(body, "data") if body else None
    return validate_event(attributes)


def decode_kafka_record(value: bytes | None, headers: Iterable[tuple[str, bytes]]) -> Event:
    """Decode a Kafka record in whichever mode its headers say."""
    header_map = {name.lower(): raw for name, raw in headers}
    if value is None:
        raise DecodeError.single("value", "empty record (tombstone): nothing to decode")
    if any(name.startswith("ce_") for name in header_map):
        return decode_binary(header_map, value, prefix="ce_")
    content_type = _header_text(header_map.get("content-type"))
    if content_type is not None:
        media = content_type.split(";")[0].strip().lower()
        if media not in (STRUCTURED_CONTENT_TYPE, JSON_CONTENT_TYPE):
            raise DecodeError.single("content-type", f"unsupported content type {content_type!r}")
    return decode_structured(value)


def encode_structured(event: Event) -> bytes:
    """Serialize an event in structured mode with pydantic's own JSON."""
    return event.model_dump_json(exclude_none=True).encode()


def structured_headers() -> list[tuple[str, bytes]]:
    """Return the Kafka headers that go with a structured-mode record."""
    # No ce_ headers here: their presence is what marks a record as binary mode.
    return [("content-type", STRUCTURED_CONTENT_TYPE.encode())]
