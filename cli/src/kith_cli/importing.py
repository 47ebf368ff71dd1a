"""Backfill history through ingest from a file: JSON Lines or CSV, resumable, every rejected line reported."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kith_cli.client import IngestClient, Tally

BATCH = 500


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


__all__ = ["ImportLine", "checkpoint_path", "count_lines", "import_file", "read_lines"]
