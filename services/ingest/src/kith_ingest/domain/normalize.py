"""Turn a raw event (as a producer sent it) into the normalized event ingest publishes: pure, no I/O.

Normalizing a normalized event with the same receive time changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from kith_ingest.domain.places import check_location
from kith_ingest.domain.text import (
    CostlyText,
    UnicodeForm,
    clean_text,
    detect_language,
    extract_hashtags,
    extract_keywords,
    extract_links,
    extract_mentions,
)
from kith_shared.events import SCHEMA_VERSION, DecodeError, Event, is_json_media, media_type, validate_event
from kith_shared.events.data import (
    CommentCreated,
    CommunityCreated,
    CommunityUpdated,
    EventAttended,
    EventHosted,
    Location,
    MemberProfileUpdated,
    PostCreated,
    PostEdited,
    TextFeatures,
)
from kith_shared.events.display import visible
from kith_shared.events.types import ADMIN_TYPES, SERVICE_TYPES

#: Attributes only ingest may set; whatever a producer sends in them is replaced.
INGEST_ATTRIBUTES: Final = ("receivedtime", "schemaversion")
_TITLE_LIMIT: Final = 500
_NAME_LIMIT: Final = 200
_DESCRIPTION_LIMIT: Final = 5_000
#: Default floor of event times: nothing a member did on a Kith community predates the Unix epoch.
EARLIEST_EVENT_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class NormalizeConfig:
    """What normalization may accept and what it keeps."""

    max_text_chars: int = 10_000
    keep_original_text: bool = False
    unicode_form: UnicodeForm = "NFKC"
    future_tolerance: timedelta = timedelta(minutes=5)
    earliest_time: datetime = EARLIEST_EVENT_TIME
    type_aliases: Mapping[str, str] = field(default_factory=dict)


def prepare(obj: object, *, tenant: str | None, config: NormalizeConfig) -> dict[str, Any]:
    """Canonicalize raw attributes before validation: map type aliases, settle the tenant, drop ingest's marks.

    ``tenant`` is the caller's tenant (from the API key) when known: an event naming another tenant is
    refused, one naming none is given it. Without it (the raw topic) the event must name its tenant.
    """
    if not isinstance(obj, dict):
        raise DecodeError.single("event", f"expected a JSON object, got {type(obj).__name__}")
    candidate: dict[str, Any] = dict(obj)
    event_type = candidate.get("type")
    if isinstance(event_type, str):
        event_type = event_type.strip()
        event_type = candidate["type"] = config.type_aliases.get(event_type, event_type)
        if event_type in SERVICE_TYPES:
            raise DecodeError.single(
                "type", f"{event_type!r} is published by Kith's services themselves, never sent through ingest"
            )
        if event_type in ADMIN_TYPES:
            raise DecodeError.single(
                "type", f"{event_type!r} is published only by ingest's admin route (POST /v1/admin/members/…/reinstate)"
            )
    content_type = candidate.get("datacontenttype")
    if isinstance(content_type, str) and is_json_media(media_type(content_type)):
        candidate["datacontenttype"] = "application/json"
    named = candidate.get("tenant")
    if isinstance(named, str):
        named = named.strip().lower()
        candidate["tenant"] = named
    if tenant is not None:
        if named is None:
            candidate["tenant"] = tenant
        elif named != tenant:
            raise DecodeError.single("tenant", f"this API key belongs to tenant {tenant!r}; the event names {named!r}")
    elif named is None:
        raise DecodeError.single("tenant", "missing: an event on the raw topic must name its tenant")
    for attribute in INGEST_ATTRIBUTES:
        candidate.pop(attribute, None)
    data = candidate.get("data")
    if isinstance(data, dict) and "text_features" in data:
        # Filled by ingest alone: whatever a producer put there is ignored, never trusted or refused.
        candidate["data"] = {key: value for key, value in data.items() if key != "text_features"}
    return candidate


def _clean_bounded(value: str, field_name: str, limit: int, form: UnicodeForm) -> str:
    try:
        text = clean_text(value, form, limit)
    except CostlyText as exc:
        raise DecodeError.single(field_name, f"{exc} (text is refused, never cut)") from None
    if len(text) > limit:
        raise DecodeError.single(
            field_name, f"{len(text)} characters after cleaning; the limit is {limit} (text is refused, never cut)"
        )
    return text


def _cleans_to(prior: str, text: str, config: NormalizeConfig) -> bool:
    try:
        return clean_text(prior, config.unicode_form, config.max_text_chars) == text
    except CostlyText:
        return False


def text_features(text: str, original: str | None) -> TextFeatures:
    """Extract hashtags, mentions, links, language and keywords from clean text."""
    # Every value is built here with the right type: no need to validate it again.
    language = detect_language(text)
    return TextFeatures.model_construct(
        hashtags=extract_hashtags(text),
        mentions=extract_mentions(text),
        links=extract_links(text),
        language=language,
        keywords=extract_keywords(text, language=language),
        length=len(text),
        original=original,
    )


def _location(location: Location | None, form: UnicodeForm) -> Location | None:
    if location is None:
        return None
    name = _clean_bounded(location.name, "data.location.name", _NAME_LIMIT, form) if location.name else None
    return check_location(location, "data.location", name)


def _normalize_data(data: Any, config: NormalizeConfig) -> Any:
    form = config.unicode_form
    if isinstance(data, EventAttended | EventHosted | MemberProfileUpdated):
        return data.model_copy(update={"location": _location(data.location, form)})
    if isinstance(data, PostCreated | PostEdited | CommentCreated):
        text = _clean_bounded(data.text, "data.text", config.max_text_chars, form)
        original = None
        if config.keep_original_text:
            prior = data.text_features.original if data.text_features is not None else None
            # An original is kept only when it really cleans to this text: a re-normalized event keeps its
            # first original, and a producer cannot plant an unrelated one.
            original = prior if prior is not None and _cleans_to(prior, text, config) else data.text
        updates: dict[str, Any] = {"text": text, "text_features": text_features(text, original)}
        if isinstance(data, PostCreated | PostEdited):
            if data.title is not None:
                updates["title"] = visible(_clean_bounded(data.title, "data.title", _TITLE_LIMIT, form))
            updates["tags"] = list(dict.fromkeys(data.tags))
        return data.model_copy(update=updates)
    if isinstance(data, CommunityCreated | CommunityUpdated):
        updates = {}
        if data.name is not None:
            # Entities may spell invisible characters (&#x202E;): removed again once decoded.
            name = visible(_clean_bounded(data.name, "data.name", _NAME_LIMIT, form)).strip()
            if not name:
                raise DecodeError.single(
                    "data.name", "empty once markup, invisible characters and whitespace are removed"
                )
            updates["name"] = name
        if data.description is not None:
            updates["description"] = visible(
                _clean_bounded(data.description, "data.description", _DESCRIPTION_LIMIT, form)
            )
        if data.topics is not None:
            updates["topics"] = list(dict.fromkeys(data.topics))
        if data.location is not None:
            updates["location"] = _location(data.location, form)
        return data.model_copy(update=updates)
    return data


def _admitted_time(value: datetime, received: datetime, config: NormalizeConfig) -> datetime:
    """Return an event time in UTC, or refuse it: not convertible, before the floor, or in the future.

    Only subtractions of aware instants are used: they cannot overflow, whatever the contract admits.
    """
    try:
        time = value.astimezone(UTC)
    except OverflowError:
        # The contract refuses these already; kept so this function holds on its own.
        raise DecodeError.single("time", f"{value.isoformat()} cannot be converted to UTC") from None
    if time < config.earliest_time:
        raise DecodeError.single(
            "time",
            f"{time.isoformat()} lies before {config.earliest_time.isoformat()}, the earliest event time accepted",
        )
    if time - received > config.future_tolerance:
        raise DecodeError.single(
            "time",
            f"{time.isoformat()} lies more than {config.future_tolerance.total_seconds():g}s after the receive "
            f"time {received.isoformat()}; event times may not be in the future",
        )
    return time


def normalize_event(event: Event, *, config: NormalizeConfig, received: datetime) -> Event:
    """Return the normalized form of a validated event received at ``received`` (timezone-aware)."""
    if received.tzinfo is None:
        raise ValueError("received must be timezone-aware")
    received = received.astimezone(UTC)
    time = _admitted_time(event.time, received, config)
    updates: dict[str, Any] = {
        "time": time,
        "receivedtime": received,
        "schemaversion": SCHEMA_VERSION,
        "datacontenttype": "application/json",
        "data": _normalize_data(event.data, config),
    }
    return event.model_copy(update=updates)


def normalize_raw(obj: object, *, tenant: str | None, config: NormalizeConfig, received: datetime) -> Event:
    """Validate and normalize a raw event object, or raise :class:`DecodeError` naming the field and reason."""
    event = validate_event(prepare(obj, tenant=tenant, config=config))
    return normalize_event(event, config=config, received=received)
