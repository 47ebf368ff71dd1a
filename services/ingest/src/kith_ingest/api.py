"""HTTP door: one event or a batch, as JSON or CloudEvents (structured, batched, or binary with ``ce-`` headers).

- ``POST /v1/events``: one event. ``application/json`` or ``application/cloudevents+json`` (structured), or
  binary mode (``ce-`` headers, ``data`` as a JSON body). 202 accepted, 200 duplicate, 422 rejected.
- ``POST /v1/events:batch``: a JSON array of up to ``max_batch_events`` events, as ``application/json`` or
  ``application/cloudevents-batch+json``. The answer lists each event's admission (accepted, duplicate,
  rejected with field and reason); one bad event never sinks the rest. 202 when at least one event was
  accepted, 200 when none was.

202 is answered only once the broker acknowledged every accepted event; when it cannot, the answer is
503 with Retry-After and no event is reported accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import pydantic_core
from fastapi import APIRouter, Request, Response, status
from fastapi.types import DecoratedCallable
from pydantic import BaseModel, Field
from pymongo.errors import PyMongoError

from kith_ingest import SERVICE
from kith_ingest.deps import Intake, Settings
from kith_ingest.intake import Admission
from kith_ingest.settings import IngestSettings
from kith_shared.auth import EventsWriter
from kith_shared.errors import ApiError
from kith_shared.events import (
    BATCH_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    STRUCTURED_CONTENT_TYPE,
    DecodeError,
    http_binary_event,
    is_http_binary,
    media_type,
    parse_batch,
    parse_json,
)
from kith_shared.kafka import BrokerUnavailable
from kith_shared.observability import BATCH_SIZE, EVENTS_IN
from kith_shared.openapi import errors, event_components

SINGLE_TYPES = (JSON_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE)
BATCH_TYPES = (JSON_CONTENT_TYPE, BATCH_CONTENT_TYPE)


class ProblemOut(BaseModel):
    """Why an event was rejected."""

    field: str
    reason: str


class EventResult(BaseModel):
    """The admission of one event."""

    index: int = Field(description="Position of the event in the request.")
    status: Literal["accepted", "duplicate", "rejected"]
    id: str | None = None
    source: str | None = None
    problems: list[ProblemOut] = Field(default_factory=list)


class BatchResult(BaseModel):
    """The admission of a batch, event by event."""

    accepted: int
    duplicate: int
    rejected: int
    results: list[EventResult]


def _check_content_type(request: Request, allowed: tuple[str, ...], hint: str) -> str:
    media = media_type(request.headers.get("content-type"))
    if media not in allowed:
        raise ApiError(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            f"content type {media or '(none)'!r} is not accepted here; send {' or '.join(allowed)}{hint}",
        )
    return media


def _unavailable(settings: IngestSettings, what: str) -> ApiError:
    return ApiError(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        f"{what}_unavailable",
        f"the {'broker' if what == 'broker' else 'deduplication store'} is unreachable; nothing was accepted, "
        "retry shortly",
        headers={"Retry-After": str(settings.retry_after_seconds)},
    )


async def _admit(intake: Intake, settings: IngestSettings, admissions: list[Admission], now: datetime) -> None:
    try:
        await intake.admit(admissions, now)
    except BrokerUnavailable:
        raise _unavailable(settings, "broker") from None
    except PyMongoError:
        raise _unavailable(settings, "store") from None


def _result(index: int, admission: Admission) -> dict[str, Any]:
    """Return one event's admission in the shape of :class:`EventResult` (built directly: a batch has many)."""
    return {
        "index": index,
        "status": "rejected" if admission.status == "valid" else admission.status,
        "id": admission.id,
        "source": admission.source,
        "problems": [p.as_dict() for p in admission.problems],
    }


def _json(body: dict[str, Any], status_code: int) -> Response:
    return Response(pydantic_core.to_json(body), status_code=status_code, media_type=JSON_CONTENT_TYPE)


router = APIRouter(prefix="/v1", tags=["events"])

#: Any event of the contract, and the schemas it refers to (served as components of the OpenAPI document).
EVENT_SCHEMA, EVENT_COMPONENTS = event_components()
_SINGLE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "One event, structured (CloudEvents JSON); a plain JSON event may leave out specversion and tenant. "
            "In binary mode the body is the event's data and its attributes travel in ce- headers."
        ),
        "content": {media: {"schema": EVENT_SCHEMA} for media in SINGLE_TYPES},
    }
}
_BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A JSON array of events; each is admitted or rejected on its own.",
        "content": {
            media: {"schema": {"type": "array", "items": EVENT_SCHEMA, "minItems": 1}} for media in BATCH_TYPES
        },
    }
}

