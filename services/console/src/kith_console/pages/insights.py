"""Insight pages: the tenant's overview, the community list (with CSV export) and a community's page."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from kith_console.backends import gather
from kith_console.deps import Services, SignedIn
from kith_console.domain.charts import sparkline
from kith_console.domain.views import (
    COMMUNITY_CHARTS,
    TENANT_CHARTS,
    communities_csv,
    headline,
    health_chart,
    series_charts,
)
from kith_console.web import render

router = APIRouter()

METRICS: Final = "metrics:read"
RECOMMEND: Final = "recommendations:read"
PAGE_SIZE: Final = 25
#: Most rows a CSV export gathers.
CSV_ROWS: Final = 10_000
MICRO_ABSENT: Final = "Micro-communities are not available on this deployment."

IntervalQuery = Annotated[str | None, Query(pattern=r"^(day|week|month)?$")]
CommunityId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:@\-]+$")]
_SORTS: Final = ("members", "active", "growth", "health", "new_members", "posts", "name")


async def _period(
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    interval: IntervalQuery = None,
) -> dict[str, str | None]:
    """Return the period a page shows, from its ``from``, ``to`` and ``interval`` (None: the service's default)."""
    return {"from": start or None, "to": end or None, "interval": interval or None}


#: The period of the ``from``, ``to`` and ``interval`` queries.
Period = Annotated[dict[str, str | None], Depends(_period)]


def _window(period: dict[str, str | None]) -> str:
    """Return the metrics window matching a period (its length in days, 28 by default)."""
    if period["from"] and period["to"]:
        try:
            days = (date.fromisoformat(period["to"]) - date.fromisoformat(period["from"])).days + 1
        except ValueError:
            days = 28
        return f"{min(max(days, 1), 365)}d"
    return "28d"


@router.get("/overview")
async def overview(request: Request, session: SignedIn, backends: Services, period: Period) -> Response:
    """Show the tenant's figures over a period beside the previous one, cohorts, movers and trending topics."""
    answer, cohorts = await gather(
        backends.get("scoring", "/v1/overview", session.key, params=period, scope=METRICS),
        backends.get("scoring", "/v1/cohorts", session.key, params={**period, "interval": None}, scope=METRICS),
    )
    context: dict[str, Any] = {"title": "Overview", "period": period, "answer": answer, "cohorts": cohorts}
    if answer.ok:
        data = answer.data
        context["period"] = {**period, "from": period["from"] or data["start"], "to": period["to"] or data["end"]}
        context["charts"] = series_charts("tenant", data, TENANT_CHARTS)
        context["headline"] = headline(data["totals"], data["previous_totals"])
        context["health"] = health_chart(data["health_distribution"])
    return render(request, "overview.html", **context)


def _list_params(request: Request) -> dict[str, str]:
    wanted = ("from", "to", "sort", "order", "min_size", "max_size", "min_health", "max_health", "topic", "q", "cursor")
    return {name: request.query_params[name] for name in wanted if request.query_params.get(name)}


def _sort_link(params: dict[str, str], column: str) -> str:
    current, order = params.get("sort", "members"), params.get("order", "desc")
    flipped = "asc" if current == column and order == "desc" else "desc"
    kept = {k: v for k, v in params.items() if k not in ("sort", "order", "cursor")}
    return "/communities?" + urlencode({**kept, "sort": column, "order": flipped})


@router.get("/communities")
async def communities(request: Request, session: SignedIn, backends: Services) -> Response:
    """Show the tenant's communities: sortable, filtered by size, health and topic, paged, with a trend each."""
    params = _list_params(request)
    if params.get("sort") not in (None, *_SORTS):
        params.pop("sort")
    page = await backends.get(
        "scoring", "/v1/communities", session.key, params={**params, "limit": PAGE_SIZE}, scope=METRICS
    )
    sparks = {}
    if page.ok:
        for row in page.data["items"]:
            sparks[row["community_id"]] = sparkline(row["trend"], f"Active members per day of {row['name']}")
    export = "/communities.csv?" + urlencode({k: v for k, v in params.items() if k != "cursor"})
    cursor = int(params.get("cursor", "0") or 0)
    base = {k: v for k, v in params.items() if k != "cursor"}
    previous = "/communities?" + urlencode({**base, "cursor": max(0, cursor - PAGE_SIZE)}) if cursor > 0 else None
    following = (
        "/communities?" + urlencode({**base, "cursor": page.data["next_cursor"]})
        if page.ok and page.data["next_cursor"]
        else None
    )
    links = {column: _sort_link(params, column) for column in _SORTS}
    return render(
        request, "communities.html", title="Communities", page=page, params=params, sparks=sparks, export=export,
        previous=previous, following=following, links=links, first=cursor + 1,
    )  # fmt: skip


@router.get("/communities.csv")
async def communities_export(request: Request, session: SignedIn, backends: Services) -> Response:
    """Download every community that passes the filters as CSV."""
    params = {k: v for k, v in _list_params(request).items() if k != "cursor"}
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(rows) < CSV_ROWS:
        page = await backends.get(
            "scoring", "/v1/communities", session.key, params={**params, "limit": 200, "cursor": cursor}, scope=METRICS
        )
        if not page.ok:
            return render(request, "error.html", page.status, title="Export failed", message=page.message)
        rows.extend(page.data["items"])
        cursor = page.data["next_cursor"]
        if not cursor:
            break
    return Response(
        communities_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="communities.csv"'},
    )


@router.get("/communities/{community_id}")
async def community(
    request: Request, community_id: CommunityId, session: SignedIn, backends: Services, period: Period
) -> Response:
    """Show a community: its figures over time, contributors and levels, topics, slipping away, similar, groups."""
    key = session.key
    path = f"/v1/communities/{community_id}"
    series, metrics, board, similar, groups = await gather(
        backends.get("scoring", f"{path}/series", key, params=period, scope=METRICS),
        backends.get("scoring", f"{path}/metrics", key, params={"window": _window(period)}, scope=METRICS),
        backends.get("scoring", f"{path}/leaderboard", key, params={"limit": 10}, scope=METRICS),
        backends.get("recommend", f"{path}/similar", key, params={"limit": 5}, scope=RECOMMEND),
        backends.get(
            "recommend", "/v1/micro-communities", key, params={"status": "inside", "community_id": community_id,
            "limit": 10}, scope=METRICS, absent=MICRO_ABSENT,
        ),
    )  # fmt: skip
    name = community_id
    if series.ok:
        name = series.data["name"]
    elif metrics.ok:
        name = str(metrics.data.get("profile", {}).get("name") or community_id)
    charts = series_charts("community", series.data, COMMUNITY_CHARTS) if series.ok else []
    if series.ok:
        period = {**period, "from": period["from"] or series.data["start"], "to": period["to"] or series.data["end"]}
    context: dict[str, Any] = {
        "title": name, "community_id": community_id, "period": period, "series": series, "metrics": metrics,
        "board": board, "similar": similar, "groups": groups, "charts": charts,
        "headline": headline(series.data["totals"], series.data["previous_totals"]) if series.ok else [],
        "missing": all(p.status == 404 for p in (series, metrics)),
    }  # fmt: skip
    return render(request, "community.html", 404 if context["missing"] else 200, **context)
