"""Per-tenant ranking settings and self-tuning results in MongoDB, read back by every replica.

An operator's settings (``PUT /v1/settings/ranking``) and what self-tuning adopted are kept per
tenant, so every replica ranks a tenant alike and a restart keeps them. Writes go straight to the
database and to the replica that made them; the others read them again every few seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from kith_recommend.documents import TENANT_SETTINGS, TUNING, AdoptedDoc, TenantSettingsDoc, TuningDoc
from kith_shared.mongo import Document


class TenantStore:
    """Reads and writes tenants' own settings and their self-tuning results."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.settings: AsyncCollection[TenantSettingsDoc] = db.get_collection(TENANT_SETTINGS)  # type: ignore[assignment]
        self.tuning: AsyncCollection[TuningDoc] = db.get_collection(TUNING)  # type: ignore[assignment]

    async def all_settings(self) -> dict[str, TenantSettingsDoc]:
        """Return every tenant's own settings."""
        return {doc["_id"]: doc async for doc in self.settings.find({})}

    async def all_tuning(self) -> dict[str, TuningDoc]:
        """Return every tenant's last evaluation and adopted settings."""
        return {doc["_id"]: doc async for doc in self.tuning.find({})}

    async def put_settings(
        self, tenant: str, overrides: Mapping[str, Any], pinned: bool, key_id: str
    ) -> TenantSettingsDoc:
        """Set a tenant's own settings; what self-tuning had adopted gives way to them."""
        doc: TenantSettingsDoc = {
            "_id": tenant,
            "overrides": dict(overrides),
            "pinned": pinned,
            "updated_at": datetime.now(UTC),
            "updated_by": key_id,
        }
        await self.settings.replace_one({"_id": tenant}, doc, upsert=True)
        await self.tuning.update_one({"_id": tenant}, {"$set": {"adopted": None}})
        return doc

    async def delete_settings(self, tenant: str) -> None:
        """Forget a tenant's own settings and what self-tuning adopted: the defaults apply again."""
        await self.settings.delete_one({"_id": tenant})
        await self.tuning.update_one({"_id": tenant}, {"$set": {"adopted": None}})

    async def save_tuning(self, tenant: str, last: dict[str, Any], adopted: AdoptedDoc | None, version: int) -> None:
        """Keep a tenant's last evaluation and the settings in effect from it."""
        doc: TuningDoc = {"_id": tenant, "last": last, "adopted": adopted, "version": version}
        await self.tuning.replace_one({"_id": tenant}, doc, upsert=True)
