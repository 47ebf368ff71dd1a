"""API keys against the real database: tenants, scopes, revocation and the JSON errors a client sees."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from kith_devkit.servers import ServerProcess
from kith_shared import auth
from kith_shared.auth import KEYS, KeyStore, MetricsReader, Principal, Scope
from kith_shared.platform import Platform
from kith_shared.settings import KafkaSettings, MongoSettings, ServiceSettings

pytestmark = pytest.mark.integration


@dataclass
class Harness:
    platform: Platform
    client: httpx.AsyncClient

    async def key(self, tenant: str, *scopes: Scope) -> str:
        return (await self.platform.keys.create_key(tenant, list(scopes), name=f"{tenant} test key")).key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def harness(kafka_settings: KafkaSettings, mongo_settings: MongoSettings) -> AsyncIterator[Harness]:
    """A tiny app with the platform installed and one route that needs ``metrics:read``."""
    settings = ServiceSettings(kafka=kafka_settings, mongo=mongo_settings, rate_limit_per_second=0)
    platform = Platform(settings, "auth-test")
    app = FastAPI()
    platform.install(app)

    @app.get("/v1/metrics")
    async def metrics(principal: MetricsReader) -> dict[str, str]:
        """Answer with the caller's tenant."""
        return {"tenant": principal.tenant, "key_id": principal.key_id}

    await platform.keys.ensure_indexes()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Harness(platform, client)
    await platform.stop()


async def test_created_key_resolves_to_its_tenant_and_scopes(harness: Harness) -> None:
    created = await harness.platform.keys.create_key("tenant-a", [Scope.METRICS_READ, Scope.EVENTS_WRITE])
    principal = await harness.platform.keys.resolve(created.key)
    assert principal == Principal(
        tenant="tenant-a", scopes=frozenset({"metrics:read", "events:write"}), key_id=created.key_id
    )
    assert principal.allows(Scope.METRICS_READ)
    assert not principal.allows(Scope.ADMIN)
    assert await harness.platform.keys.tenant_exists("tenant-a")
    assert await harness.platform.keys.resolve(created.key + "x") is None


async def test_keys_are_stored_hashed(harness: Harness) -> None:
    created = await harness.platform.keys.create_key("tenant-a", [Scope.METRICS_READ])
    document = await harness.platform.keys.db[KEYS].find_one({"_id": created.key_id})
    assert document is not None
    assert created.key not in {str(value) for value in document.values()}
    assert document["hash"] != created.key


async def test_route_answers_with_a_valid_key_in_either_header(harness: Harness) -> None:
    key = await harness.key("tenant-a", Scope.METRICS_READ)
    by_bearer = await harness.client.get("/v1/metrics", headers=bearer(key))
    by_header = await harness.client.get("/v1/metrics", headers={"X-API-Key": key})
    assert by_bearer.status_code == by_header.status_code == 200
    assert by_bearer.json()["tenant"] == "tenant-a"


async def test_no_key_is_401_with_a_json_error(harness: Harness) -> None:
    response = await harness.client.get("/v1/metrics")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    assert "Authorization: Bearer" in error["message"]


async def test_unknown_key_is_401(harness: Harness) -> None:
    response = await harness.client.get("/v1/metrics", headers=bearer("kith_nope_nope"))
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "the API key is unknown or revoked"


async def test_key_without_the_scope_is_403_naming_the_scope(harness: Harness) -> None:
    key = await harness.key("tenant-a", Scope.EVENTS_WRITE)
    response = await harness.client.get("/v1/metrics", headers=bearer(key))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "forbidden"
    assert "metrics:read" in error["message"]


async def test_admin_key_implies_every_scope_of_its_tenant(harness: Harness) -> None:
    key = await harness.key("tenant-a", Scope.ADMIN)
    response = await harness.client.get("/v1/metrics", headers=bearer(key))
    assert response.status_code == 200


async def test_revoked_key_is_refused(harness: Harness) -> None:
    created = await harness.platform.keys.create_key("tenant-a", [Scope.METRICS_READ])
    assert (await harness.client.get("/v1/metrics", headers=bearer(created.key))).status_code == 200
    assert await harness.platform.keys.revoke(created.key_id)
    assert await harness.platform.keys.resolve(created.key) is None
    response = await harness.client.get("/v1/metrics", headers=bearer(created.key))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_admin_routes_manage_only_the_callers_tenant(harness: Harness) -> None:
    admin_a = await harness.key("tenant-a", Scope.ADMIN)
    other_b = await harness.platform.keys.create_key("tenant-b", [Scope.METRICS_READ], name="b's key")

    created = await harness.client.post(
        "/v1/admin/keys", json={"scopes": ["metrics:read"], "name": "dashboard"}, headers=bearer(admin_a)
    )
    assert created.status_code == 201
    body = created.json()
    assert body["tenant"] == "tenant-a"
    assert (await harness.client.get("/v1/metrics", headers=bearer(body["key"]))).json()["tenant"] == "tenant-a"

    listed = await harness.client.get("/v1/admin/keys", headers=bearer(admin_a))
    assert listed.status_code == 200
    keys = listed.json()
    assert {key["tenant"] for key in keys} == {"tenant-a"}
    assert other_b.key_id not in {key["key_id"] for key in keys}
    assert all("key" not in key and "hash" not in key for key in keys)

    refused = await harness.client.delete(f"/v1/admin/keys/{other_b.key_id}", headers=bearer(admin_a))
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"
    assert await harness.platform.keys.resolve(other_b.key) is not None

    revoked = await harness.client.delete(f"/v1/admin/keys/{body['key_id']}", headers=bearer(admin_a))
    assert revoked.status_code == 204
    assert (await harness.client.get("/v1/metrics", headers=bearer(body["key"]))).status_code == 401


