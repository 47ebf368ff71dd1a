"""Read raw event objects off the wire (HTTP and Kafka) without validating them yet.

Validation comes after :func:`kith_ingest.domain.normalize.prepare`, so that type aliases and the
tenant are settled the same way whichever door an event came through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final
from urllib.parse import unquote

import pydantic_core

from kith_shared.events import BATCH_CONTENT_TYPE, JSON_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE, DecodeError

#: Kafka header counting how many times a dead letter was replayed onto the raw topic.
REPLAY_HEADER: Final = "kith-replay-count"


def media_type(content_type: str | None) -> str:
    """Return the bare, lower-case media type of a Content-Type value ('' when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json_media(media: str) -> bool:
    """Tell whether a bare media type is JSON (``application/json`` or any ``+json``)."""
    return media == JSON_CONTENT_TYPE or media.endswith("+json")


def parse_json(body: bytes | str, what: str) -> Any:
    """Parse JSON or raise :class:`DecodeError` on ``what``."""
    try:
        return pydantic_core.from_json(body)
    except ValueError as exc:
        raise DecodeError.single(what, f"not valid JSON: {exc}") from None


def parse_batch(body: bytes) -> list[Any]:
    """Split a batch body (a JSON array of events) into raw objects."""
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


def binary_event(attributes: Mapping[str, str], content_type: str | None, body: bytes) -> dict[str, Any]:
    """Build a raw event from binary-mode attributes (prefix removed) and the body holding ``data``."""
    if content_type is not None and not is_json_media(media_type(content_type)):
        raise DecodeError.single("content-type", f"data must be JSON, got {content_type!r}")
    event: dict[str, Any] = dict(attributes)
    event["data"] = parse_json(body, "data") if body else None
    return event


def http_binary_event(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """Build a raw event from CloudEvents HTTP binary mode: ``ce-`` headers (percent-encoded) and the body."""
    attributes = {name[3:]: unquote(value) for name, value in headers.items() if name.lower().startswith("ce-")}
    return binary_event({name.lower(): value for name, value in attributes.items()}, headers.get("content-type"), body)


def is_http_binary(headers: Mapping[str, str]) -> bool:
    """Tell whether an HTTP request carries an event in binary mode."""
    return "ce-specversion" in headers or "ce-type" in headers


def kafka_event(value: bytes | None, headers: Iterable[tuple[str, bytes | None]]) -> dict[str, Any]:
    """Build a raw event from a Kafka record in binary (``ce_`` headers), structured or plain JSON mode."""
    if value is None:
        raise DecodeError.single("value", "empty record (tombstone): nothing to decode")
    header_map = {name.lower(): raw for name, raw in headers}
    content_type = _text(header_map["content-type"], "content-type") if "content-type" in header_map else None
    if any(name.startswith("ce_") for name in header_map):
        attributes = {name[3:]: _text(raw, name) for name, raw in header_map.items() if name.startswith("ce_")}
        return binary_event(attributes, content_type, value)
    media = media_type(content_type)
    if content_type is not None and media not in (STRUCTURED_CONTENT_TYPE, JSON_CONTENT_TYPE):
        raise DecodeError.single("content-type", f"unsupported content type {content_type!r}")
    parsed = parse_json(value, "event")
    if not isinstance(parsed, dict):
        raise DecodeError.single("event", f"expected a JSON object, got {type(parsed).__name__}")
    return parsed


def replay_count(headers: Iterable[tuple[str, bytes | None]]) -> int:
    """Return how many times a record was replayed from the dead-letter topic (0 when never)."""
    for name, raw in headers:
        if name.lower() == REPLAY_HEADER and raw is not None:
            try:
                return max(0, int(raw.decode("ascii")))
            except (UnicodeDecodeError, ValueError):
                return 0
    return 0


__all__ = [
    "BATCH_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "REPLAY_HEADER",
    "STRUCTURED_CONTENT_TYPE",
    "binary_event",
    "http_binary_event",
    "is_http_binary",
    "is_json_media",
    "kafka_event",
    "media_type",
    "parse_batch",
    "parse_json",
    "replay_count",
]
