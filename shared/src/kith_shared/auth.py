"""Tenants and API keys: keys belong to one tenant, carry scopes, and are stored hashed.

A key reads ``kith_<key id>_<secret>``; only its SHA-256 is stored. Keys are random (256 bits), so
a fast hash is enough: there is nothing to brute-force as with a password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from cachetools import LRUCache
from fastapi import APIRouter, Depends, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, StringConstraints
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from kith_shared.errors import ApiError
from kith_shared.events.display import VISIBLE
from kith_shared.mongo import Document
from kith_shared.openapi import errors

KEYS = "api_keys"
TENANTS = "tenants"
#: How long a key lookup is trusted before the database is asked again. Revocations do not wait for
#: it: they are broadcast to every replica (see :mod:`kith_shared.revocations`).
_CACHE_SECONDS = 30.0
#: Known keys remembered, least recently used dropped first. Only keys the database knows enter it, so
#: no flood of made-up keys can push a known key out: during a database outage, known keys keep working.
_KNOWN_ENTRIES = 10_000
#: Unknown or revoked keys remembered apart (so a flood of them costs the database nothing), fewer.
_UNKNOWN_ENTRIES = 2_000
#: Layout of the scopes a key document carries. Keys written before version 2 predate the
#: ``recommendations:write`` scope: the ``recommendations:read`` they carry keeps its old meaning,
#: read and write, until the key is re-issued (see :func:`effective_scopes`).
SCOPES_VERSION = 2


class Scope(StrEnum):
    """What a key may do. ``admin`` implies every other scope of its tenant."""

    EVENTS_WRITE = "events:write"
    METRICS_READ = "metrics:read"
    RECOMMENDATIONS_READ = "recommendations:read"
    #: Publish interests and feedback (dismiss, shown, clicked) through recommend.
    RECOMMENDATIONS_WRITE = "recommendations:write"
    ADMIN = "admin"


def effective_scopes(doc: Document) -> frozenset[str]:
    """Return what a stored key may do: its scopes, read as the layout it was written in.

    A key written before ``recommendations:write`` existed (no ``scopes_version``) and carrying
    ``recommendations:read`` could publish interests and feedback: it still can, until re-issued.
    """
    scopes = frozenset(doc.get("scopes", ()))
    if doc.get("scopes_version", 1) < SCOPES_VERSION and Scope.RECOMMENDATIONS_READ.value in scopes:
        scopes |= {Scope.RECOMMENDATIONS_WRITE.value}
    return scopes


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a key of one tenant with its scopes."""

    tenant: str
    scopes: frozenset[str]
    key_id: str

    def allows(self, scope: Scope) -> bool:
        """Tell whether this key carries ``scope``."""
        return scope.value in self.scopes or Scope.ADMIN.value in self.scopes


class CreatedKey(BaseModel):
    """A newly created key. The secret is shown once and never stored."""

    key_id: str
    tenant: str
    scopes: list[Scope]
    name: str
    key: str = Field(description="The API key; store it now, it cannot be shown again.")


