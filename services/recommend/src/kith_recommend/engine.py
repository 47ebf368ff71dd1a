"""Per-tenant models in memory: loaded from the read model, updated by the consumer, compiled in the background."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from kith_recommend.domain.changes import Change
from kith_recommend.domain.model import CompiledModel, MemberProfile, TenantState, compile_model
from kith_recommend.domain.params import RankingParams
from kith_recommend.domain.ranking import Suggestion, similar, suggest
from kith_recommend.store import Store

log = logging.getLogger(__name__)

#: Told every batch of changes applied (under the lock): per-tenant state beside the ranking model.
Follower = Callable[[Sequence[Change]], None]
#: Reorders a member's suggestions (tenant, member profile, suggestions, limit, explain).
Reorder = Callable[[str, MemberProfile, list[Suggestion], int, bool], list[Suggestion]]


class UnknownCommunity(KeyError):
    """The community is not in the tenant's model."""


class Recommender:
    """Holds every tenant's live state and compiled model; answers suggestion requests from memory.

    The consumer applies changes under :attr:`lock`; compiling (in a worker thread) holds the same
    lock, so a compile never sees a half-applied batch. Requests only read.
    """

    def __init__(self, store: Store, ranking: RankingParams) -> None:
        self.store = store
        self.ranking = ranking
        self.states: dict[str, TenantState] = {}
        self.models: dict[str, CompiledModel] = {}
        self.applied: dict[str, int] = {}
        self.lock = asyncio.Lock()
        self.loaded = False
        self.stale_reasons: dict[str, str] = {}
        self.last_refresh_seconds: float = 0.0
        self.followers: list[Follower] = []
        self.reorder: Reorder | None = None

    @property
    def stale_reason(self) -> str | None:
        """Return why the model may be behind (a dependency unreachable), or None when it is current."""
        if not self.loaded:
            return "read model not loaded yet"
        if self.stale_reasons:
            return "; ".join(f"{name}: {reason}" for name, reason in sorted(self.stale_reasons.items()))
        return None

    async def check_loaded(self) -> None:
        """Raise until the read model has been loaded (a readiness check)."""
        if not self.loaded:
            raise RuntimeError("read model not loaded yet")

    async def load(self) -> None:
        """Load every tenant's read model from the database and compile it."""
        states = {tenant: await self.store.load(tenant) for tenant in await self.store.tenants()}
        async with self.lock:
            self.states = states
            for tenant, state in states.items():
                self.models[tenant] = await asyncio.to_thread(self._compile, state)
            self.loaded = True
        log.info("read model loaded", extra={"tenants": len(states)})

    def _compile(self, state: TenantState) -> CompiledModel:
        return compile_model(state, self.ranking.trending_half_life_days, self.ranking.neighbour_degree_exponent)

    def state(self, tenant: str) -> TenantState:
        """Return a tenant's live state (empty for a tenant never seen)."""
        found = self.states.get(tenant)
        if found is None:
            found = self.states[tenant] = TenantState(tenant)
        return found

    def apply(self, changes: Iterable[Change]) -> None:
        """Apply durable changes to the live state, then tell the followers; call with :attr:`lock` held."""
        batch = list(changes)
        for change in batch:
            self.state(change.tenant).apply(change)
            self.applied[change.tenant] = self.applied.get(change.tenant, 0) + 1
        for follower in self.followers:
            follower(batch)

    def model(self, tenant: str) -> CompiledModel:
        """Return a tenant's compiled model (compiling one now if there is none yet)."""
        found = self.models.get(tenant)
        if found is None:
            found = self.models[tenant] = self._compile(self.state(tenant))
        return found

    async def refresh(self, tenants: Iterable[str] | None = None) -> list[str]:
        """Recompile the tenants whose state changed since their last compile; return them."""
        started = time.perf_counter()
        done = []
        async with self.lock:
            for tenant in list(tenants if tenants is not None else self.states):
                state = self.states.get(tenant)
                current = self.models.get(tenant)
                if state is None or (current is not None and current.version == state.version):
                    continue
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
        """Rank communities for a member of a tenant (communities created for their groups first)."""
        profile = self.profile(tenant, member_id)
        found = suggest(self.model(tenant), profile, self.ranking, limit, explain=explain)
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
