"""Operator actions that talk to the broker and database directly: keys and consumer lag."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from kith_shared.auth import CreatedKey, KeyInfo, KeyStore, Scope
from kith_shared.kafka import BrokerUnavailable, EventProducer, client_options
from kith_shared.mongo import make_mongo_client
from kith_shared.reading import end_offsets
from kith_shared.revocations import announce
from kith_shared.settings import KafkaSettings, MongoSettings
from kith_shared.topics import ACTIVITY, RAW, TopicSpec

DEV_TENANT = "demo"


def mongo_settings(uri: str) -> MongoSettings:
    """Return settings reaching the database at ``uri``."""
    return MongoSettings(uri=SecretStr(uri))


async def create_key(uri: str, tenant: str, scopes: list[Scope], name: str) -> CreatedKey:
    """Create an API key (and the tenant when new)."""
    client = make_mongo_client(mongo_settings(uri), app_name="kith-cli")
    try:
        store = KeyStore(client[mongo_settings(uri).auth_database])
        await store.ensure_indexes()
        return await store.create_key(tenant, scopes, name)
    finally:
        await client.close()


async def list_keys(uri: str, tenant: str | None) -> list[KeyInfo]:
    """List keys, of one tenant or all."""
    client = make_mongo_client(mongo_settings(uri), app_name="kith-cli")
    try:
        return await KeyStore(client[mongo_settings(uri).auth_database]).list_keys(tenant)
    finally:
        await client.close()


async def revoke_key(uri: str, key_id: str, kafka: KafkaSettings | None = None) -> tuple[bool, bool]:
    """Revoke a key by id and, with ``kafka``, broadcast it; return (revoked, broadcast)."""
    client = make_mongo_client(mongo_settings(uri), app_name="kith-cli")
    producer = EventProducer(kafka) if kafka is not None else None
    broadcast = False

    async def tell(revoked: str, tenant: str) -> None:
        nonlocal broadcast
        if producer is None:
            return
        with contextlib.suppress(BrokerUnavailable):
            await producer.wait_connected(5)
        broadcast = await announce(producer, revoked, tenant, "kith://cli")

    try:
        if producer is not None:
            await producer.start()
        store = KeyStore(client[mongo_settings(uri).auth_database])
        store.on_revoke = tell
        return await store.revoke(key_id), broadcast
    finally:
        if producer is not None:
            await producer.stop()
        await client.close()


async def dev_key(uri: str, existing: str | None) -> str:
    """Return the local development key: ``existing`` if still valid, else a new admin key of the demo tenant."""
    client = make_mongo_client(mongo_settings(uri), app_name="kith-cli")
    try:
        store = KeyStore(client[mongo_settings(uri).auth_database])
        await store.ensure_indexes()
        if existing and await store.resolve(existing) is not None:
            return existing
        return (await store.create_key(DEV_TENANT, [Scope.ADMIN], "local development key")).key
    finally:
        await client.close()


@dataclass(frozen=True)
class GroupLag:
    """How far one consumer group is behind, summed over its partitions."""

    group: str
    topics: tuple[str, ...]
    lag: int


def service_groups() -> list[tuple[str, tuple[TopicSpec, ...]]]:
    """Return the consumer group of each service (from its settings) and the topics it reads.

    Recommend has none: every replica reads every partition from its own checkpoint's positions, and
    exports its lag as ``kith_consumer_lag`` on its ``/metrics``.
    """
    from kith_ingest.settings import IngestSettings
    from kith_scoring.settings import ScoringSettings

    return [(IngestSettings().consumer_group, (RAW,)), (ScoringSettings().consumer_group, (ACTIVITY,))]


async def consumer_lag(settings: KafkaSettings, groups: list[tuple[str, tuple[TopicSpec, ...]]]) -> list[GroupLag]:
    """Return each consumer group's lag: where its partitions end minus its committed offsets, over its topics."""
    result = []
    for group, specs in groups:
        consumer = AIOKafkaConsumer(
            **client_options(settings), group_id=settings.group(group), enable_auto_commit=False
        )
        await consumer.start()
        try:
            names = tuple(settings.topic(spec) for spec in specs)
            partitions = [
                TopicPartition(name, p) for name in names for p in sorted(consumer.partitions_for_topic(name) or ())
            ]
            committed = {tp: await consumer.committed(tp) or 0 for tp in partitions}
            consumer.assign(partitions)
            ends = await end_offsets(consumer, partitions)
            lag = sum(max(0, ends[tp] - committed[tp]) for tp in partitions)
            result.append(GroupLag(group, names, lag))
        finally:
            await consumer.stop()
    return result


__all__ = ["GroupLag", "consumer_lag", "create_key", "dev_key", "list_keys", "revoke_key", "service_groups"]
