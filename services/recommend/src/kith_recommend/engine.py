"""Every tenant's state in memory: restored from a checkpoint, updated by the consumer, compiled in the background.

The state is exactly the records applied so far: :attr:`Recommender.positions` says, per partition,
the next offset to read and the identity of the last record read, and every change to the state and
to the positions happens under :attr:`Recommender.lock`, so a snapshot taken under it is one
consistent pair of state and positions (what a checkpoint saves).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from kith_recommend.domain.changes import Change, ErasureChange, ReinstatementChange, actor, target
from kith_recommend.domain.compiled import CompiledModel, compile_model
from kith_recommend.domain.model import MODEL_PART, MemberProfile, TenantState
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.parts import PARTS, PartKind, TenantPart, part_keys
from kith_recommend.domain.ranking import Suggestion, similar, suggest
from kith_recommend.domain.tuning import merged
from kith_recommend.snapshot import FORMAT, pack, unpack
from kith_recommend.store import LoadedCheckpoint, Position, Positions
from kith_shared.erasure import PLACEHOLDER_ERASURE_SECRET, Tombstones

log = logging.getLogger(__name__)


#: Reorders a member's suggestions: (tenant, member profile, suggestions, limit, explain) -> suggestions.
Reorder = Callable[[str, MemberProfile, list[Suggestion], int, bool], list[Suggestion]]


class UnknownCommunity(KeyError):
    """The community is not in the tenant's model."""


class UnusableCheckpoint(ValueError):
    """A checkpoint written with other parts or another format than this version uses: it is not restored."""


