"""The consumer's handler: positions move with the state; a record that breaks the state is isolated after a reload."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

from kith_devkit.events import join
from kith_recommend.consumer import ModelBroken, ModelHandler, Planned
from kith_recommend.domain.changes import Change, EdgeChange
from kith_recommend.domain.model import MODEL_PART
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.parts import PartKind, Snapshot
from kith_recommend.engine import Recommender
from kith_recommend.resume import marker
from kith_shared.events import DeadLetter, encode_structured, structured_headers
from kith_shared.settings import KafkaSettings

pytestmark = pytest.mark.unit


@dataclass
class Fragile:
    """A part that fails on any change about member ``boom`` (a defect, as far as the consumer knows)."""

    tenant: str
    version: int = 0

    def apply(self, change: Change) -> None:
        if isinstance(change, EdgeChange) and change.a == "boom":
            raise ArithmeticError("cannot apply this")
        self.version += 1

    def to_snapshot(self) -> Snapshot:
        return {"version": self.version}

    @classmethod
    def restore(cls, tenant: str, data: Snapshot) -> Fragile:
        return cls(tenant, int(data["version"]))


def broken(recommender: Recommender) -> str | None:
    return recommender.broken


def record(offset: int, member: str) -> Any:
    return SimpleNamespace(
        topic="t.activity.v1",
        partition=0,
        offset=offset,
        key=b"acme:c-1",
        value=encode_structured(join(member, "c-1")),
        headers=structured_headers(),
    )


async def test_a_record_that_breaks_the_state_is_dead_lettered_after_the_state_is_reloaded() -> None:
    kinds = {MODEL_PART.name: MODEL_PART, "fragile": PartKind("fragile", Fragile, Fragile.restore)}
    recommender = Recommender(RankingParams(), kinds)
    reloads = 0

    async def reload() -> None:  # the last checkpoint here: nothing applied yet
        nonlocal reloads
        reloads += 1
        recommender.reset()

    handler = ModelHandler(recommender, KafkaSettings(), reload)
    records = [record(0, "ann"), record(1, "boom"), record(2, "bea")]
    items = await handler.prepare(records)
    assert all(isinstance(item, Planned) for item in items)
    await handler.apply([item for item in items if isinstance(item, Planned)])
    assert recommender.broken is not None
    assert recommender.positions[("t.activity.v1", 0)].offset == 1  # moved past ann only
    tp = TopicPartition("t.activity.v1", 0)
    with pytest.raises(ModelBroken):  # the skeleton restarts its loop on this
        await handler.progressed({tp: 3})

    assert await handler.assigned({tp}) == {}  # reloaded: read from the beginning again
    assert reloads == 1
    assert broken(recommender) is None
    again = await handler.prepare(records)
    letter = again[1]
    assert isinstance(letter, DeadLetter)
    assert (letter.error, letter.offset, letter.stage) == ("ModelBroken", 1, "recommend")
    await handler.apply([item for item in again if isinstance(item, Planned)])
    await handler.progressed({tp: 3})
    assert set(recommender.state("acme").edges[next(iter(recommender.state("acme").edges))]) == {"ann", "bea"}
    assert recommender.positions[("t.activity.v1", 0)].offset == 3
    assert recommender.positions[("t.activity.v1", 0)].marker == marker(records[2])
    assert recommender.records == 3  # ann before the reload; ann and bea after it
