"""kith ask: the services' answers as readable tables in the terminal (``--json`` for JSON)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from kith_cli.options import Key, RecommendUrl, Root, ScoringUrl, api_key, call, out

app = typer.Typer(
    help="Ask the services: suggestions for a member, metrics of a community, micro-communities.",
    no_args_is_help=True,
)


def _get(url: str, key: str, params: dict[str, str | int] | None = None) -> dict[str, Any]:
    return call("GET", url, key, params=params)


@app.command("suggestions")
def ask_suggestions(
    member: Annotated[str, typer.Argument(help="Member id")],
    limit: Annotated[int, typer.Option(help="How many")] = 10,
    recommend_url: RecommendUrl = "http://127.0.0.1:8003",
    key: Key = None,
    root: Root = Path(),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Show a member's suggested communities with the reasons."""
    body = _get(f"{recommend_url}/v1/members/{member}/suggestions", api_key(root, key),
                {"limit": limit, "explain": "true"})  # fmt: skip
    if as_json:
        out.print_json(json.dumps(body))
        return
    table = Table("#", "community", "score", "why", title=f"suggestions for {member}")
    items = body.get("suggestions", [])
    for rank, item in enumerate(items if isinstance(items, list) else [], start=1):
        reasons = "; ".join(str(r.get("text", r)) if isinstance(r, dict) else str(r) for r in item.get("reasons", []))
        name = item.get("name") or item.get("community_id")
        table.add_row(str(rank), f"{name} ({item.get('community_id')})", f"{item.get('score', 0):.3f}", reasons)
    out.print(table)


@app.command("metrics")
def ask_metrics(
    community: Annotated[str, typer.Argument(help="Community id")],
    window: Annotated[str, typer.Option(help="Window, e.g. 7d or 30d")] = "7d",
    scoring_url: ScoringUrl = "http://127.0.0.1:8002",
    key: Key = None,
    root: Root = Path(),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Show a community's engagement metrics."""
    body = _get(f"{scoring_url}/v1/communities/{community}/metrics", api_key(root, key), {"window": window})
    if as_json:
        out.print_json(json.dumps(body, default=str))
        return
    table = Table("metric", "value", title=f"{community} over {window}")

    def add(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for name, inner in value.items():
                add(f"{prefix}{name}.", inner)
        elif isinstance(value, list):
            shown = ", ".join(
                str(v.get("member_id") or v.get("name") or v.get("topic") or v) if isinstance(v, dict) else str(v)
                for v in value[:5]
            )
            table.add_row(prefix.rstrip("."), shown)
        else:
            table.add_row(prefix.rstrip("."), f"{value:.3f}" if isinstance(value, float) else str(value))

    add("", body)
    out.print(table)


def micro_communities_table(body: dict[str, Any], title: str = "micro-communities") -> Table:
    """Return a page of micro-communities as a table: status, size, growth, topics, central members."""
    table = Table("status", "size", "growth", "topics", "central members", "id", title=title)
    items = body.get("items", [])
    for item in items if isinstance(items, list) else []:
        growth = item.get("growth", {})
        gained, lost = int(growth.get("gained", 0)), int(growth.get("lost", 0))
        change = f"+{gained} / -{lost} in {growth.get('window', '?')}"
        topics = ", ".join(f"#{t.get('tag')}" for t in item.get("topics", [])[:3]) or "-"
        status = str(item.get("status", "?"))
        where = next((o.get("name") or o.get("id") for o in item.get("overlaps", [])), None)
        if status != "emerging" and where:
            status = f"{status} {where}"
        central = ", ".join(item.get("central_members", [])[:3])
        table.add_row(status, str(item.get("size", "?")), change, topics, central, str(item.get("id", "?")))
    return table


@app.command("micro-communities")
def ask_micro_communities(
    status: Annotated[
        Literal["emerging", "inside", "matches"] | None, typer.Option(help="Only groups of this status")
    ] = None,
    community: Annotated[str | None, typer.Option(help="Only groups overlapping this community")] = None,
    sort: Annotated[Literal["size", "cohesion", "growth"], typer.Option(help="Largest first")] = "size",
    limit: Annotated[int, typer.Option(help="How many", min=1, max=200)] = 20,
    recommend_url: RecommendUrl = "http://127.0.0.1:8003",
    key: Key = None,
    root: Root = Path(),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Show the close groups found among the tenant's members: status, size, growth, topics, central members."""
    params: dict[str, str | int] = {"limit": limit, "sort": sort}
    if status is not None:
        params["status"] = status
    if community is not None:
        params["community_id"] = community
    body = _get(f"{recommend_url}/v1/micro-communities", api_key(root, key), params)
    if as_json:
        out.print_json(json.dumps(body, default=str))
        return
    if not body.get("items"):
        out.print("no micro-communities found yet (the first detection runs once activity has come in)")
        return
    out.print(micro_communities_table(body, f"micro-communities by {sort}"))