@dataclass(frozen=True)
class TenantSnapshot:
    """One tenant's packed parts and the part versions they reflect."""

    packed: bytes
    versions: tuple[int, ...]


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the state: packed tenants (the changed ones), positions, records applied."""

    tenants: dict[str, TenantSnapshot]
    unchanged: list[str]
    positions: Positions
    records: int


class Recommender:
    """Holds every tenant's live state and compiled model; answers suggestion requests from memory.

    The consumer applies changes under :attr:`lock`; compiling (in a worker thread) and snapshots
    hold the same lock, so neither sees a half-applied chunk. Requests only read.
    """

    def __init__(
        self,
        ranking: RankingParams,
        parts: dict[str, PartKind] | None = None,
        erasure_secret: str = PLACEHOLDER_ERASURE_SECRET,
    ) -> None:
        self.ranking = ranking
        """The shipped (or environment's) defaults every tenant starts from."""
        self.overrides: dict[str, dict[str, Any]] = {}
        """Each tenant's own settings, set by an operator."""
        self.pinned: dict[str, bool] = {}
        """Tenants whose operator pinned their settings: self-tuning leaves them."""
        self.tuned: dict[str, dict[str, float]] = {}
        """What self-tuning adopted per tenant (applies unless pinned)."""
        self.recompile: set[str] = set()
        self.kinds = dict(PARTS if parts is None else parts)
        if MODEL_PART.name not in self.kinds:
            raise ValueError("the ranking model is a part of every tenant")
        self.tenants: dict[str, dict[str, TenantPart]] = {}
        self.models: dict[str, CompiledModel] = {}
        self.positions: Positions = {}
        self.records = 0
        self.tombstones = Tombstones(erasure_secret)
        """Erased members (keyed hashes, kept in the database outside checkpoints): their later records are dropped."""
        self.dropped = 0
        """Changes dropped because they name an erased member."""
        self.lock = asyncio.Lock()
        self.loaded = False
        self.broken: str | None = None
        """Why the state cannot be trusted until it is loaded again from the last checkpoint (None: it can)."""
        self.stale_reasons: dict[str, str] = {}
        self.last_refresh_seconds: float = 0.0
        self.reorder: Reorder | None = None
        """Puts some communities first for some members (the ones created for their micro-communities)."""

    @property
    def stale_reason(self) -> str | None:
        """Return why the model may be behind (a dependency unreachable), or None when it is current."""
        if not self.loaded:
            return "model not loaded yet"
        if self.stale_reasons:
            return "; ".join(f"{name}: {reason}" for name, reason in sorted(self.stale_reasons.items()))
        return None

    async def check_loaded(self) -> None:
        """Raise until the last checkpoint has been loaded (a readiness check)."""
        if not self.loaded:
            raise RuntimeError("model not loaded from the last checkpoint yet")

    # --- state ------------------------------------------------------------------------------------

    @property
    def states(self) -> dict[str, TenantState]:
        """Return every tenant's ranking state."""
        return {tenant: cast(TenantState, parts[MODEL_PART.name]) for tenant, parts in self.tenants.items()}

    def parts(self, tenant: str) -> dict[str, TenantPart]:
        """Return a tenant's parts (empty ones for a tenant never seen)."""
        found = self.tenants.get(tenant)
        if found is None:
            found = self.tenants[tenant] = {name: kind.new(tenant) for name, kind in self.kinds.items()}
        return found

    def state(self, tenant: str) -> TenantState:
        """Return a tenant's live ranking state (an empty one, not kept, for a tenant never seen)."""
        parts = self.tenants.get(tenant)
        if parts is None:
            return TenantState(tenant)
        return cast(TenantState, parts[MODEL_PART.name])

    def apply(self, changes: Iterable[Change]) -> None:
        """Apply one record's changes to every part of their tenant; call with :attr:`lock` held.

        Nothing about an erased member reaches a part: a change that records an erased member's own
        activity or profile, or someone acting towards them (a follow, a reply, a mention), is dropped.
        What names no member (a community's joins per day and topics, places, the clock) still counts,
        as the erasure itself leaves it: so a record applied before or after the erasure, in any order,
        gives the same state. An erasure adds the member's tombstone and reaches every part (each
        forgets the member); a reinstatement removes the tombstone and reaches none.
        """
        tombstones = self.tombstones
        for change in changes:
            if isinstance(change, ReinstatementChange):
                tombstones.remove(change.tenant, change.member_id)
                continue
            if isinstance(change, ErasureChange):
                tombstones.add(change.tenant, change.member_id)
            elif tombstones and any(
                m is not None and tombstones.erased(change.tenant, m) for m in (actor(change), target(change))
            ):
                self.dropped += 1
                continue
            for part in self.parts(change.tenant).values():
                part.apply(change)

    def advance(self, topic: str, partition: int, offset: int, marker: str) -> None:
        """Record that the record at ``offset`` was read (applied or dead-lettered); call with :attr:`lock` held."""
        key = (topic, partition)
        current = self.positions.get(key)
        if current is None or offset + 1 > current.offset:
            self.positions[key] = Position(offset + 1, marker)

    # --- checkpoints ------------------------------------------------------------------------------

    def versions(self, tenant: str) -> tuple[int, ...]:
        """Return the versions of a tenant's parts, in part order (they move whenever the tenant changes)."""
        return tuple(part.version for part in self.parts(tenant).values())

    def snapshot(self, saved: dict[str, tuple[int, ...]]) -> Snapshot:
        """Pack the tenants whose versions differ from ``saved`` (under :attr:`lock`: the bytes are the copy)."""
        packed: dict[str, TenantSnapshot] = {}
        unchanged: list[str] = []
        for tenant, parts in self.tenants.items():
            versions = tuple(part.version for part in parts.values())
            if saved.get(tenant) == versions:
                unchanged.append(tenant)
            else:
                packed[tenant] = TenantSnapshot(pack(parts), versions)
        return Snapshot(packed, unchanged, dict(self.positions), self.records)

    def restore(self, checkpoint: LoadedCheckpoint) -> None:
        """Replace the state with a checkpoint's (raise :class:`UnusableCheckpoint` if its parts differ)."""
        if checkpoint.format != FORMAT or sorted(checkpoint.parts) != part_keys(self.kinds):
            raise UnusableCheckpoint(
                f"checkpoint {checkpoint.version} holds {checkpoint.parts} in format {checkpoint.format}; "
                f"this version keeps {part_keys(self.kinds)} in format {FORMAT}"
            )
        tenants: dict[str, dict[str, TenantPart]] = {}
        for tenant, blob in checkpoint.blobs.items():
            data = unpack(blob, checkpoint.entries[tenant]["digest"])
            tenants[tenant] = {name: kind.restore(tenant, data[name]) for name, kind in self.kinds.items()}
        self.tenants = tenants
        self.positions = dict(checkpoint.positions)
        self.models = {}

    def reset(self) -> None:
        """Forget every tenant and position (before replaying the topics from the beginning)."""
        self.tenants = {}
        self.positions = {}
        self.models = {}

    # --- settings per tenant ----------------------------------------------------------------------

    def params(self, tenant: str) -> RankingParams:
        """Return a tenant's settings in effect: defaults, its own settings, then self-tuning's unless pinned."""
        tuned = None if self.pinned.get(tenant) else self.tuned.get(tenant)
        return merged(self.ranking, self.overrides.get(tenant, {}), tuned)

    def set_tenant(
        self, tenant: str, overrides: Mapping[str, Any], pinned: bool, tuned: Mapping[str, float] | None
    ) -> None:
        """Replace a tenant's own settings and adopted tuning; recompile it when compile-time settings moved."""
        before = self.params(tenant)
        self.overrides[tenant] = dict(overrides)
        self.pinned[tenant] = pinned
        if tuned is None:
            self.tuned.pop(tenant, None)
        else:
            self.tuned[tenant] = dict(tuned)
        after = self.params(tenant)
        compiled = ("trending_half_life_days", "neighbour_degree_exponent")
        if any(getattr(before, name) != getattr(after, name) for name in compiled):
            self.recompile.add(tenant)

    # --- serving ----------------------------------------------------------------------------------

    def _compile(self, state: TenantState) -> CompiledModel:
        params = self.params(state.tenant)
        return compile_model(state, params.trending_half_life_days, params.neighbour_degree_exponent)

    def model(self, tenant: str) -> CompiledModel:
        """Return a tenant's compiled model (compiling one now if there is none yet)."""
        found = self.models.get(tenant)
        if found is None:
            found = self.models[tenant] = self._compile(self.state(tenant))
        return found

    async def compile_all(self) -> None:
        """Compile every tenant (after a restore), so the first requests find a model."""
        async with self.lock:
            for tenant, state in self.states.items():
                self.models[tenant] = await asyncio.to_thread(self._compile, state)

    async def refresh(self, tenants: Iterable[str] | None = None) -> list[str]:
        """Recompile the tenants whose state changed since their last compile; return them."""
        started = time.perf_counter()
        done = []
        async with self.lock:
            for tenant in list(tenants if tenants is not None else self.tenants):
                if tenant not in self.tenants:
                    continue
                state = self.state(tenant)
                current = self.models.get(tenant)
                if current is not None and current.version == state.version and tenant not in self.recompile:
                    continue
                self.recompile.discard(tenant)
                self.models[tenant] = await asyncio.to_thread(self._compile, state)
                done.append(tenant)
        if done:
            self.last_refresh_seconds = time.perf_counter() - started
        return done

    async def refresh_forever(self, interval: float) -> None:
        """Recompile changed tenants every ``interval`` seconds (less often while compiles are slow).

        Waiting at least twice the last compile's duration keeps compiling under a third of the
        process's time on a large, busy tenant, so requests keep their latency.
        """
        while True:
            await asyncio.sleep(max(interval, 2.0 * self.last_refresh_seconds))
            try:
                await self.refresh()
            except Exception:  # a failed compile must not stop later ones; the last model keeps serving
                log.exception("model refresh failed")

    def profile(self, tenant: str, member_id: str) -> MemberProfile:
        """Return a member's profile as of now."""
        return self.state(tenant).profile(member_id)

    def suggest(self, tenant: str, member_id: str, limit: int, *, explain: bool) -> list[Suggestion]:
        """Rank communities for a member of a tenant (those created for their groups first, with a reorder)."""
        params = self.params(tenant)
        profile = self.profile(tenant, member_id)
        found = suggest(self.model(tenant), profile, params, limit, explain=explain)
        if self.reorder is not None:
            found = self.reorder(tenant, profile, found, limit, explain)
        return found

    def similar(self, tenant: str, community_id: str, limit: int) -> list[Suggestion]:
        """Return communities like one; raise :class:`UnknownCommunity` when the tenant has no such community."""
        model = self.model(tenant)
        if community_id not in model.index:
            if community_id in self.state(tenant).communities:
                return []  # created since the last compile (under a second ago): nothing to compare yet
            raise UnknownCommunity(community_id)
        return similar(model, community_id, limit)
