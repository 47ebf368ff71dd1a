"""A batch apart from Kafka: chunk plans keep each partition in order, a poison record is found by bisection
and dead-lettered after its tries while every other record is applied once, a dependency outage pauses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from kith_shared.batching import ChunkSizer, HandBack, Handler, Settler, plan_chunks
from kith_shared.events import DeadLetter

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class FakeRecord:
    """What a consumed record carries, without a broker."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = b"k"
    value: bytes | None = b"v"
    headers: tuple[tuple[str, bytes], ...] = ()


def records(count: int, partition: int = 0, start: int = 0) -> list[FakeRecord]:
    return [FakeRecord("t", partition, offset) for offset in range(start, start + count)]


class Down(ConnectionError):
    """A dependency is unreachable."""


@dataclass
class AtomicList(Handler[int]):
    """Applies offsets to a list, all or none; offsets in ``poison`` always fail; ``outages`` calls fail first."""

    poison: set[int] = field(default_factory=set)
    undecodable: set[int] = field(default_factory=set)
    outages: int = 0
    applied: list[int] = field(default_factory=list)
    calls: list[list[int]] = field(default_factory=list)
    stage = "scoring"
    transient = (Down,)

    async def prepare(self, records: Sequence[FakeRecord]) -> list[int | DeadLetter]:
        return [
            DeadLetter.from_record(r, reason="not an event", error="DecodeError", stage="scoring")
            if r.offset in self.undecodable
            else r.offset
            for r in records
        ]

    async def apply(self, items: Sequence[int]) -> None:
        self.calls.append(list(items))
        if self.outages:
            self.outages -= 1
            raise Down("database unreachable")
        bad = self.poison.intersection(items)
        if bad:
            raise ValueError(f"cannot apply {sorted(bad)}")
        self.applied.extend(items)


def settler(handler: AtomicList, sent: list[DeadLetter], **options: object) -> Settler[int]:
    async def send(letter: DeadLetter) -> None:
        sent.append(letter)

    return Settler(handler, send, record_pause=0.001, retry=(0.001, 0.01), **options)  # type: ignore[arg-type]


def test_a_plan_packs_whole_partitions_and_keeps_each_partition_in_order() -> None:
    batch = {0: records(3, 0), 1: records(7, 1), 2: records(2, 2)}
    plan = plan_chunks(batch, 5)
    assert [[(r.partition, r.offset) for r in chunk] for chunk in plan] == [
        [(0, 0), (0, 1), (0, 2), (2, 0), (2, 1)],
        [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4)],
        [(1, 5), (1, 6)],
    ]
    for chunk in plan_chunks({0: records(2, 0), 1: records(12, 1), 2: records(1, 2)}, 5):
        for partition in (0, 1, 2):
            offsets = [r.offset for r in chunk if r.partition == partition]
            assert offsets == sorted(offsets)
    everything = [(r.partition, r.offset) for chunk in plan_chunks(batch, 4) for r in chunk]
    assert [o for p, o in everything if p == 1] == list(range(7))
    assert len(everything) == 12


def test_a_partition_is_split_only_beyond_the_most_records_a_chunk_may_hold() -> None:
    batch = {0: records(3, 0), 1: records(9, 1), 2: records(2, 2)}
    plan = plan_chunks(batch, 5, most=8)
    assert [[(r.partition, r.offset) for r in chunk] for chunk in plan] == [
        [(0, 0), (0, 1), (0, 2), (2, 0), (2, 1)],
        [(1, o) for o in range(8)],
        [(1, 8)],
    ]
    assert [len(chunk) for chunk in plan_chunks({0: records(7, 0)}, 5, most=10)] == [7]


async def test_a_poison_record_is_isolated_and_dead_lettered_while_the_rest_is_applied_once() -> None:
    handler = AtomicList(poison={13})
    sent: list[DeadLetter] = []
    outcome = await settler(handler, sent, tries=3).settle(records(32))
    assert sorted(handler.applied) == [o for o in range(32) if o != 13]
    assert len(handler.applied) == len(set(handler.applied))  # nothing applied twice
    assert [letter.offset for letter in sent] == [13]
    assert sent[0].stage == "scoring"
    assert "processing failed 3 times" in sent[0].reason
    assert "cannot apply [13]" in sent[0].reason
    assert sent[0].error == "ValueError"
    alone = [call for call in handler.calls if call == [13]]
    assert len(alone) == 3  # tried alone three times in all
    assert (outcome.applied, outcome.dead_lettered) == (31, 1)
    # Bisection: about log2(32) failing calls before the record is alone, not one call per record.
    assert len(handler.calls) < 20


async def test_a_record_that_fails_once_is_applied_on_its_next_try() -> None:
    class Flaky(AtomicList):
        async def apply(self, items: Sequence[int]) -> None:
            if 4 in items and 4 in self.poison and len(items) == 1:
                self.poison.discard(4)
            await super().apply(items)

    handler = Flaky(poison={4})
    sent: list[DeadLetter] = []
    await settler(handler, sent, tries=3).settle(records(8))
    assert sorted(handler.applied) == list(range(8))
    assert sent == []


async def test_a_dependency_outage_pauses_and_retries_without_blaming_a_record() -> None:
    handler = AtomicList(outages=3)
    sent: list[DeadLetter] = []
    pauses: list[str | None] = []
    await settler(handler, sent, paused=pauses.append).settle(records(10))
    assert handler.applied == list(range(10))
    assert sent == []
    assert pauses[0] == "database unreachable"
    assert pauses[-1] is None
    assert all(call == list(range(10)) for call in handler.calls)  # retried whole, never bisected


async def test_a_batch_is_handed_back_when_the_consumer_must_let_go_during_an_outage() -> None:
    handler = AtomicList(outages=100)
    sent: list[DeadLetter] = []
    with pytest.raises(HandBack):
        await settler(handler, sent, hand_back=lambda: len(handler.calls) >= 2).settle(records(5))
    assert handler.applied == []


async def test_undecodable_records_are_dead_lettered_at_once_and_the_others_applied() -> None:
    handler = AtomicList(undecodable={0, 5})
    sent: list[DeadLetter] = []
    outcome = await settler(handler, sent).settle(records(6))
    assert handler.applied == [1, 2, 3, 4]
    assert [letter.error for letter in sent] == ["DecodeError", "DecodeError"]
    assert len(handler.calls) == 1
    assert outcome.dead_lettered == 2


def test_chunks_shrink_when_applying_is_slow_and_never_pass_the_most() -> None:
    sizer = ChunkSizer(most=10_000, seconds=2.0, least=100)
    assert sizer.limit == 10_000
    sizer.observe(10_000, 40.0)  # 250 records/s
    assert sizer.limit == 500
    for _ in range(10):
        sizer.observe(500, 0.05)  # 10,000 records/s
    assert sizer.limit == 10_000
    sizer.observe(100, 100.0)
    assert sizer.limit >= 100
    assert ChunkSizer(most=300).limit == 300
