"""Roles: staff and bots, platform-wide or in one community, are left out of community figures."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from kith_scoring.domain.documents import RoleDoc

EXCLUDED_ROLES: Final = frozenset({"staff", "bot"})
#: The scope of a role set for the whole platform rather than one community.
PLATFORM_SCOPE: Final = "*"


def role_of(latest: str | None) -> str | None:
    """Return the role recorded by a roles document's ``latest`` field."""
    return latest.rsplit("|", 1)[-1] if latest else None


def excluded_members(roles: Iterable[RoleDoc], community: str) -> set[str]:
    """Return the members marked staff or bot, platform-wide or in ``community``."""
    latest: dict[tuple[str, str], str | None] = {}
    for doc in roles:
        if doc.get("scope") in (PLATFORM_SCOPE, community):
            latest[(doc["member_id"], doc["scope"])] = role_of(doc.get("latest"))
    return {member for (member, _), role in latest.items() if role in EXCLUDED_ROLES}
