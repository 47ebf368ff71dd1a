"""Decode events from the wire and encode them back: the one CloudEvents codec, for HTTP and Kafka.

Accepted: CloudEvents structured mode (the whole event as a JSON object, on Kafka or HTTP), binary
mode (attributes in ``ce_`` Kafka headers or ``ce-`` HTTP headers, ``data`` as the body), and plain
JSON events (structured without ``specversion``). Anything else is refused with a reason.

Two steps: ``kafka_event``, ``http_binary_event`` and ``parse_json`` read what arrived into a raw
event object without validating it (ingest settles type aliases and the tenant first);
``validate_event`` makes it a typed event. ``decode_*`` do both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

import pydantic_core
from pydantic import ValidationError

from kith_shared.events.types import EVENT_ADAPTER, EVENT_CLASSES, Event

STRUCTURED_CONTENT_TYPE: Final = "application/cloudevents+json"
BATCH_CONTENT_TYPE: Final = "application/cloudevents-batch+json"
JSON_CONTENT_TYPE: Final = "application/json"
#: Prefix of the attribute headers in binary mode: ``ce-`` over HTTP, ``ce_`` on Kafka.
HTTP_PREFIX: Final = "ce-"
KAFKA_PREFIX: Final = "ce_"


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


def media_type(content_type: str | None) -> str:
    """Return the bare, lower-case media type of a Content-Type value ('' when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_media(media: str) -> bool:
    """Tell whether a bare media type is JSON: ``application/json``, any ``.../json`` or any ``+json``."""
    return media.endswith(("/json", "+json"))


def parse_json(body: bytes | str, what: str) -> Any:
    """Parse JSON, or raise :class:`DecodeError` on ``what``."""
    try:
        return pydantic_core.from_json(body)
    except ValueError as exc:
        raise DecodeError.single(what, f"not valid JSON: {exc}") from None


def parse_batch(body: bytes | str) -> list[Any]:
    """Split a batch body (a JSON array of events) into raw objects; each is validated on its own."""
    parsed = parse_json(body, "batch")
    if not isinstance(parsed, list):
        raise DecodeError.single("batch", "a batch must be a JSON array of events")
    return parsed


def _text(value: bytes | str | None, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError.single(name, "header value is not UTF-8") from None


def binary_event(headers: Mapping[str, bytes | str | None], body: bytes | str, *, prefix: str) -> dict[str, Any]:
    """Build a raw event from binary mode: attributes from ``prefix``-ed headers, ``data`` from the body.

    Over HTTP (prefix ``ce-``) attribute values are percent-decoded, as the CloudEvents HTTP binding
    asks; Kafka's ``ce_`` headers carry them as they are.
    """
    attributes: dict[str, Any] = {}
    content_type = None
    for raw_name, raw_value in headers.items():
        name = raw_name.lower()
        if name == "content-type":
            content_type = _text(raw_value, name)
        elif name.startswith(prefix):
            value = _text(raw_value, name)
            attributes[name[len(prefix) :]] = unquote(value) if prefix == HTTP_PREFIX else value
    if content_type is not None and not is_json_media(media_type(content_type)):
        raise DecodeError.single("content-type", f"data must be JSON, got {content_type!r}")
    attributes["data"] = parse_json(body, "data") if body else None
    return attributes


def http_binary_event(headers: Mapping[str, str], body: bytes | str) -> dict[str, Any]:
    """Build a raw event from CloudEvents HTTP binary mode: ``ce-`` headers (percent-encoded) and the body."""
    return binary_event(headers, body, prefix=HTTP_PREFIX)


def is_http_binary(headers: Mapping[str, str]) -> bool:
    """Tell whether an HTTP request carries an event in binary mode."""
    return f"{HTTP_PREFIX}specversion" in headers or f"{HTTP_PREFIX}type" in headers


def kafka_event(value: bytes | None, headers: Iterable[tuple[str, bytes | None]]) -> dict[str, Any]:
    """Build a raw event from a Kafka record in binary (``ce_`` headers), structured or plain JSON mode."""
    if value is None:
        raise DecodeError.single("value", "empty record (tombstone): nothing to decode")
    header_map = {name.lower(): raw for name, raw in headers}
    if any(name.startswith(KAFKA_PREFIX) for name in header_map):
        return binary_event(header_map, value, prefix=KAFKA_PREFIX)
    content_type = _text(header_map["content-type"], "content-type") if "content-type" in header_map else None
    if content_type is not None and media_type(content_type) not in (STRUCTURED_CONTENT_TYPE, JSON_CONTENT_TYPE):
        raise DecodeError.single("content-type", f"unsupported content type {content_type!r}")
    parsed = parse_json(value, "event")
    if not isinstance(parsed, dict):
        raise DecodeError.single("event", f"expected a JSON object, got {type(parsed).__name__}")
    return parsed


def decode_structured(body: bytes | str) -> Event:
    """Decode a structured-mode (or plain JSON) event."""
    return validate_event(parse_json(body, "event"))


def decode_binary(headers: Mapping[str, bytes | str | None], body: bytes | str, *, prefix: str) -> Event:
    """Decode a binary-mode event: attributes from ``prefix``-ed headers, data from the body."""
    return validate_event(binary_event(headers, body, prefix=prefix))


def decode_kafka_record(value: bytes | None, headers: Iterable[tuple[str, bytes | None]]) -> Event:
    """Decode a Kafka record in whichever mode its headers say."""
    return validate_event(kafka_event(value, headers))


def encode_structured(event: Event) -> bytes:
    """Serialize an event in structured mode with pydantic's own JSON."""
    return event.model_dump_json(exclude_none=True).encode()


def structured_headers() -> list[tuple[str, bytes]]:
    """Return the Kafka headers that go with a structured-mode record."""
    # No ce_ headers here: their presence is what marks a record as binary mode.
    return [("content-type", STRUCTURED_CONTENT_TYPE.encode())]
