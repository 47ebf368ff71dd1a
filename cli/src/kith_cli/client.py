"""Send events through ingest's public contract: HTTP batches, or CloudEvents on the raw topic."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from kith_shared.backoff import Backoff
from kith_shared.events import Event, encode_structured, structured_headers
from kith_shared.kafka import EventProducer
from kith_shared.settings import KafkaSettings
from kith_shared.topics import RAW

BATCH_PATH = "/v1/events:batch"


class IngestRefused(RuntimeError):
    """Ingest refused a whole request (bad key, wrong tenant, unreachable); the message says why."""


@dataclass
class Tally:
    """Running counts of what was sent and what ingest answered."""

    sent: int = 0
    accepted: int = 0
    duplicate: int = 0
    """Events ingest had accepted before (the same source and id): not published again."""
    rejected: int = 0
    rejections: list[tuple[int, str]] = field(default_factory=list)
    """Each rejected event's position among those sent, with the problems ingest named."""

    def add(self, other: Tally) -> None:
        """Add another tally's counts to this one."""
        self.sent += other.sent
        self.accepted += other.accepted
        self.duplicate += other.duplicate
        self.rejected += other.rejected
        self.rejections.extend(other.rejections)


def to_wire(event: Event) -> dict[str, Any]:
    """Return an event as the JSON object a client app would send."""
    return event.model_dump(mode="json", exclude_none=True)


class IngestClient:
    """Posts batches to ingest, waiting and retrying while ingest answers 503 or 429."""

    def __init__(self, base_url: str, key: str, *, retries: int = 20, timeout: float = 60.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout)
        self._retries = retries

    async def send_batch(self, items: list[dict[str, Any]], first_index: int = 0) -> Tally:
        """Send up to 1,000 events; return what ingest answered for each."""
        backoff = Backoff(0.2, 5.0, tries=self._retries + 1)
        async for attempt in backoff:
            last = attempt > self._retries
            try:
                answer = await self._http.post(
                    BATCH_PATH, json=items, headers={"Content-Type": "application/cloudevents-batch+json"}
                )
            except httpx.TransportError as exc:
                if last:
                    raise IngestRefused(f"ingest is unreachable at {self._http.base_url}: {exc}") from None
                continue
            if answer.status_code in (429, 503) and not last:
                backoff.hold(float(answer.headers.get("Retry-After", "1")))
                continue
            if answer.status_code not in (200, 202):
                message = answer.json().get("error", {}).get("message", answer.text)
                raise IngestRefused(f"ingest answered {answer.status_code}: {message}")
            body = answer.json()
            tally = Tally(
                sent=len(items), accepted=body["accepted"], duplicate=body["duplicate"], rejected=body["rejected"]
            )
            for result in body["results"]:
                if result["status"] == "rejected":
                    reasons = "; ".join(f"{p['field']}: {p['reason']}" for p in result.get("problems", []))
                    tally.rejections.append((first_index + result["index"], reasons))
            return tally
        raise IngestRefused("ingest kept answering 503; try again later")

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()


class RawTopicSender:
    """Publishes events on the raw topic in CloudEvents structured mode, as a third-party producer would."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._producer = EventProducer(settings)

    async def start(self) -> None:
        """Connect to the broker."""
        await self._producer.start()
        await self._producer.wait_connected(30.0)

    async def send(self, events: list[Event]) -> int:
        """Publish events and wait for the broker's acknowledgement; return how many."""
        topic = self._settings.topic(RAW)
        records = [(topic, encode_structured(e), e.partition_key(), structured_headers()) for e in events]
        await self._producer.send_many(records)
        return len(events)

    async def stop(self) -> None:
        """Disconnect."""
        await self._producer.stop()
