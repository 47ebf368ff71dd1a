"""Operator commands of the scoring service (mounted as ``kith scoring``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kith_scoring.rebuild import rebuild
from kith_scoring.settings import ScoringSettings

app = typer.Typer(help="Scoring: rebuild and check engagement metrics.", no_args_is_help=True)


@app.callback()
def scoring() -> None:
    """Rebuild and check engagement metrics."""


def _count_lines(path: Path) -> int:
    with path.open(encoding="utf-8") as lines:
        return sum(1 for line in lines if line.strip())


@app.command("rebuild")
def rebuild_command(
    source: Annotated[
        Path | None,
        typer.Option("--from-file", help="A JSON Lines file of normalized events (default: the activity topic)."),
    ] = None,
    scratch_database: Annotated[
        str, typer.Option("--scratch-database", help="Database to rebuild into (dropped first).")
    ] = "kith_scoring_rebuild",
    show: Annotated[int, typer.Option(help="Differences to print in full.")] = 10,
) -> None:
    """Recompute every metric from scratch into a scratch database and report differences from the live figures."""
    settings = ScoringSettings()
    console = Console()
    if source is not None and not source.is_file():
        raise typer.BadParameter(f"no such file: {source}", param_hint="--from-file")
    total = _count_lines(source) if source is not None else None
    with Progress(
        TextColumn("[bold]rebuilding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("rebuild", total=total)

        def advance(done: int, whole: int | None) -> None:
            bar.update(task, completed=done, total=whole)

        report = asyncio.run(
            rebuild(settings, scratch_database=scratch_database, source=source, progress=advance, total=total)
        )
    console.print(f"events read: {report.events}")
    if report.skipped:
        console.print(f"  of which {report.skipped} left out: their effects fail (the consumer dead-lettered them)")
    for collection, count in report.documents.items():
        console.print(f"  {collection}: {count} documents")
    if report.identical:
        console.print("[green]live figures equal the rebuilt ones[/green]")
        return
    console.print(f"[red]{len(report.differences)} documents differ[/red]")
    for diff in report.differences[:show]:
        console.print(f"- {diff.collection} {diff.id}")
        console.print(f"  live:    {json.dumps(diff.live, default=str)[:500]}")
        console.print(f"  rebuilt: {json.dumps(diff.rebuilt, default=str)[:500]}")
    raise typer.Exit(1)
