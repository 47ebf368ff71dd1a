"""Erased members' tombstones in recommend's own database, outside the checkpoints.

The consumer writes a tombstone (a keyed one-way hash, :mod:`kith_shared.erasure`) before it applies
the erasure, and removes it before it applies a reinstatement; the service and the rebuild read them
all before they apply any record. So a late event of an erased member (from another partition, a
replay from an older checkpoint, or a rebuild from the topics) finds the tombstone and is dropped.
They are kept in a :class:`~kith_shared.tombstone_store.TombstoneStore`.
"""

from __future__ import annotations

from collections.abc import Iterable

from kith_recommend.domain.changes import Change, ErasureChange, ReinstatementChange
from kith_shared.erasure import Tombstones


def tombstone_writes(tombstones: Tombstones, changes: Iterable[Change]) -> list[tuple[str, bool]]:
    """Return, in order, each (tombstone, erased) that ``changes`` set: True erased, False reinstated."""
    return [
        (tombstones.key(change.tenant, change.member_id), isinstance(change, ErasureChange))
        for change in changes
        if isinstance(change, ErasureChange | ReinstatementChange)
    ]
