"""The path every event takes, whichever door it came through: normalize, deduplicate, publish.

The HTTP routes and the raw-topic consumer are thin around this, so both doors produce the same
normalized event for the same input.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, TypeGuard

from opentelemetry.trace import SpanKind
from pydantic_core import PydanticSerializationError
from pymongo.errors import PyMongoError

from kith_ingest import SERVICE
from kith_ingest.domain import NormalizeConfig, normalize_raw
from kith_ingest.domain.text import TextBounds
from kith_ingest.erasure import ErasedMembers
from kith_ingest.settings import IngestSettings
from kith_ingest.store import DedupeStore, claim_key
from kith_shared import tracing
from kith_shared.events import DecodeError, Event, Problem, encode_structured, structured_headers
from kith_shared.events.types import MemberErasedEvent
from kith_shared.kafka import BrokerUnavailable, EventProducer
from kith_shared.observability import EVENTS_OUT
from kith_shared.topics import ACTIVITY

log = logging.getLogger(__name__)

#: Requests with up to this many characters of text to clean are normalized on the event loop: at
#: most some 15 ms of work even for the costliest text, less than handing them to a pool and back.
INLINE_TEXT_CHARS: Final = 16 * 1024
#: The free-text fields normalization cleans.
_CLEANED_FIELDS: Final = ("text", "title", "name", "description")


def _text_chars(obj: object, raw_bound: int) -> int:
    """Return how many characters of ``obj``'s text cleaning would read (none of a text it refuses unread)."""
    data = obj.get("data") if isinstance(obj, dict) else None
    if not isinstance(data, dict):
        return 0
    lengths = (len(value) for name in _CLEANED_FIELDS if isinstance(value := data.get(name), str))
    return sum(length for length in lengths if length <= raw_bound)


Status = Literal["valid", "accepted", "duplicate", "rejected"]


@dataclass(slots=True)
class Admission:
    """What became of one event: ``valid`` until admitted, then accepted, duplicate or rejected."""

    status: Status
    id: str | None = None
    source: str | None = None
    event: Event | None = None
    value: bytes | None = None
    problems: list[Problem] = field(default_factory=list)

    def reject(self, problems: list[Problem]) -> None:
        """Mark the event rejected for these reasons."""
        self.status = "rejected"
        self.problems = problems
        self.event = None
        self.value = None


def _attribute(obj: object, name: str) -> str | None:
    value = obj.get(name) if isinstance(obj, dict) else None
    return value.strip() if isinstance(value, str) else None


def receive(obj: Any, *, tenant: str | None, config: NormalizeConfig, received: datetime) -> Admission:
    """Validate and normalize one raw event into its admission; never raises for bad input."""
    admission = Admission("valid", id=_attribute(obj, "id"), source=_attribute(obj, "source"))
    try:
        event = normalize_raw(obj, tenant=tenant, config=config, received=received)
        value = encode_structured(event)
    except DecodeError as exc:
        admission.reject(exc.problems)
        return admission
    except (PydanticSerializationError, UnicodeEncodeError) as exc:
        admission.reject([Problem("event", f"cannot be encoded as UTF-8 JSON: {exc}")])
        return admission
    admission.event, admission.value = event, value
    admission.id, admission.source = event.id, event.source
    return admission


def receive_all(objs: list[Any], tenant: str | None, config: NormalizeConfig, received: datetime) -> list[Admission]:
    """Return the admission of each raw event (a plain function, so a thread or process pool can run it)."""
    return [receive(obj, tenant=tenant, config=config, received=received) for obj in objs]


