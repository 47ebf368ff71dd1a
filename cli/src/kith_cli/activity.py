"""Drive activity into ingest: the demo load, live simulation and file imports."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from kith_cli.client import IngestClient, RawTopicSender, Tally, to_wire
from kith_devkit.generator import GeneratorConfig, generate, live
from kith_shared.events import Event

BATCH = 500


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
    client: IngestClient, config: GeneratorConfig, progress: Callable[[Tally], None] | None = None
) -> Tally:
    """Send the generator's whole history through ingest; duplicates of an earlier load are harmless."""
    total = Tally()
    for chunk in _chunks(generate(config), BATCH):
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


# ---- import ----------------------------------------------------------------------------------------


@dataclass
class ImportLine:
    """One line of an import file: its number and the event object (or why it could not be read)."""

    number: int
    event: dict[str, Any] | None
    error: str | None = None


def _csv_event(row: dict[str, str]) -> dict[str, Any]:
    event: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for column, value in row.items():
        if value in ("", None):
            continue
        if column == "data":
            data.update(json.loads(value))
        elif column.startswith("data."):
            name = column[5:]
            data[name] = json.loads(value) if value[:1] in "[{" else value
        else:
            event[column] = value
    event["data"] = data
    return event


def read_lines(path: Path) -> Iterator[ImportLine]:
    """Read events from a JSON Lines file (one event a line) or a CSV file (attributes + data columns)."""
    with path.open(newline="", encoding="utf-8") as handle:
        if path.suffix.lower() == ".csv":
            for number, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    yield ImportLine(number, _csv_event(row))
                except json.JSONDecodeError as exc:
                    yield ImportLine(number, None, f"a data column is not valid JSON: {exc}")
            return
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError as exc:
                yield ImportLine(number, None, f"not valid JSON: {exc}")
                continue
            if isinstance(parsed, dict):
                yield ImportLine(number, parsed)
            else:
                yield ImportLine(number, None, "a line must hold one JSON object")


def checkpoint_path(state_dir: Path, source: Path) -> Path:
    """Return where an import of ``source`` records how far it got."""
    digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:16]
    return state_dir / "imports" / f"{source.name}.{digest}.checkpoint"


async def import_file(
    client: IngestClient,
    lines: Iterator[ImportLine],
    *,
    tenant: str,
    resume_after: int,
    reject: Callable[[int, str], None],
    checkpoint: Callable[[int], None],
    progress: Callable[[int, Tally], None],
) -> Tally:
    """Import lines through ingest, skipping those up to ``resume_after``; report each rejected line.

    Resuming never duplicates anything: lines before the checkpoint are skipped, and a line sent twice
    (an interruption between the answer and the checkpoint) is answered ``duplicate`` by ingest.
    """
    total = Tally()

    async def flush(batch: list[ImportLine]) -> None:
        sendable = [line for line in batch if line.event is not None]
        for line in batch:
            if line.event is None:
                total.rejected += 1
                reject(line.number, line.error or "unreadable")
        if sendable:
            tally = await client.send_batch([line.event for line in sendable if line.event is not None])
            for index, reason in tally.rejections:
                reject(sendable[index].number, reason)
            tally.rejections.clear()
            total.add(tally)
        checkpoint(batch[-1].number)
        progress(batch[-1].number, total)

    batch: list[ImportLine] = []
    for line in lines:
        if line.number <= resume_after:
            continue
        if line.event is not None:
            line.event.setdefault("tenant", tenant)
        batch.append(line)
        if len(batch) >= BATCH:
            await flush(batch)
            batch = []
    if batch:
        await flush(batch)
    return total


def count_lines(path: Path) -> int:
    """Count a file's lines (for the progress bar)."""
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


__all__ = ["demo_config", "import_file", "load_history", "simulate"]
