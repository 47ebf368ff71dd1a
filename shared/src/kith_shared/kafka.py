"""Kafka producer and consumer factories on aiokafka, and a producer that survives broker outages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    TopicAlreadyExistsError,
    UnknownProducerId,
)
from aiokafka.helpers import create_ssl_context
from aiokafka.structs import RecordMetadata
from opentelemetry.trace import SpanKind

from kith_shared import logs, tracing
from kith_shared.backoff import Backoff
from kith_shared.events import DeadLetter, Event, encode_structured, structured_headers
from kith_shared.observability import DEAD_LETTERS
from kith_shared.settings import KafkaSettings
from kith_shared.topics import ALL_TOPICS, DEAD_LETTER, TopicSpec

log = logging.getLogger(__name__)

#: Errors after which a producer cannot go on and must be replaced.
FATAL_PRODUCER_ERRORS: tuple[type[KafkaError], ...] = (OutOfOrderSequenceNumber, ProducerFenced, UnknownProducerId)


class BrokerUnavailable(RuntimeError):
    """The broker did not acknowledge a write; the caller should retry later."""


class ProducerNotStarted(RuntimeError):
    """A publish was attempted before the producer was started."""


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Return the connection options (bootstrap, TLS, SASL) every aiokafka client needs."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
        "client_id": settings.client_id,
        "request_timeout_ms": settings.request_timeout_ms,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=settings.ssl_cafile, certfile=settings.ssl_certfile, keyfile=settings.ssl_keyfile
        )
    if settings.sasl_mechanism:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get_secret_value() if settings.sasl_password else None
    return options


def make_producer(settings: KafkaSettings, **overrides: Any) -> AIOKafkaProducer:
    """Create (not start) a producer that waits for all in-sync replicas (acks=all)."""
    options = client_options(settings)
    options.update(acks="all", enable_idempotence=settings.idempotence, linger_ms=2, compression_type=None)
    options.update(overrides)
    return AIOKafkaProducer(**options)


def make_consumer(settings: KafkaSettings, *topics: str, group: str | None, **overrides: Any) -> AIOKafkaConsumer:
    """Create (not start) a consumer with auto-commit off, reading from the earliest offset."""
    options = client_options(settings)
    options.update(
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=500,
    )
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


async def ensure_topics(settings: KafkaSettings, specs: Iterable[TopicSpec] = ALL_TOPICS) -> list[str]:
    """Create the declared topics that do not exist yet, with their retention; return the names created.

    A topic that exists already keeps its configuration: change its retention on the cluster
    (``kafka-configs.sh --alter`` or the ``KafkaTopic`` resource), not here.
    """
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                settings.topic(spec),
                spec.partitions,
                settings.replication_factor,
                topic_configs={"retention.ms": str(spec.retention_ms)},
            )
            for spec in specs
            if settings.topic(spec) not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
        return [topic.name for topic in wanted]
    finally:
        await admin.close()


class EventProducer:
    """A producer that connects in the background, reports its health, and replaces itself after fatal errors.

    ``send`` returns only once the broker has acknowledged the write, and raises
    :class:`BrokerUnavailable` when it could not, so a caller never reports success for a lost write.
    """

    def __init__(self, settings: KafkaSettings, *, send_timeout: float = 10.0, **overrides: Any) -> None:
        self._settings = settings
        self._overrides = overrides
        self._send_timeout = send_timeout
        self._producer: AIOKafkaProducer | None = None
        self._connector: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._started = False
        self._connected = asyncio.Event()
        self.last_error: str | None = "not connected yet"

    @property
    def connected(self) -> bool:
        """Tell whether a producer is connected."""
        return self._producer is not None

    async def wait_connected(self, within: float) -> None:
        """Wait until connected; raise :class:`BrokerUnavailable` after ``within`` seconds."""
        try:
            async with asyncio.timeout(within):
                await self._connected.wait()
        except TimeoutError:
            raise BrokerUnavailable(self.last_error or "broker unreachable") from None

    async def start(self) -> None:
        """Start connecting in the background; never fails when the broker is down."""
        self._started = True
        self._connector = asyncio.create_task(self._connect_forever(), name="kafka-producer-connect")

    async def _connect_once(self) -> None:
        producer = make_producer(self._settings, **self._overrides)
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        self._producer = producer
        self.last_error = None
        self._connected.set()

    async def _connect_forever(self) -> None:
        async for _ in Backoff(0.2, 5.0):
            if not self._started:
                return
            try:
                async with self._lock:
                    if self._producer is None:
                        await self._connect_once()
                return
            except (KafkaError, OSError) as exc:
                self.last_error = f"broker unreachable: {exc}"
                log.warning("kafka producer not connected, retrying", extra={"error": str(exc)})

    async def _replace(self, reason: str) -> None:
        async with self._lock:
            old, self._producer = self._producer, None
            self._connected.clear()
            self.last_error = reason
        if old is not None:
            with contextlib.suppress(Exception):
                await old.stop()
        if self._started and (self._connector is None or self._connector.done()):
            self._connector = asyncio.create_task(self._connect_forever(), name="kafka-producer-reconnect")

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None, headers: list[tuple[str, bytes]] | None = None
    ) -> RecordMetadata:
        """Write one record and wait for the broker's acknowledgement."""
        return (await self.send_many([(topic, value, key, headers)]))[0]

    async def send_many(
        self,
        records: Sequence[tuple[str, bytes, bytes | None, list[tuple[str, bytes]] | None]],
        *,
        traceparents: Sequence[str | None] | None = None,
    ) -> list[RecordMetadata]:
        """Write records (kept in order per partition) and wait until the broker acknowledged all of them.

        With tracing on, each record is sent in the trace its event names (``traceparents``, one per
        record, None: the current one), so the ``traceparent`` header written beside it continues that trace.
        """
        if not self._started:
            raise ProducerNotStarted("the producer must be started before it publishes")
        producer = self._producer
        if producer is None:
            raise BrokerUnavailable(self.last_error or "broker unreachable")
        try:
            if tracing.enabled():
                futures = [
                    await self._send_traced(producer, record, traceparents[i] if traceparents else None)
                    for i, record in enumerate(records)
                ]
            else:
                futures = [
                    await producer.send(topic, value, key=key, headers=headers or None)
                    for topic, value, key, headers in records
                ]
            async with asyncio.timeout(self._send_timeout):
                return list(await asyncio.gather(*futures))
        except FATAL_PRODUCER_ERRORS as exc:
            await self._replace(f"producer replaced after fatal error: {exc!r}")
            raise BrokerUnavailable(str(exc)) from exc
        except (KafkaError, TimeoutError, OSError) as exc:
            self.last_error = f"broker did not acknowledge: {exc!r}"
            raise BrokerUnavailable(self.last_error) from exc

    @staticmethod
    async def _send_traced(
        producer: AIOKafkaProducer,
        record: tuple[str, bytes, bytes | None, list[tuple[str, bytes]] | None],
        traceparent: str | None,
    ) -> asyncio.Future[RecordMetadata]:
        topic, value, key, headers = record
        # A copy: the instrumentation appends its header; one that came with the record belonged to an older hop.
        own = [(name, raw) for name, raw in headers or () if name not in (tracing.TRACEPARENT, "tracestate")]
        with tracing.attached(tracing.context_for(traceparent)):
            future: asyncio.Future[RecordMetadata] = await producer.send(topic, value, key=key, headers=own)
        return future

    def topic_name(self, spec: TopicSpec) -> str:
        """Return the deployed name of a declared topic this producer writes to."""
        return self._settings.topic(spec)

    async def publish(self, spec: TopicSpec, events: list[Event]) -> list[RecordMetadata]:
        """Publish events in structured mode on a declared topic, keyed by their partition key.

        With tracing on, an event without a ``traceparent`` is given the current span's, and each is
        sent in its own trace.
        """
        topic = self._settings.topic(spec)
        headers = structured_headers()
        events = tracing.stamped(events)
        return await self.send_many(
            [(topic, encode_structured(e), e.partition_key(), headers) for e in events],
            traceparents=[e.traceparent for e in events] if tracing.enabled() else None,
        )

    async def check(self) -> None:
        """Raise if the broker cannot be reached now."""
        producer = self._producer
        if producer is None:
            raise BrokerUnavailable(self.last_error or "broker unreachable")
        try:
            async with asyncio.timeout(3.0):
                await producer.client.fetch_all_metadata()
        except (KafkaError, TimeoutError, OSError) as exc:
            raise BrokerUnavailable(f"broker unreachable: {exc!r}") from exc

    async def stop(self) -> None:
        """Flush and close."""
        self._started = False
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connector
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


