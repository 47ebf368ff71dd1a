"""Per-tenant state that the checkpoint carries: a small protocol, and the registry of the parts.

A tenant's state in memory is a set of named *parts*. The ranking model (:class:`TenantState`,
registered as ``"model"``) is one; any other per-tenant state (an interaction graph, say) joins the
checkpoint by implementing :class:`TenantPart` and being registered with :func:`register`:

- ``version`` changes whenever the part does (a counter bumped by ``apply`` is enough): a checkpoint
  rewrites a tenant only when one of its parts' versions moved since the last checkpoint;
- ``apply(change)`` applies one read-model change (:mod:`kith_recommend.domain.changes`); a part
  ignores the kinds of change it does not keep;
- ``to_snapshot()`` returns the part as plain data: ``dict``/``list``/``str``/``int``/``float``/
  ``bool``/``None``/``bytes``, string keys only (what msgpack packs). It is packed at once, under the
  consumer's lock, so it may return the live containers rather than copies;
- ``PartKind.restore(tenant, data)`` rebuilds the part from what ``to_snapshot`` returned, and
  ``PartKind.new(tenant)`` makes an empty one for a tenant seen for the first time.

Register at import time of the module that defines the part, and import that module before the
service builds its :class:`~kith_recommend.engine.Recommender` (which takes the registry as it is
then); the model registers itself in :mod:`kith_recommend.domain.model`.

The restored part must equal the part that was saved: a kill -9 followed by a restart from the
checkpoint, then a replay from its offsets, must give the model of a process that applied every
record once. A checkpoint that lacks a registered part (written before the part existed) is not
used: the service then replays the topics from the beginning, so every part sees every record.
A part that changes its snapshot's shape bumps its ``format``, which has the same effect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kith_recommend.domain.changes import Change

#: Plain, msgpack-able data (nested dicts with string keys, lists, scalars, bytes).
Snapshot = Any


class TenantPart(Protocol):
    """One piece of a tenant's in-memory state, saved and restored by the checkpoint."""

    @property
    def version(self) -> int:
        """Return a number that changes whenever the part changes."""
        ...

    def apply(self, change: Change) -> None:
        """Apply one read-model change (ignoring kinds the part does not keep)."""
        ...

    def to_snapshot(self) -> Snapshot:
        """Return the part as plain data, packed at once."""
        ...


@dataclass(frozen=True)
class PartKind:
    """How to make and restore one kind of part; ``format`` names the shape of its snapshot."""

    name: str
    new: Callable[[str], TenantPart]
    restore: Callable[[str, Snapshot], TenantPart]
    format: int = 1

    @property
    def key(self) -> str:
        """Return the name and format, as a checkpoint's manifest records them (``model@1``)."""
        return f"{self.name}@{self.format}"


#: Registered parts by name, in registration order (``"model"`` first).
PARTS: dict[str, PartKind] = {}


def register(kind: PartKind) -> PartKind:
    """Add a kind of part to every tenant's state and to the checkpoint; return it."""
    if kind.name in PARTS and PARTS[kind.name] != kind:
        raise ValueError(f"a different part is already registered as {kind.name!r}")
    PARTS[kind.name] = kind
    return kind


def part_keys(parts: dict[str, PartKind] | None = None) -> list[str]:
    """Return the ``name@format`` keys of the registered parts, sorted."""
    return sorted(kind.key for kind in (PARTS if parts is None else parts).values())
