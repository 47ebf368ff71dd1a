"""Tombstones of erased members: a keyed one-way hash of tenant and member id, never the id itself.

Every service keeps the tombstones of the members erased in its own database and drops (recommend,
ingest) or re-keys (scoring) whatever arrives later about them, whatever its partition or lateness,
on replays and rebuilds too. A tombstone is an HMAC-SHA256 of ``tenant`` and ``member`` under the
service's erasure secret: it tells whether a given id was erased, and cannot be turned back into
the id without the secret (set it in production: the development placeholder is refused there).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator
from typing import Final

#: The development default of every service's erasure secret: refused in production.
PLACEHOLDER_ERASURE_SECRET: Final = "kith-erasure-development"  # noqa: S105 (a known placeholder, refused)


def tombstone(secret: str, tenant: str, member: str) -> str:
    """Return the tombstone of a member of a tenant: a hex HMAC-SHA256, not reversible without ``secret``."""
    message = f"{len(tenant)}:{tenant}:{member}".encode()  # the length says where the tenant ends
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class Tombstones:
    """The tombstones a service knows, in memory: tells whether a (tenant, member) was erased."""

    def __init__(self, secret: str, known: Iterable[str] = ()) -> None:
        self.secret = secret
        self._known: set[str] = set(known)

    def key(self, tenant: str, member: str) -> str:
        """Return the tombstone of a member."""
        return tombstone(self.secret, tenant, member)

    def erased(self, tenant: str, member: str) -> bool:
        """Tell whether a member was erased (and not reinstated since)."""
        return bool(self._known) and self.key(tenant, member) in self._known

    def any_erased(self, tenant: str | None, members: Iterable[str]) -> bool:
        """Tell whether any of ``members`` of ``tenant`` was erased (False without a tenant)."""
        return tenant is not None and any(self.erased(tenant, member) for member in members)

    def add(self, tenant: str, member: str) -> str:
        """Remember that a member was erased; return the tombstone."""
        key = self.key(tenant, member)
        self._known.add(key)
        return key

    def remove(self, tenant: str, member: str) -> str:
        """Forget a member's tombstone (the member was reinstated); return it."""
        key = self.key(tenant, member)
        self._known.discard(key)
        return key

    def replace(self, known: Iterable[str]) -> None:
        """Replace every tombstone by ``known`` (as read back from the database)."""
        self._known = set(known)

    def __len__(self) -> int:
        return len(self._known)

    def __iter__(self) -> Iterator[str]:
        return iter(self._known)
