"""Topics are created with the retention declared in ``kith_shared.topics``, on the embedded broker as on Kafka."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from kith_shared.kafka import client_options, ensure_topics
from kith_shared.settings import KafkaSettings
from kith_shared.topics import ACTIVITY, ALL_TOPICS, CONTROL, DAY_MS, DEAD_LETTER, ENGAGEMENT, MICROCOMMUNITIES, RAW


@pytest.mark.unit
def test_retention_is_the_documented_decision() -> None:
    assert {spec.name: spec.retention_ms // DAY_MS for spec in ALL_TOPICS} == {
        RAW.name: 7,
        ACTIVITY.name: 30,
        DEAD_LETTER.name: 30,
        ENGAGEMENT.name: 7,
        CONTROL.name: 1,
        MICROCOMMUNITIES.name: 30,
    }
    assert all(spec.retention_ms % DAY_MS == 0 for spec in ALL_TOPICS)


async def topic_config(settings: KafkaSettings, topic: str, name: str) -> str | None:
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    ((error_code, _message, _type, resource_name, entries),) = response.resources
    assert error_code == 0
    assert resource_name == topic
    values = {entry[0]: entry[1] for entry in entries}
    return values.get(name)


@pytest.mark.integration
async def test_ensure_topics_sets_each_topics_retention(kafka_settings: KafkaSettings) -> None:
    created = await ensure_topics(kafka_settings)
    assert sorted(created) == sorted(kafka_settings.topic(spec) for spec in ALL_TOPICS)
    for spec in ALL_TOPICS:
        assert await topic_config(kafka_settings, kafka_settings.topic(spec), "retention.ms") == str(spec.retention_ms)
    assert await ensure_topics(kafka_settings) == []
