"""A stand-in for recommend's micro-community API, in front of the real recommend service, for the console's tests.

It answers ``/v1/micro-communities``, ``/v1/micro-communities/{id}`` (``include=edges``) and
``/v1/micro-communities/{id}/actions`` in the shape recommend's API is specified with, from groups
drawn over the demo tenant's real members and communities; every other request goes through to the
real recommend service unchanged. With ``enabled`` off, the micro-community routes answer 404 as a
deployment without that API does. Once recommend serves the API itself, the console is tested
against it directly and this stand-in only covers the pages' rendering of fixed groups.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from kith_devkit.generator import GeneratorConfig, build_world
from kith_devkit.servers import free_port

NOT_FOUND = {"error": {"code": "not_found", "message": "Not Found"}}


def fixture_groups(config: GeneratorConfig) -> dict[str, dict[str, Any]]:
    """Return two groups of the config's world: one emerging without a space, one inside a community."""
    world = build_world(config)
    members = [m.id for m in world.members]
    home = world.communities[0]
    groups: dict[str, dict[str, Any]] = {}
    for index, (group_id, status, size) in enumerate((("g-7f3a", "emerging", 14), ("g-19c2", "inside", 9))):
        chosen = members[index * 20 : index * 20 + size]
        edges = [
            {"a": chosen[i], "b": chosen[(i + step) % size], "weight": round(1.0 + ((i * step) % 5) / 2, 2)}
            for i in range(size)
            for step in (1, 3)
        ]
        overlap = {"community_id": home.id, "name": home.name, "jaccard": 0.12, "share": 0.64}
        groups[group_id] = {
            "id": group_id,
            "size": size,
            "status": status,
            "overlaps": [overlap] if status == "inside" else [],
            "topics": [{"tag": "bouldering", "weight": 0.5}, {"tag": "climbing", "weight": 0.3}],
            "cohesion": {"density": 0.41, "conductance": 0.18},
            "first_seen": "2026-11-02T10:00:00Z",
            "growth": {"gained": 4, "lost": 1, "window_days": 14},
            "central_members": chosen[:3],
            "member_ids": chosen,
            "history": [
                {"at": "2026-11-02T10:00:00Z", "size": size - 3, "status": status},
                {"at": "2026-11-20T10:00:00Z", "size": size, "status": status},
            ],
            "edges": edges,
            "community_id": home.id if status == "inside" else None,
        }
    return groups


def _actions(group: dict[str, Any]) -> list[dict[str, Any]]:
    central = group["central_members"]
    if group["status"] == "emerging":
        return [
            {"kind": "create_community", "title": "Create a community for this group",
             "reason": f"{group['size']} members talk to each other about bouldering without a space of their own",
             "members": central, "proposed_name": "Bouldering Crew"},
            {"kind": "re_engage", "title": "Re-engage a quiet member",
             "reason": f"{central[-1]} went quiet; {central[0]} replied to them most", "members": [central[-1]]},
        ]  # fmt: skip
    return [
        {"kind": "invite_to_subspace", "title": "Invite them to an event", "reason": "64% of the group is in "
         "one community already", "members": central, "community_id": group["community_id"]},
    ]  # fmt: skip


class MicroCommunityStandIn:
    """The stand-in, served by uvicorn in a thread of the test process."""

    def __init__(self, recommend_url: str, groups: dict[str, dict[str, Any]]) -> None:
        self.recommend_url = recommend_url
        self.groups = groups
        self.enabled = True
        self.port = free_port()
        self.app = self._app()
        self._server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="micro-standin", daemon=True)

    @property
    def url(self) -> str:
        """Return the stand-in's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve until :meth:`stop`."""
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the micro-community stand-in did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop serving."""
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def _app(self) -> FastAPI:
        app = FastAPI()
        proxy = httpx.AsyncClient(timeout=30.0)

        def item(group: dict[str, Any], *extra: str) -> dict[str, Any]:
            shown = {k: v for k, v in group.items() if k not in ("history", "edges", "member_ids", "community_id")}
            for name in extra:
                shown[name] = group[name]
            return shown

        @app.get("/v1/micro-communities")
        async def listing(request: Request, status: str | None = None, community_id: str | None = None) -> Response:
            if not self.enabled:
                return JSONResponse(NOT_FOUND, 404)
            found = [g for g in self.groups.values() if status in (None, "", g["status"])]
            if community_id:
                found = [g for g in found if g["community_id"] == community_id]
            return JSONResponse({"items": [item(g) for g in found], "next_cursor": None})

        @app.get("/v1/micro-communities/{group_id}")
        async def one(group_id: str, include: str = "") -> Response:
            group = self.groups.get(group_id)
            if not self.enabled:
                return JSONResponse(NOT_FOUND, 404)
            if group is None:
                return JSONResponse({"error": {"code": "not_found", "message": f"no group {group_id!r}"}}, 404)
            return JSONResponse(item(group, "history", *(["edges"] if "edges" in include else [])))

        @app.get("/v1/micro-communities/{group_id}/actions")
        async def actions(group_id: str) -> Response:
            group = self.groups.get(group_id)
            if not self.enabled or group is None:
                return JSONResponse(NOT_FOUND, 404)
            return JSONResponse(_actions(group))

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
        async def through(path: str, request: Request) -> Response:
            headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
            try:
                answer = await proxy.request(
                    request.method, f"{self.recommend_url}/{path}", params=request.query_params, headers=headers,
                    content=await request.body(),
                )  # fmt: skip
            except httpx.HTTPError:
                return JSONResponse({"error": {"code": "unavailable", "message": "recommend is unreachable"}}, 503)
            return Response(answer.content, answer.status_code, media_type=answer.headers.get("content-type"))

        return app
