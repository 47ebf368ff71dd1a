"""Key revocations broadcast to every replica of every service, so a revoked key stops working within seconds.

Each replica caches key lookups for 30 seconds (:class:`~kith_shared.auth.KeyStore`). Whoever revokes a
key (the admin route of any service, ``kith keys revoke``) writes the revocation to the database, then
publishes a ``key.revoked`` event on the control topic. Every replica reads that topic with a small
consumer on every partition and no group (:class:`~kith_shared.consumer.Consumer`), so each one sees
every revocation and drops the key from its cache at once. A replica starting reads the topic from its
beginning (a day of revocations), which costs nothing: forgetting a key only means asking the database
again. When the broker is down the broadcast fails, which is logged: the cache's 30 seconds remain the
bound, as before.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

from kith_shared.auth import KeyStore
from kith_shared.batching import Handler, Record, Stage
from kith_shared.consumer import Consumer, ConsumerOptions
from kith_shared.events import DeadLetter, DecodeError, kafka_event, validate_event
from kith_shared.events.data import KeyRevoked
from kith_shared.events.types import KeyRevokedEvent
from kith_shared.kafka import BrokerUnavailable, EventProducer, ProducerNotStarted
from kith_shared.settings import KafkaSettings
from kith_shared.topics import CONTROL

log = logging.getLogger(__name__)

REVOKED = "key.revoked"


def revoked_event(key_id: str, tenant: str, source: str) -> KeyRevokedEvent:
    """Return the ``key.revoked`` event announcing that ``key_id`` of ``tenant`` was revoked."""
    return KeyRevokedEvent(
        id=str(uuid.uuid4()), source=source, time=datetime.now(UTC), tenant=tenant, data=KeyRevoked(key_id=key_id)
    )


async def announce(producer: EventProducer, key_id: str, tenant: str, source: str) -> bool:
    """Publish a revocation on the control topic; return False (and log why) when the broker did not take it."""
    try:
        await producer.publish(CONTROL, [revoked_event(key_id, tenant, source)])
    except (BrokerUnavailable, ProducerNotStarted) as exc:
        log.warning(
            "key revoked but not broadcast; other replicas drop it from their cache within 30 s",
            extra={"key_id": key_id, "error": str(exc)},
        )
        return False
    return True


class RevocationHandler(Handler[KeyRevokedEvent | None]):
    """Drop each revoked key from this replica's cache; other control events are not this handler's."""

    def __init__(self, keys: KeyStore, service: str) -> None:
        self.keys = keys
        self.stage = cast("Stage", service)

    async def prepare(self, records: Sequence[Record]) -> list[KeyRevokedEvent | DeadLetter | None]:
        """Decode each record: a revocation, None for another control event, a dead letter when unreadable."""
        items: list[KeyRevokedEvent | DeadLetter | None] = []
        for record in records:
            try:
                raw = kafka_event(record.value, record.headers)
                if raw.get("type") != REVOKED:
                    items.append(None)  # a later kind of control event: for whoever reads it
                    continue
                event = validate_event(raw)
            except DecodeError as exc:
                problem = exc.problems[0]
                items.append(
                    DeadLetter.from_record(
                        record, reason=str(exc), error="DecodeError", field=problem.field, stage=self.stage
                    )
                )
                continue
            items.append(event if isinstance(event, KeyRevokedEvent) else None)
        return items

    async def apply(self, items: Sequence[KeyRevokedEvent | None]) -> None:
        """Forget every revoked key (cannot fail: the cache is in memory)."""
        for event in items:
            if event is not None:
                self.keys.forget(event.data.key_id)


class Revocations:
    """This replica's side of the broadcast: announce the revocations it makes, apply everyone's."""

    def __init__(self, kafka: KafkaSettings, service: str, keys: KeyStore, producer: EventProducer) -> None:
        self.producer = producer
        self.source = f"kith://{service}"
        options = ConsumerOptions(
            name=f"{service}-revocations", service=service, topics=(CONTROL,), group=None, poll_ms=200
        )
        self.consumer = Consumer(options, kafka, RevocationHandler(keys, service), producer)

    async def announce(self, key_id: str, tenant: str) -> bool:
        """Tell every replica that a key was revoked (see :func:`announce`)."""
        return await announce(self.producer, key_id, tenant, self.source)

    async def start(self) -> None:
        """Start reading revocations in the background."""
        await self.consumer.start()

    async def stop(self) -> None:
        """Stop reading revocations."""
        await self.consumer.stop(within=10.0)
