"""Recommend's stored documents, named once: the checkpoint's manifest (with the writer's lease) and its chunks.

A checkpoint is one version of every tenant's state, saved as compressed chunks, and the positions
in the topics that state reflects. The manifest is one document: flipping it (one write) makes a
new checkpoint current, state and positions together; chunks of versions it no longer names are
deleted after the flip.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, TypedDict

# --- collections -------------------------------------------------------------------------------

CHECKPOINT: Final = "checkpoint"
"""One document, ``_id`` :data:`MANIFEST_ID`: the current checkpoint and the writer's lease."""
CHECKPOINT_CHUNKS: Final = "checkpoint_chunks"
"""Compressed slices of each tenant's state, by version."""
LEGACY_COLLECTIONS: Final = ("edges", "profiles")
"""The read model written per event before checkpoints; dropped at start (it is never read)."""

MANIFEST_ID: Final = "manifest"


def chunk_id(tenant: str, version: int, seq: int) -> str:
    """Return a chunk's id: tenant, version and position in the tenant's blob."""
    return f"{tenant}|{version}|{seq}"


# --- documents ---------------------------------------------------------------------------------


class PositionDoc(TypedDict):
    """Where the checkpoint's state stops in one partition."""

    topic: str
    partition: int
    offset: int
    """The next offset to read: every record below it is in the state, none at or above it."""
    marker: str
    """Identity of the record at ``offset - 1`` (empty at offset 0): a different record there, or no
    record at all, means the topic was recreated (a new incarnation whose offsets started again)."""


class TenantEntryDoc(TypedDict):
    """One tenant's state in a checkpoint: which chunks hold it."""

    tenant: str
    version: int
    """The checkpoint version whose chunks hold this tenant (an older one when it did not change since)."""
    chunks: int
    bytes: int
    """Compressed size: the chunks' data laid end to end."""
    digest: str
    """SHA-256 of the compressed blob, checked when it is loaded."""


class LeaseDoc(TypedDict):
    """Who writes checkpoints, until when (replicas take over an expired lease)."""

    holder: str
    expires: datetime


class ManifestDoc(TypedDict, total=False):
    """The current checkpoint and the lease (fields absent until the first checkpoint is written)."""

    _id: str
    version: int
    """The current checkpoint's version (0: none written yet)."""
    next_version: int
    """The last version handed out to a writer; versions only grow."""
    lease: LeaseDoc
    format: int
    """Layout of the blobs (:data:`kith_recommend.snapshot.FORMAT`)."""
    parts: list[str]
    """The parts every tenant blob holds, as ``name@format``."""
    positions: list[PositionDoc]
    tenants: list[TenantEntryDoc]
    records: int
    """Records applied by the writer since it loaded (for operators; not used to resume)."""
    written_at: datetime
    writer: str


class ChunkDoc(TypedDict):
    """A slice of one tenant's compressed blob."""

    _id: str
    tenant: str
    version: int
    seq: int
    data: bytes


# --- per-tenant settings and self-tuning -------------------------------------------------------

TENANT_SETTINGS: Final = "tenant_settings"
"""One document per tenant that has settings of its own, ``_id`` the tenant."""
TUNING: Final = "tuning"
"""One document per evaluated tenant, ``_id`` the tenant: the last evaluation and what it adopted."""


class TenantSettingsDoc(TypedDict):
    """A tenant's own ranking settings, set through the admin route."""

    _id: str
    overrides: dict[str, Any]
    """Ranking settings that replace the defaults for this tenant (names of ``RankingParams``)."""
    pinned: bool
    """True: self-tuning never changes this tenant's settings."""
    updated_at: datetime
    updated_by: str
    """The id of the key that set them."""


class AdoptedDoc(TypedDict):
    """Settings self-tuning adopted for a tenant, and when."""

    name: str
    settings: dict[str, float]
    at: datetime


class TuningDoc(TypedDict, total=False):
    """A tenant's last evaluation (what the quality route shows) and the settings it adopted, kept across restarts."""

    _id: str
    adopted: AdoptedDoc | None
    last: dict[str, Any]
    """The last evaluation: every configuration tried with HR@10 and NDCG@10, the decision and why."""
    version: int
    """The tenant's state version evaluated (an unchanged tenant is not evaluated again)."""
