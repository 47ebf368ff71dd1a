"""A tenant's parts as bytes: msgpack (plain data only, no code from the database), zlib, fixed-size chunks.

msgpack packs the model of a 100,000-member tenant (20 MB of plain data) about ten times faster
than the standard library's JSON, and packing happens under the consumer's lock; zlib at level 3
makes it about four times smaller in a fifth of a second.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping
from typing import Any, Final

import msgpack

from kith_recommend.domain.parts import Snapshot, TenantPart

#: The layout of a tenant blob: a msgpack map of part name to snapshot, zlib-compressed.
FORMAT: Final = 1
#: Chunk size: far below MongoDB's 16 MB document limit, and small enough that one insert stays short.
CHUNK_BYTES: Final = 4 * 1024 * 1024
_LEVEL: Final = 3


class CorruptSnapshot(ValueError):
    """A stored blob does not decode (wrong digest, truncated, or not a snapshot)."""


def pack(parts: Mapping[str, TenantPart]) -> bytes:
    """Pack a tenant's parts (call under the lock that guards them: the bytes are the snapshot)."""
    packed: bytes = msgpack.packb({name: part.to_snapshot() for name, part in parts.items()}, use_bin_type=True)
    return packed


def compress(packed: bytes) -> bytes:
    """Compress a packed tenant."""
    return zlib.compress(packed, _LEVEL)


def digest(blob: bytes) -> str:
    """Return the SHA-256 of a compressed blob, as stored in the manifest."""
    return hashlib.sha256(blob).hexdigest()


def split(blob: bytes, size: int = CHUNK_BYTES) -> list[bytes]:
    """Cut a blob into chunks of at most ``size`` bytes (one chunk, maybe empty, at least)."""
    return [blob[i : i + size] for i in range(0, max(len(blob), 1), size)]


def unpack(blob: bytes, expected_digest: str) -> dict[str, Snapshot]:
    """Check and decode a compressed blob into part name -> snapshot; raise :class:`CorruptSnapshot`."""
    if digest(blob) != expected_digest:
        raise CorruptSnapshot("the blob's digest does not match the manifest")
    try:
        data: Any = msgpack.unpackb(zlib.decompress(blob), raw=False, strict_map_key=True)
    except (zlib.error, ValueError, msgpack.UnpackException) as exc:
        raise CorruptSnapshot(f"the blob does not decode: {exc!r}") from exc
    if not isinstance(data, dict):
        raise CorruptSnapshot("the blob is not a map of parts")
    return data
