"""Every Kafka topic, declared once: versioned name, key, partitions and what travels on it.

Services never spell a topic name; they ask their Kafka settings for ``settings.kafka.topic(ACTIVITY)``,
which applies the deployment's prefix (used to give each test its own topics).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from kith_shared.events.types import ACTIVITY_TYPES


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic's contract."""

    name: str
    partitions: int
    key: str
    description: str
    payload: Literal["event", "dead_letter"]
    event_types: frozenset[str]
    producers: tuple[str, ...]
    consumers: tuple[str, ...]


RAW: Final = TopicSpec(
    name="activity.raw.v1",
    partitions=6,
    key="'<tenant>:<community_id>' (or member id); producers may use any key",
    description=(
        "Member activity from producers, as CloudEvents in structured or binary Kafka mode, or plain "
        "JSON events. Not yet validated: ingest reads it, normalizes and republishes."
    ),
    payload="event",
    event_types=ACTIVITY_TYPES,
    producers=("third-party producers", "recommend (feedback)", "kith import/simulate"),
    consumers=("ingest",),
)

ACTIVITY: Final = TopicSpec(
    name="activity.v1",
    partitions=6,
    key="'<tenant>:<community_id>', else '<tenant>:<member_id>'",
    description="The one clean stream: validated, deduplicated, normalized activity, structured mode.",
    payload="event",
    event_types=ACTIVITY_TYPES,
    producers=("ingest",),
    consumers=("scoring", "recommend"),
)

DEAD_LETTER: Final = TopicSpec(
    name="activity.dlq.v1",
    partitions=1,
    key="the original record key",
    description="Records no consumer could process, with the reason, original bytes and headers, and origin.",
    payload="dead_letter",
    event_types=frozenset(),
    producers=("ingest", "scoring", "recommend"),
    consumers=("kith deadletters", "operators"),
)

ENGAGEMENT: Final = TopicSpec(
    name="engagement.v1",
    partitions=6,
    key="'<tenant>:<community_id>'",
    description="Engagement changes computed by scoring: score, level, slipping away and back.",
    payload="event",
    event_types=frozenset({"engagement.changed"}),
    producers=("scoring",),
    consumers=("recommend", "client apps"),
)

ALL_TOPICS: Final[tuple[TopicSpec, ...]] = (RAW, ACTIVITY, DEAD_LETTER, ENGAGEMENT)