def _identity_of(letter: DeadLetter) -> tuple[str | None, str | None]:
    """Return the original event's id and tenant when the record carries them (binary headers or JSON body)."""
    found: dict[str, str | None] = {"id": None, "tenant": letter.tenant}
    for name, raw in letter.original_headers():
        if name.lower() in ("ce_id", "ce_tenant") and found[name.lower()[3:]] is None:
            found[name.lower()[3:]] = raw.decode("utf-8", "replace")
    if found["id"] is None or found["tenant"] is None:
        try:
            body = json.loads(letter.original_value())
        except ValueError:
            body = None
        for key in ("id", "tenant"):
            value = body.get(key) if isinstance(body, dict) else None
            if found[key] is None and isinstance(value, (str, int)):
                found[key] = str(value)
    return found["id"], found["tenant"]


async def send_dead_letter(producer: EventProducer, settings: KafkaSettings, letter: DeadLetter) -> None:
    """Write a dead letter and wait for the acknowledgement (raises :class:`BrokerUnavailable`).

    Counts it in ``kith_dead_letters_total`` and logs it with the original event's id and tenant; with
    tracing on, both happen in a span that continues the trace the original record carries.
    """
    carried = tracing.carried_context(letter.original_headers(), letter.original_value()) if tracing.enabled() else None
    attributes = {"messaging.destination.name": letter.source_topic, "kith.dead_letter.error": letter.error}
    with tracing.batch_span(f"{letter.source_topic} dead-letter", [carried], attributes, kind=SpanKind.INTERNAL):
        await producer.send(
            settings.topic(DEAD_LETTER),
            letter.model_dump_json().encode(),
            key=letter.original_key(),
            headers=[("content-type", b"application/json"), ("kith-dead-letter-reason", letter.reason[:200].encode())],
        )
        DEAD_LETTERS.labels(letter.stage, letter.error).inc()
        # A letter that does not name its event or tenant keeps those of the record being processed.
        event, tenant = _identity_of(letter)
        with logs.bound(event=event or logs.event_id.get(), tenant_id=tenant or logs.tenant.get()):
            log.warning(
                "record dead-lettered",
                extra={"reason": letter.reason, "topic": letter.source_topic, "partition": letter.partition,
                       "offset": letter.offset},
            )  # fmt: skip
