"""The path every event takes, whichever door it came through: normalize, deduplicate, publish.

The HTTP routes and the raw-topic consumer are thin around this, so both doors produce the same
normalized event for the same input.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic_core import PydanticSerializationError
from pymongo.errors import PyMongoError

from kith_ingest import SERVICE
from kith_ingest.domain import NormalizeConfig, normalize_raw
from kith_ingest.settings import IngestSettings
from kith_ingest.store import DedupeStore, claim_key
from kith_shared.events import DecodeError, Event, Problem, encode_structured, structured_headers
from kith_shared.kafka import BrokerUnavailable, EventProducer
from kith_shared.observability import EVENTS_OUT
from kith_shared.topics import ACTIVITY

log = logging.getLogger(__name__)

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


class Intake:
    """Normalize, deduplicate (claims in MongoDB) and publish (acknowledged) events."""

    def __init__(self, settings: IngestSettings, producer: EventProducer, store: DedupeStore) -> None:
        self.config: NormalizeConfig = settings.normalize_config()
        self.producer = producer
        self.store = store
        self.topic = settings.kafka.topic(ACTIVITY)
        self._headers = structured_headers()

    def receive(self, obj: Any, *, tenant: str | None, received: datetime) -> Admission:
        """Validate and normalize one raw event; never raises for bad input."""
        admission = Admission("valid", id=_attribute(obj, "id"), source=_attribute(obj, "source"))
        try:
            event = normalize_raw(obj, tenant=tenant, config=self.config, received=received)
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

    async def admit(self, admissions: list[Admission], now: datetime, *, confirm_now: bool = False) -> None:
        """Claim and publish the valid admissions; set each one's final status in place.

        With ``confirm_now`` the claims are marked published before returning (the consumer commits
        its offsets right after, so a crash must not leave them looking abandoned); otherwise in the
        background, off the request's path.

        Raises :class:`BrokerUnavailable` (every claim given back, nothing accepted) when the broker
        did not acknowledge, and :class:`PyMongoError` when the claims could not be written.
        """
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
            await self.producer.send_many(records)
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
