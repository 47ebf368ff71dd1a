"""Identities and instants as scoring stores them: event identity hashes, stand-in ids, UTC milliseconds."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Final

_STAND_IN: Final = re.compile(r"anon-[0-9a-f]{16}")


def identity_hash(source: str, event_id: str) -> str:
    """Return a short stable hash of an event's (source, id)."""
    return hashlib.sha1(f"{source}\n{event_id}".encode(), usedforsecurity=False).hexdigest()[:20]


def moment(instant: datetime) -> datetime:
    """Return an instant in UTC truncated to milliseconds, the precision the database keeps."""
    utc = instant.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def stamp(instant: datetime) -> str:
    """Return a fixed-width sortable text form of an instant."""
    # Not strftime: it writes year 1 as "1" rather than "0001" on some platforms, which would not sort.
    return moment(instant).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def anonymous_token(salt: str, tenant: str, member: str) -> str:
    """Return the stand-in id an erased member's figures are kept under (not reversible without the salt)."""
    digest = hashlib.blake2b(f"{tenant}\n{member}".encode(), key=salt.encode()[:64], digest_size=8).hexdigest()
    return f"anon-{digest}"


def is_stand_in(member: str) -> bool:
    """Tell whether a member id is the stand-in of an erased member (see :func:`anonymous_token`)."""
    return _STAND_IN.fullmatch(member) is not None