class KeyInfo(BaseModel):
    """A stored key, without its secret."""

    key_id: str
    tenant: str
    scopes: list[str]
    name: str
    created_at: datetime
    revoked_at: datetime | None = None


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class TokenBucket:
    """Requests per second per key, with a burst allowance."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """Take one token; return 0 when allowed, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        tokens, last = self._state.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._state[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._state[key] = (tokens - 1.0, now)
        return 0.0


class KeyStore:
    """Tenants and hashed keys in the auth database."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self._known: LRUCache[str, tuple[float, Principal]] = LRUCache(_KNOWN_ENTRIES)
        self._unknown: LRUCache[str, float] = LRUCache(_UNKNOWN_ENTRIES)
        self._tenants: LRUCache[str, float] = LRUCache(_KNOWN_ENTRIES)
        #: Called with (key id, tenant) after a revocation is stored: the platform broadcasts it.
        self.on_revoke: Callable[[str, str], Awaitable[object]] | None = None

    async def ensure_indexes(self) -> None:
        """Create the indexes lookups rely on."""
        await self.db[KEYS].create_index("hash", unique=True)
        await self.db[KEYS].create_index("tenant")

    async def create_tenant(self, tenant: str, name: str | None = None) -> None:
        """Register a tenant (idempotent)."""
        await self.db[TENANTS].update_one(
            {"_id": tenant},
            {"$setOnInsert": {"name": name or tenant, "created_at": datetime.now(UTC)}},
            upsert=True,
        )

    async def tenant_exists(self, tenant: str) -> bool:
        """Tell whether a tenant is registered (positive answers cached briefly)."""
        seen = self._tenants.get(tenant)
        if seen is not None and time.monotonic() - seen < _CACHE_SECONDS:
            return True
        found = await self.db[TENANTS].find_one({"_id": tenant}, {"_id": 1}) is not None
        if found:
            self._tenants[tenant] = time.monotonic()
        return found

    async def create_key(self, tenant: str, scopes: list[Scope], name: str = "") -> CreatedKey:
        """Create a key for ``tenant`` (registering the tenant if new)."""
        await self.create_tenant(tenant)
        key_id = secrets.token_hex(6)
        raw = f"kith_{key_id}_{secrets.token_urlsafe(32)}"
        await self.db[KEYS].insert_one(
            {
                "_id": key_id,
                "hash": _hash(raw),
                "tenant": tenant,
                "scopes": sorted(s.value for s in scopes),
                "scopes_version": SCOPES_VERSION,
                "name": name,
                "created_at": datetime.now(UTC),
                "revoked_at": None,
            }
        )
        return CreatedKey(key_id=key_id, tenant=tenant, scopes=scopes, name=name, key=raw)

    async def list_keys(self, tenant: str | None = None) -> list[KeyInfo]:
        """List keys, of one tenant or all."""
        query: dict[str, Any] = {} if tenant is None else {"tenant": tenant}
        return [
            KeyInfo.model_validate({**doc, "key_id": doc["_id"], "scopes": sorted(effective_scopes(doc))})
            async for doc in self.db[KEYS].find(query).sort("created_at", 1)
        ]

    async def revoke(self, key_id: str, tenant: str | None = None) -> bool:
        """Revoke a key (and tell :attr:`on_revoke`); return False when there was no such key."""
        query: dict[str, Any] = {"_id": key_id}
        if tenant is not None:
            query["tenant"] = tenant
        doc = await self.db[KEYS].find_one_and_update(
            query, {"$set": {"revoked_at": datetime.now(UTC)}}, projection={"tenant": 1}
        )
        self.forget(key_id)
        if doc is None:
            return False
        if self.on_revoke is not None:
            await self.on_revoke(key_id, doc["tenant"])
        return True

    def forget(self, key_id: str) -> None:
        """Drop a key from this replica's cache at once (it was revoked here or elsewhere)."""
        for digest in [digest for digest, (_, principal) in self._known.items() if principal.key_id == key_id]:
            self._known.pop(digest, None)

    async def resolve(self, raw: str) -> Principal | None:
        """Return the principal of a key, or None when it is unknown or revoked (cached briefly)."""
        digest = _hash(raw)
        now = time.monotonic()
        known = self._known.get(digest)
        if known is not None and now - known[0] < _CACHE_SECONDS:
            return known[1]
        unknown_since = self._unknown.get(digest)
        if known is None and unknown_since is not None and now - unknown_since < _CACHE_SECONDS:
            return None
        try:
            doc = await self.db[KEYS].find_one({"hash": digest})
        except PyMongoError:
            # While the database is down, a key seen before keeps its last known answer, so services
            # that can still serve (recommend from its in-memory model) are not locked out.
            if known is not None:
                return known[1]
            raise
        if doc is None or doc.get("revoked_at") is not None or not hmac.compare_digest(doc["hash"], digest):
            self._known.pop(digest, None)
            self._unknown[digest] = now
            return None
        principal = Principal(tenant=doc["tenant"], scopes=effective_scopes(doc), key_id=doc["_id"])
        self._unknown.pop(digest, None)
        self._known[digest] = (now, principal)
        return principal


#: The two ways to send a key, declared as OpenAPI security schemes so that /docs can send one.
BEARER = HTTPBearer(
    scheme_name="bearer", description="Authorization: Bearer <key>", bearerFormat="kith_<id>_<secret>", auto_error=False
)
API_KEY = APIKeyHeader(name="X-API-Key", scheme_name="apiKey", description="X-API-Key: <key>", auto_error=False)


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    """Return a dependency that resolves the caller's key and checks it carries ``scope``.

    Its two security schemes put the route's security requirement in the OpenAPI document, which then
    lists 401, 403, 429 and 503 for it (see :mod:`kith_shared.openapi`).
    """

    async def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
        api_key: Annotated[str | None, Depends(API_KEY)],
    ) -> Principal:
        raw = (bearer.credentials.strip() if bearer is not None else None) or api_key
        if not raw:
            raise ApiError(
                status.HTTP_401_UNAUTHORIZED,
                "unauthorized",
                "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        store: KeyStore = request.app.state.keys
        try:
            principal = await store.resolve(raw)
        except PyMongoError:
            raise ApiError(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "auth_unavailable",
                "the key store is unreachable; retry shortly",
                headers={"Retry-After": "5"},
            ) from None
        if principal is None:
            raise ApiError(
                status.HTTP_401_UNAUTHORIZED,
                "unauthorized",
                "the API key is unknown or revoked",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not principal.allows(scope):
            raise ApiError(status.HTTP_403_FORBIDDEN, "forbidden", f"this key lacks the '{scope.value}' scope")
        limiter: TokenBucket | None = getattr(request.app.state, "rate_limiter", None)
        if limiter is not None:
            wait = limiter.take(principal.key_id)
            if wait > 0:
                raise ApiError(
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many requests for this key; slow down",
                    headers={"Retry-After": str(max(1, round(wait)))},
                )
        return principal

    return dependency


EventsWriter = Annotated[Principal, Depends(require(Scope.EVENTS_WRITE))]
MetricsReader = Annotated[Principal, Depends(require(Scope.METRICS_READ))]
RecommendationsReader = Annotated[Principal, Depends(require(Scope.RECOMMENDATIONS_READ))]
RecommendationsWriter = Annotated[Principal, Depends(require(Scope.RECOMMENDATIONS_WRITE))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]


class NewKey(BaseModel):
    """What to create: a key of the caller's tenant."""

    scopes: list[Scope] = Field(min_length=1)
    name: Annotated[str, StringConstraints(max_length=100), VISIBLE] = Field(
        default="", description="A label for people; invisible characters removed."
    )


def admin_router() -> APIRouter:
    """Return the routes that manage the caller's tenant's keys (scope ``admin``)."""
    router = APIRouter(prefix="/v1/admin/keys", tags=["admin"])

    @router.post("", status_code=201)
    async def create_key(body: NewKey, principal: Admin, request: Request) -> CreatedKey:
        """Create an API key for the caller's tenant."""
        store: KeyStore = request.app.state.keys
        return await store.create_key(principal.tenant, body.scopes, body.name)

    @router.get("")
    async def list_keys(principal: Admin, request: Request) -> list[KeyInfo]:
        """List the caller's tenant's keys."""
        store: KeyStore = request.app.state.keys
        return await store.list_keys(principal.tenant)

    @router.delete("/{key_id}", status_code=204, responses=errors(404, descriptions={404: "No such key in the tenant"}))
    async def revoke_key(key_id: str, principal: Admin, request: Request) -> None:
        """Revoke one of the caller's tenant's keys."""
        store: KeyStore = request.app.state.keys
        if not await store.revoke(key_id, principal.tenant):
            raise ApiError(404, "not_found", f"no key {key_id!r} in tenant {principal.tenant!r}")

    return router


__all__ = [
    "Admin",
    "EventsWriter",
    "KeyStore",
    "MetricsReader",
    "Principal",
    "RecommendationsReader",
    "RecommendationsWriter",
    "Scope",
    "effective_scopes",
]
