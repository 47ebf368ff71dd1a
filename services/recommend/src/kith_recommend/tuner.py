"""Self-tuning on a schedule: each tenant evaluated off the event loop, the results kept and shared.

The replica that writes checkpoints (the lease holder) evaluates every tenant whose state changed
since its last evaluation, every ``RECOMMEND_TUNING__INTERVAL_SECONDS``
(:mod:`kith_recommend.domain.tuning` says how); the others, and the holder too, read every tenant's
settings and results back from the database every few seconds, so all replicas rank alike and a
restart keeps what was chosen. Copying the state before the cut-off holds the consumer's lock as long
as a model compile does; ranking the candidates runs in a worker thread with no lock, so suggestions
and consumption go on meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import PyMongoError

from kith_recommend.documents import AdoptedDoc, TenantSettingsDoc, TuningDoc
from kith_recommend.domain.tuning import (
    TuningParams,
    candidates,
    decide,
    evaluate,
    prepare,
    result_document,
    too_small,
)
from kith_recommend.engine import Recommender
from kith_recommend.tenants import TenantStore

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Tuner:
    """Evaluates tenants' ranking on a schedule, adopts clear winners, and keeps every replica's settings current."""

    recommender: Recommender
    store: TenantStore
    params: TuningParams
    #: Whether this replica evaluates now (the checkpoint writer; the others only read the results back).
    writer: Callable[[], bool] = lambda: True
    _: KW_ONLY
    #: How often every tenant's settings and results are read back from the database.
    reload_seconds: float = 5.0
    results: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    adopted: dict[str, AdoptedDoc] = field(default_factory=dict, init=False)
    settings: dict[str, TenantSettingsDoc] = field(default_factory=dict, init=False)
    evaluated_version: dict[str, int] = field(default_factory=dict, init=False)
    loaded: bool = field(default=False, init=False)

    async def load(self) -> None:
        """Read every tenant's own settings and tuning results from the database into the recommender.

        A tenant whose settings changed here while the database was being read (a PUT or DELETE on
        this replica) keeps them: the read may predate the change, and the next reload reads it back.
        """
        before = self._local()
        settings = await self.store.all_settings()
        tuning: dict[str, TuningDoc] = await self.store.all_tuning()
        after = self._local()
        for tenant in set(settings) | set(tuning) | set(self.settings) | set(self.adopted):
            if before.get(tenant) != after.get(tenant):
                continue
            own = settings.get(tenant)
            doc = tuning.get(tenant, {})
            adopted = doc.get("adopted")
            self.recommender.set_tenant(
                tenant,
                own["overrides"] if own else {},
                own["pinned"] if own else False,
                adopted["settings"] if adopted else None,
            )
            if adopted:
                self.adopted[tenant] = adopted
            else:
                self.adopted.pop(tenant, None)
            if "last" in doc:
                self.results[tenant] = doc["last"]
            if "version" in doc:
                self.evaluated_version[tenant] = int(doc["version"])
        self.settings = settings
        self.loaded = True

    def _local(self) -> dict[str, tuple[Any, ...]]:
        """Return each tenant's own settings, pinning and adopted tuning as this replica holds them now."""
        r = self.recommender
        return {
            tenant: (r.overrides.get(tenant), r.pinned.get(tenant), r.tuned.get(tenant))
            for tenant in set(r.overrides) | set(r.pinned) | set(r.tuned)
        }

    def due(self, tenant: str) -> bool:
        """Tell whether a tenant should be evaluated now: the interval passed and its state changed since."""
        if self.params.interval_seconds <= 0:
            return False
        last = self.results.get(tenant)
        if last is not None:
            at = last["evaluated_at"]
            at = at if at.tzinfo else at.replace(tzinfo=UTC)
            if (datetime.now(UTC) - at).total_seconds() < self.params.interval_seconds:
                return False
        return self.recommender.state(tenant).version != self.evaluated_version.get(tenant)

    async def evaluate(self, tenant: str) -> dict[str, Any]:
        """Evaluate one tenant now; adopt the best settings if clearly better (unless pinned); return the result."""
        recommender = self.recommender
        started = time.perf_counter()
        current = recommender.params(tenant)
        pinned = recommender.pinned.get(tenant, False)
        overrides_before = dict(recommender.overrides.get(tenant, {}))
        async with recommender.lock:
            state = recommender.state(tenant)
            version = state.version
            prepared = await asyncio.to_thread(prepare, state, current, self.params)
        tried = candidates(recommender.ranking, current)
        reason = too_small(prepared, self.params)
        trials = await asyncio.to_thread(evaluate, prepared, current, tried) if reason is None else []
        decision = None
        if trials:
            decision = decide(trials, len(prepared.profiles), sum(len(h) for h in prepared.held_out), self.params)
            if pinned:
                decision.status = "pinned"
                decision.why = f"pinned by an operator, so nothing is adopted; otherwise: {decision.why}"
                decision.chosen, decision.chosen_settings = trials[0].name, trials[0].settings
        now = datetime.now(UTC)
        result = result_document(prepared, trials, decision, reason, self.params, time.perf_counter() - started, now)
        adopted = self.adopted.get(tenant)
        changed_meanwhile = recommender.overrides.get(tenant, {}) != overrides_before
        if decision is not None and decision.status == "adopted" and not changed_meanwhile:
            adopted = {"name": decision.chosen, "settings": decision.chosen_settings, "at": now}
            recommender.set_tenant(tenant, overrides_before, pinned, decision.chosen_settings)
            log.info("self-tuning adopted new ranking settings", extra={"tenant": tenant, "why": decision.why})
        result["chosen"] = (
            {"name": adopted["name"], "settings": adopted["settings"], "at": adopted["at"]} if adopted else None
        )
        await self.store.save_tuning(tenant, result, adopted, version)
        if adopted is not None:
            self.adopted[tenant] = adopted
        self.results[tenant] = result
        self.evaluated_version[tenant] = version
        return result

    async def run(self, tick: float = 1.0) -> None:
        """Reload settings every few seconds and, on the checkpoint writer, evaluate the tenants that are due."""
        last_load = 0.0
        while True:
            await asyncio.sleep(tick)
            try:
                if time.monotonic() - last_load >= self.reload_seconds or not self.loaded:
                    await self.load()
                    last_load = time.monotonic()
                if not self.writer() or not self.recommender.loaded:
                    continue
                for tenant in list(self.recommender.tenants):
                    if self.due(tenant):
                        await self.evaluate(tenant)
            except PyMongoError as exc:
                log.warning("tenant settings or tuning not read or written; retrying", extra={"error": repr(exc)})
            except Exception:  # a failed evaluation must not stop later ones; the settings in effect stay
                log.exception("self-tuning failed")