class Intake:
    """Normalize, deduplicate (claims in MongoDB) and publish (acknowledged) events."""

    def __init__(
        self,
        settings: IngestSettings,
        producer: EventProducer,
        store: DedupeStore,
        pool: Executor | None = None,
        erased: ErasedMembers | None = None,
    ) -> None:
        self.erased = erased
        self.config: NormalizeConfig = settings.normalize_config()
        self.pool = pool
        self.raw_bound = TextBounds(self.config.max_text_chars).chars
        self.producer = producer
        self.store = store
        self.topic = settings.kafka.topic(ACTIVITY)
        self._headers = structured_headers()

    def receive(self, obj: Any, *, tenant: str | None, received: datetime) -> Admission:
        """Validate and normalize one raw event here, on the caller's thread; never raises for bad input."""
        tracing.stamp(obj)
        return receive(obj, tenant=tenant, config=self.config, received=received)

    async def receive_many(self, objs: list[Any], *, tenant: str | None, received: datetime) -> list[Admission]:
        """Validate and normalize raw events, off the event loop when their text is costly to clean.

        Cleaning costs up to about a microsecond per character of text (bounded per text by the
        normalization's limits). Up to :data:`INLINE_TEXT_CHARS` characters in all it is cheaper
        than a hop to the pool and runs here; beyond, the whole request runs in the normalization
        pool, whose few workers bound how much CPU costly input takes while the event loop keeps
        answering (health, other requests). Text beyond the raw bound counts for nothing: it is
        refused before it is cleaned.

        With tracing on, an event that carries no ``traceparent`` is given the current span's (the request's).
        """
        if tracing.enabled():
            for obj in objs:
                tracing.stamp(obj)
        if self.pool is None or sum(_text_chars(obj, self.raw_bound) for obj in objs) <= INLINE_TEXT_CHARS:
            return receive_all(objs, tenant, self.config, received)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, receive_all, objs, tenant, self.config, received)

    async def admit(self, admissions: list[Admission], now: datetime, *, confirm_now: bool = False) -> None:
        """Claim and publish the valid admissions; set each one's final status in place.

        With ``confirm_now`` the claims are marked published before returning (the consumer commits
        its offsets right after, so a crash must not leave them looking abandoned); otherwise in the
        background, off the request's path.

        An event whose acting member was erased is rejected (field error on ``data.member_id``); the
        tombstone of an erased member is written before their erasure is published.

        Raises :class:`BrokerUnavailable` (every claim given back, nothing accepted) when the broker
        did not acknowledge, and :class:`PyMongoError` when the claims could not be written.
        """
        if self.erased is not None:
            await self.refuse_erased(admissions)
        first: dict[str, Admission] = {}
        for admission in admissions:
            if admission.status != "valid" or admission.event is None:
                continue
            key = claim_key(admission.event.tenant, admission.event.source, admission.event.id)
            if key in first:
                admission.status = "duplicate"
            else:
                first[key] = admission
        if not first:
            return
        if not self.producer.connected:
            raise BrokerUnavailable(self.producer.last_error or "broker unreachable")
        if not tracing.enabled():
            await self._admit(first, now, confirm_now=confirm_now)
            return
        contexts = [tracing.parse(a.event.traceparent if a.event else None) for a in first.values()]
        with tracing.batch_span("ingest admit", contexts, {"kith.service": SERVICE}, kind=SpanKind.INTERNAL):
            await self._admit(first, now, confirm_now=confirm_now)

    async def _admit(self, first: dict[str, Admission], now: datetime, *, confirm_now: bool) -> None:
        """Claim, publish (each event in its own trace) and confirm the first admission of each event."""
        if self.erased is not None:
            erasures = [(a.event.tenant, a.event.data.member_id) for a in first.values() if _erasure(a.event)]
            await self.erased.erase(erasures)
        claim = await self.store.claim(list(first), now)
        won = set(claim.keys)
        publish: list[Admission] = []
        for key, admission in first.items():
            if key in won:
                publish.append(admission)
            else:
                admission.status = "duplicate"
        if not publish:
            return
        records: list[tuple[str, bytes, bytes | None, list[tuple[str, bytes]] | None]] = [
            (
                self.topic,
                admission.value or b"",
                admission.event.partition_key() if admission.event else None,
                self._headers,
            )
            for admission in publish
        ]
        try:
            await self.producer.send_many(
                records, traceparents=[a.event.traceparent if a.event else None for a in publish]
            )
        except BaseException:
            for admission in publish:
                admission.status = "valid"
            with contextlib.suppress(PyMongoError):
                await self.store.release(claim)
            raise
        for admission in publish:
            admission.status = "accepted"
        EVENTS_OUT.labels(SERVICE, self.topic).inc(len(publish))
        if confirm_now:
            await self.store.confirm(claim, now)
        else:
            self.store.confirm_later(claim, now)

    async def refuse_erased(self, admissions: list[Admission]) -> None:
        """Reject the valid admissions whose acting member was erased (reads the tombstones first if needed)."""
        if self.erased is None:
            return
        await self.erased.ready()
        for admission in admissions:
            if admission.status == "valid" and admission.event is not None:
                problem = self.erased.refusal(admission.event)
                if problem is not None:
                    admission.reject([problem])


def _erasure(event: Event | None) -> TypeGuard[MemberErasedEvent]:
    return isinstance(event, MemberErasedEvent)
