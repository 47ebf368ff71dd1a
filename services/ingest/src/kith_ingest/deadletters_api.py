"""HTTP routes of dead letters (scope ``admin``): list the caller's tenant's, with reasons; replay them after a fix.

What ``kith deadletters`` does for an operator, for one tenant over HTTP: a tenant's key sees and
replays only letters of its own tenant. A letter is replayed onto the raw topic with its replay count
raised (see :mod:`kith_ingest.deadletters`); ingest's deduplication makes a second replay of an event
that went through harmless.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Final, Literal

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field
from pymongo.errors import PyMongoError

from kith_ingest.api import _unavailable
from kith_ingest.deadletters import PlacedLetter, read_placed_letters, replay_record, replayable
from kith_ingest.deps import Intake as IntakeDep
from kith_ingest.deps import Settings
from kith_shared.auth import Admin
from kith_shared.errors import ApiError
from kith_shared.events import DeadLetter
from kith_shared.kafka import BrokerUnavailable, EventProducer
from kith_shared.topics import RAW

router = APIRouter(prefix="/v1", tags=["dead letters"])


class LetterView(BaseModel):
    """A dead letter: why, where it came from, and whether it can be replayed."""

    partition: int = Field(description="Its partition on the dead-letter topic (with offset, names it for replay).")
    offset: int
    reason: str
    error: str
    field: str | None
    stage: Literal["ingest", "scoring", "recommend"]
    source_topic: str
    source_partition: int
    source_offset: int
    tenant: str | None
    failed_at: datetime
    replay_count: int
    event_id: str | None = Field(description="The original event's id, when it could be read.")
    event_type: str | None
    replayable: bool
    not_replayable_because: str | None = None


class LetterList(BaseModel):
    """The caller's tenant's dead letters, latest first."""

    total: int
    items: list[LetterView]


class LetterRef(BaseModel):
    """A dead letter by its place on the dead-letter topic."""

    partition: int = Field(ge=0)
    offset: int = Field(ge=0)


class ReplayRequest(BaseModel):
    """Which letters to replay."""

    letters: list[LetterRef] = Field(min_length=1, max_length=100)


class Refused(BaseModel):
    """A letter that was not replayed, and why."""

    partition: int
    offset: int
    reason: str


class ReplayResult(BaseModel):
    """What a replay did."""

    replayed: list[LetterRef]
    refused: list[Refused]


def _original(letter: DeadLetter) -> tuple[str | None, str | None]:
    """Return the original event's id and type, from binary-mode headers or the JSON body."""
    headers = {name.lower(): raw.decode("utf-8", "replace") for name, raw in letter.original_headers()}
    if "ce_id" in headers:
        return headers["ce_id"], headers.get("ce_type")
    try:
        body = json.loads(letter.original_value())
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None

    def text(value: object) -> str | None:
        return str(value)[:200] if value is not None else None

    return text(body.get("id")), text(body.get("type"))


#: Fields of a dead letter shown as they are (its place on the source topic is renamed: ``source_*``).
_SHOWN: Final = {"reason", "error", "field", "stage", "source_topic", "tenant", "failed_at", "replay_count"}


def _view(placed: PlacedLetter, raw_topic: str, max_replays: int) -> LetterView:
    letter = placed.letter
    why_not = replayable(letter, raw_topic, max_replays)
    event_id, event_type = _original(letter)
    return LetterView(
        **letter.model_dump(include=_SHOWN),
        partition=placed.partition,
        offset=placed.offset,
        source_partition=letter.partition,
        source_offset=letter.offset,
        event_id=event_id,
        event_type=event_type,
        replayable=why_not is None,
        not_replayable_because=why_not,
    )


async def _tenant_letters(settings: Settings, tenant: str, intake: IntakeDep) -> list[PlacedLetter]:
    """Return the tenant's letters; those whose event names an erased member are redacted (never shown or replayed)."""
    try:
        letters = await read_placed_letters(settings.kafka, within=20.0)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise _broker_down() from exc
    erased = intake.erased
    if erased is not None:
        try:
            await erased.ready()
        except PyMongoError:
            raise _unavailable(settings, "store") from None
        letters = [PlacedLetter(p.partition, p.offset, erased.redacted(p.letter)) for p in letters]
    return [placed for placed in letters if placed.letter.tenant == tenant]


def _broker_down() -> ApiError:
    return ApiError(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "broker_unavailable",
        "the dead-letter topic cannot be read now; retry shortly",
        headers={"Retry-After": "5"},
    )


@router.get("/dead-letters")
async def list_dead_letters(
    principal: Admin,
    settings: Settings,
    intake: IntakeDep,
    limit: Annotated[int, Query(ge=1, le=500, description="Show at most this many, the latest.")] = 100,
) -> LetterList:
    """List the caller's tenant's dead letters, latest first, with their reasons, origin and whether they replay."""
    letters = await _tenant_letters(settings, principal.tenant, intake)
    raw_topic = settings.kafka.topic(RAW)
    latest = list(reversed(letters))[:limit]
    return LetterList(total=len(letters), items=[_view(p, raw_topic, settings.max_replays) for p in latest])


@router.post("/dead-letters:replay")
async def replay_dead_letters(
    body: ReplayRequest, principal: Admin, settings: Settings, intake: IntakeDep, request: Request
) -> ReplayResult:
    """Replay some of the caller's tenant's dead letters onto the raw topic (after fixing what made them fail)."""
    letters = {(p.partition, p.offset): p for p in await _tenant_letters(settings, principal.tenant, intake)}
    raw_topic = settings.kafka.topic(RAW)
    producer: EventProducer = request.app.state.platform.producer
    replayed: list[LetterRef] = []
    refused: list[Refused] = []
    records = []
    for ref in body.letters:
        placed = letters.get((ref.partition, ref.offset))
        if placed is None:
            refused.append(Refused(partition=ref.partition, offset=ref.offset, reason="no such dead letter here"))
            continue
        why_not = replayable(placed.letter, raw_topic, settings.max_replays)
        if why_not is not None:
            refused.append(Refused(partition=ref.partition, offset=ref.offset, reason=why_not))
            continue
        value, key, headers = replay_record(placed.letter)
        records.append((raw_topic, value, key, headers))
        replayed.append(ref)
    if records:
        try:
            await producer.send_many(records)
        except BrokerUnavailable:
            raise _broker_down() from None
    return ReplayResult(replayed=replayed, refused=refused)
