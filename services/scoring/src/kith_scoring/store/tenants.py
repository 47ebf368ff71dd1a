"""Tenants' scoring configuration histories (weights, half-life, levels), versioned from an instant on."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.asynchronous.client_session import AsyncClientSession

from kith_scoring.domain.config import ScoringConfig, TenantConfig
from kith_scoring.store.collections import Collections

#: Attempts of a configuration update that meets a concurrent one before giving up.
UPDATE_ATTEMPTS = 5


class ConfigConflict(RuntimeError):
    """The configuration kept changing concurrently; the update was not applied."""


class TenantConfigs:
    """Each tenant's configuration history (defaults when none is stored)."""

    def __init__(self, collections: Collections) -> None:
        self.collection = collections.settings

    async def configs(self, tenants: set[str], session: AsyncClientSession | None = None) -> dict[str, TenantConfig]:
        """Return the configuration history of each tenant."""
        found = {
            doc["_id"]: TenantConfig.model_validate({"versions": doc["versions"]})
            async for doc in self.collection.find({"_id": {"$in": sorted(tenants)}}, session=session)
        }
        return {tenant: found.get(tenant) or TenantConfig() for tenant in tenants}

    async def config(self, tenant: str) -> TenantConfig:
        """Return one tenant's configuration history."""
        return (await self.configs({tenant}))[tenant]

    async def update(self, tenant: str, config: ScoringConfig, changed_by: str | None) -> TenantConfig:
        """Record a new configuration that applies to events received from now on."""
        for _ in range(UPDATE_ATTEMPTS):
            current = await self.config(tenant)
            updated = current.with_update(config, datetime.now(UTC), changed_by)
            first = len(current.versions) == 1
            result = await self.collection.update_one(
                {"_id": tenant} if first else {"_id": tenant, "count": len(current.versions)},
                {
                    "$set": {
                        "tenant": tenant,
                        "count": len(updated.versions),
                        "versions": [v.model_dump(mode="python") for v in updated.versions],
                    }
                },
                upsert=first,
            )
            if result.matched_count or result.upserted_id is not None:
                return updated
        raise ConfigConflict("configuration changed concurrently; retry")
