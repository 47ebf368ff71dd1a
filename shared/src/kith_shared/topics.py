"""Every Kafka topic, declared once: versioned name, key, partitions and what travels on it.

Services never spell a topic name; they ask their Kafka settings for ``settings.kafka.topic(ACTIVITY)``,
which applies the deployment's prefix (used to give each test its own topics).

Retention is a decision, not a broker default: a rebuild (``kith scoring rebuild``, ``kith recommend
rebuild``) can only replay what a topic still holds. The normalized stream keeps 30 days, the raw
stream 7 (ingest turns it into the normalized stream within seconds), dead letters 30 (time to fix
and replay them), engagement changes 7 (recommend folds them into its read model as they come, so
its rebuild sees the last week of engagement changes beside 30 days of activity), control events one
day (a key cache holds an answer for 30 seconds: a replica starting reads the day's revocations, which
is more than enough), micro-community
changes 30 (other systems act on them; a month lets one that was down catch up).
The same values are set by ``ensure_topics``, the compose topic job and the ``KafkaTopic`` resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from kith_shared.events.types import ACTIVITY_TYPES, MICROCOMMUNITY_TYPES

#: One day in milliseconds, the unit of Kafka's ``retention.ms``.
DAY_MS: Final = 24 * 60 * 60 * 1000


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
    retention_ms: int
    """How long the broker keeps a record (topic config ``retention.ms``); a rebuild replays no further back."""


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
    retention_ms=7 * DAY_MS,
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
    retention_ms=30 * DAY_MS,
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
    retention_ms=30 * DAY_MS,
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
    retention_ms=7 * DAY_MS,
)

CONTROL: Final = TopicSpec(
    name="control.v1",
    partitions=1,
    key="'<tenant>:<key id>'",
    description=(
        "Control events for every replica of every service: key.revoked. Each replica reads every "
        "partition from the start, without a consumer group, so each one sees every event."
    ),
    payload="event",
    event_types=frozenset({"key.revoked"}),
    producers=("ingest", "scoring", "recommend", "kith keys revoke"),
    consumers=("ingest", "scoring", "recommend"),
    retention_ms=1 * DAY_MS,
)


MICROCOMMUNITIES: Final = TopicSpec(
    name="microcommunities.v1",
    partitions=6,
    key="'<tenant>:<group_id>'",
    description=(
        "Micro-communities recommend finds in each tenant's interaction graph: detected, changed (size or "
        "status moved past the thresholds since last announced) and faded. Published from an outbox, at least "
        "once: a repeat carries the same (source, id)."
    ),
    payload="event",
    event_types=MICROCOMMUNITY_TYPES,
    producers=("recommend",),
    consumers=("client apps", "community tools"),
    retention_ms=30 * DAY_MS,
)

ALL_TOPICS: Final[tuple[TopicSpec, ...]] = (
    RAW,
    ACTIVITY,
    DEAD_LETTER,
    ENGAGEMENT,
    CONTROL,
    MICROCOMMUNITIES,
)
