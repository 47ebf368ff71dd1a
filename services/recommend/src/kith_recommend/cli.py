"""Operator commands of the recommend service (mounted by the ``kith`` command as ``kith recommend``)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Annotated

import typer

from kith_recommend.rebuild import RebuildRefused, rebuild
from kith_recommend.settings import RecommendSettings

app = typer.Typer(help="Recommend: rebuild the state from the topics, inspect settings.", no_args_is_help=True)


@app.command("rebuild")
def rebuild_command(
    dry_run: Annotated[bool, typer.Option(help="Read the topics and compile, but write nothing.")] = False,
) -> None:
    """Rebuild the state from the activity and engagement topics as a checkpoint (stop the service first)."""
    try:
        report = asyncio.run(rebuild(RecommendSettings(), write=not dry_run))
    except RebuildRefused as exc:
        typer.echo(f"not rebuilt: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(asdict(report), indent=2))


@app.command("settings")
def show_settings() -> None:
    """Show the ranking settings in effect (from RECOMMEND_ environment variables)."""
    typer.echo(RecommendSettings().ranking.model_dump_json(indent=2))
