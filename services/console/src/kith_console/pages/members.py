"""A member's page: engagement with what moved the score, and their suggestions as they would see them."""

from __future__ import annotations

from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from kith_console.backends import Part, gather
from kith_console.deps import Services, SignedIn
from kith_console.web import redirect, render

router = APIRouter()

_ID: Final = r"^[A-Za-z0-9_:@\-]+$"


@router.get("/members")
async def find_member(
    request: Request, session: SignedIn, member: Annotated[str | None, Query(max_length=128)] = None
) -> Response:
    """Ask for a member id, or go to that member's page."""
    if member and member.strip():
        return redirect(f"/members/{quote(member.strip(), safe='')}")
    return render(request, "member_search.html", title="Members")


@router.get("/members/{member_id}")
async def member(
    request: Request,
    member_id: str,
    session: SignedIn,
    backends: Services,
    community: Annotated[str | None, Query(max_length=128, pattern=_ID)] = None,
) -> Response:
    """Show a member's engagement, the explanation of one community's score, and their suggestions."""
    who = quote(member_id, safe="")
    summary, suggestions = await gather(
        backends.get("scoring", f"/v1/members/{who}/engagement", session.key, scope="metrics:read"),
        backends.get(
            "recommend", f"/v1/members/{who}/suggestions", session.key, params={"limit": 6, "explain": "true"},
            scope="recommendations:read",
        ),
    )  # fmt: skip
    chosen = community
    if chosen is None and summary.ok and summary.data["communities"]:
        chosen = summary.data["communities"][0]["community_id"]
    explained = Part(data=None)
    if chosen is not None:
        explained = await backends.get(
            "scoring", f"/v1/members/{who}/communities/{quote(chosen, safe='')}/engagement", session.key,
            scope="metrics:read",
        )  # fmt: skip
    parts: dict[str, Any] = {}
    if explained.ok and explained.data:
        data = explained.data
        total = sum(abs(v) for v in data["explanation"]["parts"].values()) or 1.0
        parts = {
            name: (value, abs(value) / total * 100)
            for name, value in sorted(data["explanation"]["parts"].items(), key=lambda kv: -abs(kv[1]))
        }
    status = 404 if summary.status == 404 and suggestions.ok and not suggestions.data.get("known_member") else 200
    return render(
        request, "member.html", status, title=f"Member {member_id}", member_id=member_id, summary=summary,
        suggestions=suggestions, explained=explained, chosen=chosen, parts=parts,
    )  # fmt: skip