async def test_admin_routes_need_the_admin_scope(harness: Harness) -> None:
    reader = await harness.key("tenant-a", Scope.METRICS_READ)
    response = await harness.client.get("/v1/admin/keys", headers=bearer(reader))
    assert response.status_code == 403
    assert "admin" in response.json()["error"]["message"]
    invalid = await harness.client.post("/v1/admin/keys", json={"scopes": ["root"]}, headers=bearer(reader))
    assert invalid.status_code in (403, 422)
    admin = await harness.key("tenant-a", Scope.ADMIN)
    bad = await harness.client.post("/v1/admin/keys", json={"scopes": ["root"]}, headers=bearer(admin))
    assert bad.status_code == 422
    assert bad.json()["error"]["problems"][0]["field"].startswith("scopes")


@contextlib.asynccontextmanager
async def store_on(database: ServerProcess) -> AsyncIterator[KeyStore]:
    """Yield a key store (indexes made) on a database the test may stop; an unanswered call fails after a second."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        f"mongodb://{database.address}", serverSelectionTimeoutMS=1_000
    )
    try:
        store = KeyStore(client["auth"])
        await store.ensure_indexes()
        yield store
    finally:
        await client.close()


async def test_known_keys_keep_working_while_the_database_is_down(
    make_database: Callable[..., ServerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    database = make_database()
    async with store_on(database) as store:
        known = (await store.create_key("acme", [Scope.METRICS_READ])).key
        assert await store.resolve(known) is not None
        database.stop()
        monkeypatch.setattr(auth, "_CACHE_SECONDS", 0.0)  # every cached answer is now stale
        principal = await store.resolve(known)
        assert principal is not None
        assert principal.tenant == "acme"
        with pytest.raises(PyMongoError):
            await store.resolve("kith_never_seen_key")


async def test_a_flood_of_unknown_keys_never_evicts_known_ones_even_in_an_outage(
    make_database: Callable[..., ServerProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "_KNOWN_ENTRIES", 3)
    monkeypatch.setattr(auth, "_UNKNOWN_ENTRIES", 5)
    database = make_database()
    async with store_on(database) as store:
        known = [(await store.create_key("acme", [Scope.METRICS_READ])).key for _ in range(3)]
        for key in known:
            assert await store.resolve(key) is not None
        for n in range(40):
            assert await store.resolve(f"kith_flood_{n}_{n}") is None
        assert len(store._unknown) == 5
        assert len(store._known) == 3
        database.stop()
        monkeypatch.setattr(auth, "_CACHE_SECONDS", 0.0)  # every cached answer is now stale
        for key in known:
            principal = await store.resolve(key)
            assert principal is not None
            assert principal.tenant == "acme"


async def test_a_revoked_key_leaves_this_replicas_cache_at_once(harness: Harness) -> None:
    store = harness.platform.keys
    kept = await store.create_key("acme", [Scope.METRICS_READ])
    gone = await store.create_key("acme", [Scope.METRICS_READ])
    for created in (kept, gone):
        assert await store.resolve(created.key) is not None
    assert await store.revoke(gone.key_id)
    assert await store.resolve(gone.key) is None
    assert await store.resolve(kept.key) is not None
    assert len(store._known) == 1


async def test_recommendation_writes_need_the_write_scope_except_on_keys_issued_before_it(
    harness: Harness,
) -> None:
    store = harness.platform.keys
    reader = await store.create_key("acme", [Scope.RECOMMENDATIONS_READ])
    writer = await store.create_key("acme", [Scope.RECOMMENDATIONS_WRITE])
    read_principal = await store.resolve(reader.key)
    write_principal = await store.resolve(writer.key)
    assert read_principal is not None
    assert write_principal is not None
    assert not read_principal.allows(Scope.RECOMMENDATIONS_WRITE)
    assert write_principal.allows(Scope.RECOMMENDATIONS_WRITE)
    assert not write_principal.allows(Scope.RECOMMENDATIONS_READ)
    # A key stored before the write scope existed carries no scopes_version: its read scope still writes.
    older = await store.create_key("acme", [Scope.RECOMMENDATIONS_READ])
    await store.db[KEYS].update_one({"_id": older.key_id}, {"$unset": {"scopes_version": ""}})
    old_principal = await store.resolve(older.key)
    assert old_principal is not None
    assert old_principal.allows(Scope.RECOMMENDATIONS_WRITE)
    listed = {info.key_id: info.scopes for info in await store.list_keys("acme")}
    assert listed[older.key_id] == ["recommendations:read", "recommendations:write"]
    assert listed[reader.key_id] == ["recommendations:read"]
