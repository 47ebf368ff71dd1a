"""Signing in with an API key (its tenant and scopes found through the services' APIs) and signing out."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from kith_console.backends import Backends, Failure, SignedOut, gather
from kith_console.deps import CurrentSession, Services
from kith_console.session import Session
from kith_console.web import form, redirect, render, safe_target, set_session

router = APIRouter()

REASONS: Final = {
    "refused": "Your API key was refused: it is unknown or has been revoked. Sign in with a valid key.",
    "signed_out": "You are signed out.",
}


class KeyRefused(Exception):
    """A key that cannot sign in; the message says why."""


async def identify(backends: Backends, key: str) -> Session:
    """Return a session for ``key``: its tenant and which of the console's scopes it carries.

    Each scope is tried on a route that needs it (``admin`` carries every scope); a key every
    service refuses is unknown or revoked.
    """
    try:
        metrics, recommend, admin = await gather(
            backends.get("scoring", "/v1/whoami", key),
            backends.get("recommend", "/v1/model", key),
            backends.get("ingest", "/v1/admin/keys", key),
        )
    except SignedOut:
        raise KeyRefused("This API key is unknown or has been revoked.") from None
    parts = {"metrics:read": metrics, "recommendations:read": recommend, "admin": admin}
    scopes = [scope for scope, part in parts.items() if part.ok]
    if all(part.failure is Failure.DOWN for part in parts.values()):
        raise KeyRefused("The key cannot be checked: the services are unreachable right now. Try again shortly.")
    tenant = None
    if metrics.ok:
        tenant = metrics.data["tenant"]
    elif recommend.ok:
        tenant = recommend.data["tenant"]
    elif admin.ok and admin.data:
        tenant = admin.data[0]["tenant"]
    if tenant is None:
        down = [part.message for part in parts.values() if part.failure is Failure.DOWN]
        if down:
            raise KeyRefused("The key cannot be checked now: " + " ".join(down))
        raise KeyRefused(
            "This key carries none of the scopes the console shows (metrics:read, recommendations:read or admin)."
        )
    if "admin" in scopes:
        scopes = ["admin", "metrics:read", "recommendations:read", "events:write"]
    return Session(key=key, tenant=str(tenant), scopes=scopes)


@router.get("/")
async def home(session: CurrentSession) -> Response:
    """Go to the overview, or to the sign-in page."""
    return redirect("/overview" if session.signed_in else "/signin")


@router.get("/signin")
async def signin_page(
    request: Request,
    session: CurrentSession,
    next_path: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
    reason: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Show the sign-in form."""
    return render(
        request, "signin.html", title="Sign in", next_path=safe_target(next_path), notice=REASONS.get(reason or "")
    )


@router.post("/signin")
async def signin(request: Request, session: CurrentSession, backends: Services) -> Response:
    """Check the key against the services; keep it in the encrypted session cookie."""
    fields = await form(request, session)
    key = fields.get("key", "").strip()
    target = safe_target(fields.get("next"))
    if not key:
        return render(request, "signin.html", 422, title="Sign in", next_path=target, error="Enter an API key.")
    try:
        signed = await identify(backends, key)
    except KeyRefused as exc:
        return render(request, "signin.html", 401, title="Sign in", next_path=target, error=str(exc))
    response = redirect(target)
    set_session(response, request, signed)
    return response


@router.post("/signout")
async def signout(request: Request, session: CurrentSession) -> Response:
    """Forget the key."""
    await form(request, session)
    response = redirect("/signin?reason=signed_out")
    set_session(response, request, Session())
    return response