_COMMON = errors(
    413,
    415,
    503,
    descriptions={
        415: "Unsupported content type",
        503: "Broker or store unreachable; nothing was accepted. Retry after Retry-After seconds.",
    },
)


def _accepts(
    path: str, model: type[BaseModel], *, body: dict[str, Any], ok: str, invalid: str
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """Declare a route that accepts events: 202 when any was accepted, else 200 (``ok``); 422 when ``invalid``."""
    return router.post(
        path,
        status_code=status.HTTP_202_ACCEPTED,
        response_model=model,
        responses={200: {"model": model, "description": ok}, **errors(422, descriptions={422: invalid}), **_COMMON},
        openapi_extra=body,
    )


@_accepts(
    "/events",
    EventResult,
    body=_SINGLE_BODY,
    ok="A duplicate: already accepted",
    invalid="The event is not valid; problems name each field and reason",
)
async def post_event(request: Request, principal: EventsWriter, intake: Intake, settings: Settings) -> Response:
    """Accept one event (JSON, CloudEvents structured, or CloudEvents binary mode with ce- headers)."""
    binary = is_http_binary(request.headers)
    if not binary:
        _check_content_type(request, SINGLE_TYPES, "; for a batch use POST /v1/events:batch")
    body = await request.body()  # within max_body_bytes: the platform's body limit refused larger ones
    now = datetime.now(UTC)
    EVENTS_IN.labels(SERVICE, "http").inc()
    try:
        raw = http_binary_event(request.headers, body) if binary else parse_json(body, "event")
    except DecodeError as exc:
        if exc.problems[0].field == "content-type":
            raise ApiError(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", str(exc)) from None
        raise ApiError(422, "invalid_event", "the event is not valid", problems=_problems(exc)) from None
    [admission] = await intake.receive_many([raw], tenant=principal.tenant, received=now)
    if admission.status == "rejected":
        raise _invalid_event(admission)
    await _admit(intake, settings, [admission], now)
    if admission.problems:  # rejected while admitted: its member was erased
        raise _invalid_event(admission)
    code = status.HTTP_202_ACCEPTED if admission.status == "accepted" else status.HTTP_200_OK
    return _json(_result(0, admission), code)


def _problems(exc: DecodeError) -> list[dict[str, str]]:
    return [p.as_dict() for p in exc.problems]


def _invalid_event(admission: Admission) -> ApiError:
    return ApiError(422, "invalid_event", "the event is not valid", problems=[p.as_dict() for p in admission.problems])


@_accepts(
    "/events:batch",
    BatchResult,
    body=_BATCH_BODY,
    ok="Processed; no event was accepted",
    invalid="The batch is not a JSON array, is empty, or holds too many events",
)
async def post_batch(request: Request, principal: EventsWriter, intake: Intake, settings: Settings) -> Response:
    """Accept up to max_batch_events events and report each one's admission."""
    _check_content_type(request, BATCH_TYPES, "; a single event goes to POST /v1/events")
    body = await request.body()  # within max_body_bytes: the platform's body limit refused larger ones
    now = datetime.now(UTC)
    try:
        items = parse_batch(body)
    except DecodeError as exc:
        raise ApiError(422, "invalid_batch", "the batch is not valid", problems=_problems(exc)) from None
    if not items:
        raise ApiError(422, "invalid_batch", "the batch is empty", problems=[{"field": "batch", "reason": "empty"}])
    if len(items) > settings.max_batch_events:
        raise ApiError(
            422,
            "batch_too_large",
            f"the batch holds {len(items)} events; the limit is {settings.max_batch_events}",
            problems=[{"field": "batch", "reason": f"more than {settings.max_batch_events} events"}],
        )
    EVENTS_IN.labels(SERVICE, "http").inc(len(items))
    BATCH_SIZE.labels(SERVICE).observe(len(items))
    admissions = await intake.receive_many(items, tenant=principal.tenant, received=now)
    await _admit(intake, settings, admissions, now)
    results = [_result(index, admission) for index, admission in enumerate(admissions)]
    counts = {name: sum(r["status"] == name for r in results) for name in ("accepted", "duplicate", "rejected")}
    code = status.HTTP_202_ACCEPTED if counts["accepted"] else status.HTTP_200_OK
    return _json({**counts, "results": results}, code)
