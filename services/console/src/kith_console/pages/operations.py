"""The operations page: readiness, consumer lag, dead letters (replay), API keys (create, revoke), scoring settings."""

from __future__ import annotations

from typing import Annotated, Any, Final
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from kith_console.backends import SERVICE_NAMES, Backends, Part, gather
from kith_console.deps import CurrentSession, Services, SignedIn
from kith_console.session import Session
from kith_console.web import FormRefused, form, redirect, render

router = APIRouter()

ADMIN: Final = "admin"
SCOPES: Final = ("metrics:read", "recommendations:read", "events:write", "admin")
KeyId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]


async def _page(request: Request, session: Session, backends: Backends, **extra: Any) -> Response:
    key = session.key
    services = list(SERVICE_NAMES)
    parts = await gather(
        *(backends.ready(service) for service in services),
        *(backends.get(service, "/v1/operations/lag", key, scope=ADMIN) for service in services),
        backends.get("ingest", "/v1/dead-letters", key, params={"limit": 50}, scope=ADMIN),
        backends.get("ingest", "/v1/admin/keys", key, scope=ADMIN),
        backends.get("scoring", "/v1/settings/scoring", key, scope=ADMIN),
    )
    ready = dict(zip(services, parts[:3], strict=True))
    lag = dict(zip(services, parts[3:6], strict=True))
    letters, keys, settings = parts[6:]
    return render(
        request, "operations.html", extra.pop("status_code", 200), title="Operations", ready=ready, lag=lag,
        letters=letters, keys=keys, settings=settings, names=SERVICE_NAMES, scopes=SCOPES, **extra,
    )  # fmt: skip


@router.get("/operations")
async def operations(request: Request, session: SignedIn, backends: Services) -> Response:
    """Show each service's readiness and lag, the dead letters, the API keys and the scoring settings."""
    return await _page(request, session, backends, request_revoked=request.query_params.get("revoked"))


def _signed_in(session: Session) -> None:
    if not session.signed_in:
        raise FormRefused("you are signed out")


@router.post("/operations/keys")
async def create_key(request: Request, session: CurrentSession, backends: Services) -> Response:
    """Create an API key of the tenant; its secret is shown once, on the page this answers with."""
    fields = await form(request, session)
    _signed_in(session)
    body = await request.body()
    scopes = [s for s in parse_qs(body.decode("utf-8", "replace")).get("scope", []) if s in SCOPES]
    name = (fields.get("name") or "").strip()[:100]
    if not scopes:
        return await _page(request, session, backends, status_code=422, key_error="Choose at least one scope.")
    created: Part = await backends.call(
        "ingest", "POST", "/v1/admin/keys", session.key, json={"scopes": scopes, "name": name}, scope=ADMIN
    )
    if not created.ok:
        return await _page(request, session, backends, status_code=created.status, key_error=created.message)
    return await _page(request, session, backends, created=created.data)


@router.post("/operations/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: KeyId, session: CurrentSession, backends: Services) -> Response:
    """Revoke one of the tenant's keys."""
    await form(request, session)
    _signed_in(session)
    done = await backends.call("ingest", "DELETE", f"/v1/admin/keys/{quote(key_id)}", session.key, scope=ADMIN)
    if not done.ok:
        return await _page(request, session, backends, status_code=done.status, key_error=done.message)
    return redirect("/operations?revoked=" + quote(key_id) + "#keys")


@router.post("/operations/dead-letters/replay")
async def replay(request: Request, session: CurrentSession, backends: Services) -> Response:
    """Replay one dead letter onto the raw topic."""
    fields = await form(request, session)
    _signed_in(session)
    try:
        place = {"partition": int(fields.get("partition", "")), "offset": int(fields.get("offset", ""))}
    except ValueError:
        return await _page(request, session, backends, status_code=422, replay_error="No dead letter was named.")
    done = await backends.call(
        "ingest", "POST", "/v1/dead-letters:replay", session.key, json={"letters": [place]}, scope=ADMIN
    )
    if not done.ok:
        return await _page(request, session, backends, status_code=done.status, replay_error=done.message)
    refused = done.data.get("refused", [])
    if refused:
        return await _page(request, session, backends, status_code=409, replay_error=refused[0]["reason"])
    return await _page(request, session, backends, replayed=place)
