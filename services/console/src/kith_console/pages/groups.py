"""Micro-community pages: the list, one group's graph and nurturing actions, and "create a community for it"."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from kith_console.backends import gather
from kith_console.deps import CurrentSession, Services, SignedIn
from kith_console.domain.charts import Node, graph
from kith_console.domain.layout import force_layout
from kith_console.pages.insights import MICRO_ABSENT
from kith_console.web import form, render

router = APIRouter()

GroupId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:@.\-]+$")]
#: Most members drawn in a group's graph.
GRAPH_MEMBERS: Final = 150
#: Where events the console publishes say they come from.
SOURCE: Final = "kith://console"


@router.get("/micro-communities")
async def groups(
    request: Request,
    session: SignedIn,
    backends: Services,
    status: Annotated[str | None, Query(pattern="^(emerging|inside|matches)?$")] = None,
    sort: Annotated[str | None, Query(pattern="^(cohesion|growth|size)?$")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Show the micro-communities found in the tenant: status, size, growth and topics."""
    params = {"status": status, "sort": sort or "size", "cursor": cursor, "limit": 25}
    page = await backends.get(
        "recommend", "/v1/micro-communities", session.key, params=params, scope="metrics:read", absent=MICRO_ABSENT
    )
    following = None
    if page.ok and page.data.get("next_cursor"):
        kept = {k: v for k, v in params.items() if v and k not in ("cursor", "limit")}
        following = "/micro-communities?" + urlencode({**kept, "cursor": page.data["next_cursor"]})
    return render(
        request, "groups.html", title="Micro-communities", page=page, status=status or "", sort=sort or "size",
        following=following,
    )  # fmt: skip


def _graph(group: dict[str, Any]) -> Any:
    edges = [(str(e["a"]), str(e["b"]), float(e.get("weight", 1.0))) for e in group.get("edges", [])]
    central = [str(m) for m in group.get("central_members", [])]
    members: list[str] = list(
        dict.fromkeys([*central, *group.get("member_ids", []), *(m for e in edges for m in e[:2])])
    )
    members = members[:GRAPH_MEMBERS]
    kept = set(members)
    edges = [e for e in edges if e[0] in kept and e[1] in kept]
    positions = force_layout(members, edges)
    nodes = [Node(m, *positions[m], central=m in central) for m in members]
    return graph("group-graph", f"Interactions inside group {group['id']}", nodes, edges)


@router.get("/micro-communities/{group_id}")
async def group(request: Request, group_id: GroupId, session: SignedIn, backends: Services) -> Response:
    """Show one group: its members' interaction graph, history, overlaps and nurturing actions."""
    which = quote(group_id, safe="")
    found, actions = await gather(
        backends.get(
            "recommend", f"/v1/micro-communities/{which}", session.key, params={"include": "edges,member_ids"},
            scope="metrics:read", absent=MICRO_ABSENT,
        ),
        backends.get(
            "recommend", f"/v1/micro-communities/{which}/actions", session.key, scope="metrics:read",
            absent=MICRO_ABSENT,
        ),
    )  # fmt: skip
    picture = _graph(found.data) if found.ok else None
    return render(
        request, "group.html", 404 if found.status == 404 else 200, title=f"Group {group_id}", group_id=group_id,
        found=found, actions=actions, picture=picture, created=None,
    )  # fmt: skip


def community_id_for(group_id: str) -> str:
    """Return the id of the community created for a group (ids allow letters, digits and ``_:@-``)."""
    return "c-" + re.sub(r"[^A-Za-z0-9_:@\-]", "-", group_id)[:120]


@router.post("/micro-communities/{group_id}/create-community")
async def create_community(
    request: Request, group_id: GroupId, session: CurrentSession, backends: Services
) -> Response:
    """Publish ``community.created`` through ingest for a group, with ``seeded_from`` naming the group."""
    fields = await form(request, session)
    if not session.signed_in:
        return render(request, "error.html", 401, title="Signed out", message="Sign in again to create a community.")
    which = quote(group_id, safe="")
    found = await backends.get("recommend", f"/v1/micro-communities/{which}", session.key, scope="metrics:read",
                               absent=MICRO_ABSENT)  # fmt: skip
    name = (fields.get("name") or "").strip()[:200] or f"Group {group_id}"
    topics = [t["tag"] for t in found.data.get("topics", [])][:10] if found.ok else []
    community_id = community_id_for(group_id)
    event = {
        "id": f"console-{uuid.uuid4()}",
        "source": SOURCE,
        "type": "community.created",
        "time": datetime.now(UTC).isoformat(),
        "tenant": session.tenant,
        "data": {"community_id": community_id, "name": name, "topics": topics, "seeded_from": group_id},
    }
    published = await backends.call("ingest", "POST", "/v1/events", session.key, json=event, scope="events:write")
    actions = await backends.get(
        "recommend", f"/v1/micro-communities/{which}/actions", session.key, scope="metrics:read", absent=MICRO_ABSENT
    )
    picture = _graph(found.data) if found.ok else None
    created = {"ok": published.ok, "community_id": community_id, "name": name, "message": published.message}
    return render(
        request, "group.html", 200 if published.ok else published.status, title=f"Group {group_id}",
        group_id=group_id, found=found, actions=actions, picture=picture, created=created,
    )  # fmt: skip
