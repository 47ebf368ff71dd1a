"""The three services' public HTTP APIs as the console calls them: every answer becomes a :class:`Part`.

A page is made of parts, each from one call. A part that cannot be shown (a service down, a scope the
key lacks, a feature this deployment does not have) carries a sentence saying so, and the rest of the
page renders; nothing a service answers ever becomes a stack trace.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import httpx

from kith_shared import tracing

log = logging.getLogger(__name__)

SERVICE_NAMES: Final = {"ingest": "Ingest", "scoring": "Scoring", "recommend": "Recommend"}
SCOPE_NEEDED: Final = {
    "metrics:read": "metrics:read",
    "recommendations:read": "recommendations:read",
    "admin": "admin",
    "events:write": "events:write",
}


class Failure(StrEnum):
    """Why a part is missing."""

    DOWN = "down"
    SCOPE = "scope"
    SIGNED_OUT = "signed_out"
    NOT_FOUND = "not_found"
    ABSENT = "absent"
    INVALID = "invalid"


@dataclass(frozen=True)
class Part:
    """One service's answer for one part of a page: its data, or why there is none."""

    data: Any = None
    failure: Failure | None = None
    message: str = ""
    status: int = 200

    @property
    def ok(self) -> bool:
        """Tell whether the part has data to show."""
        return self.failure is None


class SignedOut(Exception):
    """The key was refused (unknown or revoked): the visitor must sign in again."""


def _error_message(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        problems = error.get("problems") or []
        detail = "; ".join(f"{p.get('field')}: {p.get('reason')}" for p in problems if isinstance(p, dict))
        return str(error.get("message", "")) + (f" ({detail})" if detail else "")
    return str(body)[:200]


class Backends:
    """An HTTP client per service, sharing one connection pool."""

    def __init__(self, urls: dict[str, str], timeout: float) -> None:
        self.urls = urls
        self.client = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=64))

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        key: str | None,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        scope: str | None = None,
        absent: str | None = None,
    ) -> Part:
        """Call a service; return its JSON as a part, or the reason it is missing.

        ``scope`` names the scope the route needs (for the sentence shown on a 403); ``absent``, when
        given, is the sentence shown when the route itself does not exist on this deployment (a 404
        without a Kith error body). A 401 raises :class:`SignedOut`.
        """
        name = SERVICE_NAMES.get(service, service)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        url = self.urls[service] + path
        with tracing.client_span(method, url, service, headers) as span:
            try:
                answer = await self.client.request(method, url, params=clean, json=json, headers=headers)
            except (httpx.HTTPError, OSError) as exc:
                tracing.answered(span, None, repr(exc))
                log.warning("service unreachable", extra={"service": service, "path": path, "error": repr(exc)})
                return Part(failure=Failure.DOWN, message=f"{name} is unreachable right now.", status=503)
            tracing.answered(span, answer.status_code)
        if answer.status_code == 401 and key:
            raise SignedOut(_error_message(answer))
        if answer.status_code == 403:
            needed = f"the ‘{scope}’ scope" if scope else "a scope"
            return Part(failure=Failure.SCOPE, message=f"This part needs {needed}; your key does not carry it.",
                        status=403)  # fmt: skip
        if answer.status_code == 404:
            if absent is not None and not _is_kith_error(answer):
                return Part(failure=Failure.ABSENT, message=absent, status=404)
            return Part(failure=Failure.NOT_FOUND, message=_error_message(answer), status=404)
        if answer.status_code in (400, 409, 413, 415, 422):
            return Part(failure=Failure.INVALID, message=_error_message(answer), status=answer.status_code)
        if answer.status_code in (502, 503, 504):
            reason = _error_message(answer)
            return Part(failure=Failure.DOWN, message=f"{name} is unavailable right now ({reason}).",
                        status=answer.status_code)  # fmt: skip
        if answer.status_code >= 400:
            reason = _error_message(answer)
            return Part(failure=Failure.DOWN, message=f"{name} could not answer ({reason}).", status=answer.status_code)
        if answer.status_code == 204 or not answer.content:
            return Part(data={}, status=answer.status_code)
        try:
            return Part(data=answer.json(), status=answer.status_code)
        except ValueError:
            return Part(failure=Failure.DOWN, message=f"{name} answered something unreadable.", status=502)

    async def get(self, service: str, path: str, key: str | None, **kwargs: Any) -> Part:
        """GET a route of a service (see :meth:`call`)."""
        return await self.call(service, "GET", path, key, **kwargs)

    async def ready(self, service: str) -> Part:
        """Return a service's readiness (its public /readyz), whatever its status code."""
        name = SERVICE_NAMES.get(service, service)
        try:
            answer = await self.client.get(self.urls[service] + "/readyz", timeout=5.0)
            return Part(data=answer.json(), status=answer.status_code)
        except (httpx.HTTPError, OSError, ValueError):
            return Part(failure=Failure.DOWN, message=f"{name} does not answer.", status=503)


def _is_kith_error(answer: httpx.Response) -> bool:
    """Tell whether a 404 says a resource is unknown (a Kith route answered) rather than the route is missing."""
    try:
        body = answer.json()
    except ValueError:
        return False
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return False
    return bool(body["error"].get("message") != "Not Found")


async def gather(*calls: Any) -> list[Part]:
    """Run calls to services at once; return their parts in order."""
    results: list[Part] = await asyncio.gather(*calls)
    return results
