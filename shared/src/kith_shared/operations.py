"""The operations route every service serves (scope ``admin``): its consumers' lag, per topic and partition.

The figures are the process's own ``kith_consumer_lag`` gauge, as its consumers set it after each
batch: records between the consumer's position and the end of each partition it reads. A process
that has not consumed a batch yet reports no partition; a replica reports only the partitions it owns.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from kith_shared.auth import Admin
from kith_shared.observability import CONSUMER_LAG


class PartitionLag(BaseModel):
    """How far a consumer is behind the end of one partition."""

    topic: str
    partition: int
    lag: int


class ConsumerLag(BaseModel):
    """A service process's consumers' lag."""

    service: str
    consumer_group: str | None = Field(description="The consumer group the service's consumers share.")
    total: int
    partitions: list[PartitionLag] = Field(description="Empty until the consumer has processed a batch.")


def consumer_lag(service: str, topic_prefix: str = "") -> list[PartitionLag]:
    """Return the lag the process's ``service`` consumers last recorded on topics named with ``topic_prefix``."""
    found: list[PartitionLag] = []
    for family in CONSUMER_LAG.collect():
        for sample in family.samples:
            labels = sample.labels
            if labels.get("service") != service or not labels.get("topic", "").startswith(topic_prefix):
                continue
            found.append(PartitionLag(topic=labels["topic"], partition=int(labels["partition"]), lag=int(sample.value)))
    return sorted(found, key=lambda item: (item.topic, item.partition))


def operations_router(service: str, consumer_group: str | None, topic_prefix: str = "") -> APIRouter:
    """Return the route reporting the service's consumer lag (scope ``admin``)."""
    router = APIRouter(prefix="/v1/operations", tags=["operations"])

    @router.get("/lag")
    async def get_lag(_: Admin) -> ConsumerLag:
        """Return this process's consumers' lag per topic and partition (from its kith_consumer_lag gauge)."""
        partitions = consumer_lag(service, topic_prefix)
        return ConsumerLag(
            service=service,
            consumer_group=consumer_group,
            total=sum(p.lag for p in partitions),
            partitions=partitions,
        )

    return router
