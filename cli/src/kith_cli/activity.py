"""Drive generated activity into ingest: the demo history and live simulation (needs the development kit)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

from kith_cli.client import IngestClient, RawTopicSender, Tally, to_wire
from kith_devkit.generator import GeneratorConfig, generate, live
from kith_shared.events import Event

BATCH = 1_000


def demo_config(now: datetime | None = None) -> GeneratorConfig:
    """Return the demo tenant's world: a few hundred communities, a few thousand members, four weeks."""
    today = (now or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    return GeneratorConfig(
        seed=7, communities=300, members=3000, days=28, start=today - timedelta(days=28), activity=0.5
    )


def _chunks(items: Iterator[Event], size: int) -> Iterator[list[Event]]:
    while chunk := list(islice(items, size)):
        yield chunk


async def load_history(
    client: IngestClient,
    config: GeneratorConfig,
    progress: Callable[[Tally], None] | None = None,
    events: list[Event] | None = None,
) -> Tally:
    """Send the generator's whole history (or ``events`` of it) through ingest; an earlier load's are duplicates."""
    total = Tally()
    for chunk in _chunks(iter(events) if events is not None else generate(config), BATCH):
        total.add(await client.send_batch([to_wire(e) for e in chunk]))
        if progress:
            progress(total)
    return total


@dataclass
class SimulationTarget:
    """Where simulated activity goes."""

    http: IngestClient | None
    raw: RawTopicSender | None


async def simulate(
    target: SimulationTarget,
    config: GeneratorConfig,
    rate: float,
    duration: float,
    progress: Callable[[Tally, float], None],
) -> Tally:
    """Send live activity at ``rate`` events/s for ``duration`` seconds (0: until cancelled)."""
    stream = live(config, datetime.now(UTC))
    total = Tally()
    started = time.monotonic()
    tick = 1.0 if rate >= 1 else 1.0 / rate
    per_tick = max(1, round(rate * tick))
    use_http = target.http is not None
    while duration <= 0 or time.monotonic() - started < duration:
        now = datetime.now(UTC)
        events = [e.model_copy(update={"time": now}) for e in islice(stream, per_tick)]
        if use_http and target.http is not None:
            total.add(await target.http.send_batch([to_wire(e) for e in events]))
        elif target.raw is not None:
            total.sent += await target.raw.send(events)
        if target.http is not None and target.raw is not None:
            use_http = not use_http
        elapsed = time.monotonic() - started
        progress(total, total.sent / elapsed if elapsed > 0 else 0.0)
        await asyncio.sleep(max(0.0, tick - (time.monotonic() - started - elapsed)))
    return total


__all__ = ["SimulationTarget", "demo_config", "load_history", "simulate"]
