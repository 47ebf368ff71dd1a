"""The detection scheduler: per-tenant state fed by the consumer, detections off the event loop, results kept.

- The consumer hands every batch's changes to :meth:`Discovery.apply` (under the model's lock): graph
  changes go to the tenant's :class:`~kith_recommend.discovery.state.TenantGraph`, whose ties are
  bounded by ``max_ties``.
- :meth:`Discovery.run` detects, one tenant at a time, each tenant whose graph changed at most every
  ``interval_seconds``, and at once a tenant asked for (``POST /v1/micro-communities:detect``). The
  job is prepared under the lock in a thread, then runs in the worker (a process by default), so
  neither the loop nor suggestions wait for it.
- A detection's groups, records and announcements are committed together; the announcements are then
  published by :meth:`Discovery.relay` from the outbox (a broker error only delays them).
- A failing tenant is logged, counted (``kith_microcommunity_detections_total{outcome="failed"}``) and
  retried after jittered, doubling pauses; the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Gauge, Histogram
from pymongo.errors import PyMongoError

from kith_recommend import SERVICE
from kith_recommend.discovery.announce import contract_events
from kith_recommend.discovery.job import prepare
from kith_recommend.discovery.state import TenantGraph, without
from kith_recommend.discovery.store import DiscoveryStore
from kith_recommend.discovery.worker import DetectionWorker
from kith_recommend.domain.changes import GRAPH_CHANGES, Change, Edge, ErasureChange
from kith_recommend.domain.microcommunities import SeededCommunity, advance
from kith_recommend.domain.microcommunities.seeding import SeedOffer, put_first
from kith_recommend.domain.model import MemberProfile, TenantState
from kith_recommend.domain.ranking import Suggestion
from kith_recommend.engine import Recommender
from kith_recommend.settings import RecommendSettings
from kith_shared.backoff import Backoff
from kith_shared.kafka import BrokerUnavailable, EventProducer
from kith_shared.observability import EVENTS_OUT
from kith_shared.topics import MICROCOMMUNITIES

log = logging.getLogger(__name__)

DETECTIONS = Counter(
    "kith_microcommunity_detections_total",
    "Micro-community detections of one tenant, by outcome",
    ["service", "outcome"],
)
DETECTION_SECONDS = Histogram(
    "kith_microcommunity_detection_seconds",
    "Wall time of one tenant's detection: prepare, run in the worker, store",
    ["service"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
FAILING_TENANTS = Gauge("kith_microcommunity_failing_tenants", "Tenants whose last detection failed", ["service"])
OUTBOX_PENDING = Gauge(
    "kith_microcommunity_outbox_pending", "Micro-community announcements stored and not yet published", ["service"]
)
GROUPS_FOUND = Gauge("kith_microcommunity_groups", "Micro-communities of every tenant, as last detected", ["service"])
LAST_DETECTION = Gauge(
    "kith_microcommunity_last_detection_seconds",
    "The last detection's seconds by part: prepare (snapshot, under the model lock), worker_cpu, store, total",
    ["service", "part"],
)
WORKER_PEAK_RSS = Gauge(
    "kith_microcommunity_worker_peak_rss_bytes",
    "Peak resident memory of the detection worker process (of the service, with executor=thread)",
    ["service"],
)


@dataclass
class Schedule:
    """When a tenant was detected, and how it is failing if it is."""

    retry: Backoff
    detected_version: int = -1  # the state version the last successful detection saw
    last_run: float = -math.inf  # monotonic time it finished
    requested: bool = False
    failures: int = 0
    retry_at: float = 0.0
    last_error: str | None = None
    last_seconds: float = 0.0
    last_cpu_seconds: float = 0.0
    last_peak_rss_mb: float = 0.0
    erased: list[str] = field(default_factory=list)  # members erased since the running job's snapshot


@dataclass(frozen=True)
class Scheduled:
    """When an asked-for detection will run."""

    tenant: str
    runs_at: datetime
    queued_behind: int


class Discovery:
    """Every tenant's micro-community state, the scheduler of their detections, and the outbox relay."""

    def __init__(
        self, settings: RecommendSettings, recommender: Recommender, store: DiscoveryStore, producer: EventProducer
    ) -> None:
        self.settings = settings
        self.params = settings.detection
        self.config = settings.discovery
        self.recommender = recommender
        self.store = store
        self.producer = producer
        self.worker = DetectionWorker(self.config.executor, self.config.worker_memory_mb)
        self.states: dict[str, TenantGraph] = {}
        self.schedules: dict[str, Schedule] = {}
        self.loaded = False
        self.replayed = asyncio.Event()
        self.wake = asyncio.Event()
        self.outbox_wake = asyncio.Event()
        self.running: str | None = None
        self.running_since = 0.0
        self._queue: list[str] = []
        self._pending_erasures: list[tuple[str, str]] = []
        self._seed_index: dict[str, tuple[int, dict[str, list[str]]]] = {}

    # -- state ------------------------------------------------------------------------------------

    def state(self, tenant: str) -> TenantGraph:
        """Return a tenant's micro-community state (empty for a tenant never seen)."""
        found = self.states.get(tenant)
        if found is None:
            found = self.states[tenant] = TenantGraph.empty(tenant, self.params)
        return found

    def schedule(self, tenant: str) -> Schedule:
        """Return a tenant's schedule."""
        found = self.schedules.get(tenant)
        if found is None:
            retry = Backoff(self.config.retry_first_seconds, max(self.config.retry_most_seconds, 1e-3))
            found = self.schedules[tenant] = Schedule(retry)
        return found

    def apply(self, changes: Sequence[Change]) -> None:
        """Apply a batch's graph changes and erasures (call with the model's lock held)."""
        if not self.config.enabled:
            return
        touched: set[str] = set()
        for change in changes:
            if isinstance(change, GRAPH_CHANGES):
                self.state(change.tenant).apply(change)
                touched.add(change.tenant)
            elif isinstance(change, ErasureChange):
                self.state(change.tenant).apply(change)
                self.schedule(change.tenant).erased.append(change.member_id)
                self._pending_erasures.append((change.tenant, change.member_id))
                self._ask(change.tenant)  # rewrite its stored groups without them soon
                touched.add(change.tenant)
        for tenant in touched:
            graph = self.states[tenant].graph
            if graph.tie_count > self.config.max_ties:
                dropped = graph.trim(self.config.max_ties)
                log.info("weakest ties dropped to stay within the bound", extra={"tenant": tenant, "ties": dropped})
        if touched:
            self.wake.set()

    # -- loading ----------------------------------------------------------------------------------

    async def load(self) -> None:
        """Load every tenant's stored results, so that they are served at once (retries while the database is down)."""
        async for _ in Backoff(0.5, 5.0):
            try:
                await self.store.ensure_indexes()
                for tenant in await self.store.tenants():
                    stored = await self.store.load(tenant)
                    state = self.state(tenant)
                    state.detection, state.records = stored.detection, stored.records
                    state.seeds.update(stored.seeds)
                    if stored.detection is not None:
                        # A restart does not detect again at once what was detected a moment ago.
                        self.schedule(tenant).last_run = time.monotonic()
                break
            except PyMongoError as exc:
                log.warning("micro-communities not loaded yet; database unreachable", extra={"error": repr(exc)})
        self.loaded = True
        self._count_groups()
        log.info("micro-communities loaded", extra={"tenants": len(self.states)})

    async def reload_forever(self) -> None:
        """Reload stored results every interval: a replica that does not detect serves what the detecting one stored."""
        while True:
            await asyncio.sleep(self.config.interval_seconds)
            try:
                for tenant in await self.store.tenants():
                    stored = await self.store.load(tenant)
                    state = self.state(tenant)
                    state.detection, state.records, state.seeds = stored.detection, stored.records, stored.seeds
                self._count_groups()
            except PyMongoError as exc:
                log.warning("micro-communities not reloaded; database unreachable", extra={"error": repr(exc)})

    # -- scheduling -------------------------------------------------------------------------------

    def _ask(self, tenant: str) -> None:
        schedule = self.schedule(tenant)
        if not schedule.requested:
            schedule.requested = True
            self._queue.append(tenant)
        self.wake.set()

    def request(self, tenant: str) -> Scheduled:
        """Ask for a tenant's detection as soon as the worker is free; say when that should be."""
        self.state(tenant)
        self._ask(tenant)
        now = time.monotonic()
        position = self._queue.index(tenant)
        wait = sum(self.schedule(t).last_seconds for t in self._queue[:position])
        if self.running is not None:
            wait += max(0.0, self.schedule(self.running).last_seconds - (now - self.running_since))
        if not self.replayed.is_set():
            wait += 1.0
        runs_at = datetime.now(UTC) + timedelta(seconds=wait)
        return Scheduled(tenant, runs_at.replace(microsecond=0), position + (1 if self.running else 0))

    def _due(self, now: float) -> str | None:
        while self._queue:
            tenant = self._queue[0]
            if self.schedule(tenant).requested:
                return tenant
            self._queue.pop(0)
        best: tuple[float, str] | None = None
        for tenant, state in self.states.items():
            schedule = self.schedule(tenant)
            if schedule.failures:
                due = now >= schedule.retry_at
            else:
                due = (
                    state.version != schedule.detected_version
                    and now >= schedule.last_run + self.config.interval_seconds
                )
            if due and (best is None or schedule.last_run < best[0]):
                best = (schedule.last_run, tenant)
        return best[1] if best else None

    def _next_wake(self, now: float) -> float:
        soonest = self.config.interval_seconds
        for tenant, state in self.states.items():
            schedule = self.schedule(tenant)
            if schedule.failures:
                soonest = min(soonest, schedule.retry_at - now)
            elif state.version != schedule.detected_version:
                soonest = min(soonest, schedule.last_run + self.config.interval_seconds - now)
        return max(0.05, soonest)

    async def run(self) -> None:
        """Detect due tenants one at a time, for ever (after the graph was rebuilt from the topic)."""
        await self.replayed.wait()
        while True:
            await self._store_side_effects()
            tenant = self._due(time.monotonic())
            if tenant is None:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._next_wake(time.monotonic())):
                        await self.wake.wait()
                continue
            await self.detect(tenant)

    async def _store_side_effects(self) -> None:
        """Store seeds seen and erasures applied since last time (kept for a later try if the database is down)."""
        try:
            for tenant, state in self.states.items():
                if state.pending_seeds:
                    await self.store.save_seeds(tenant, state.pending_seeds)
                    state.pending_seeds.clear()
            while self._pending_erasures:
                tenant, member = self._pending_erasures[0]
                await self.store.erase(tenant, member)
                self._pending_erasures.pop(0)
        except PyMongoError as exc:
            log.warning("seeds or erasures not stored yet; database unreachable", extra={"error": repr(exc)})

    def clock(self, tenant: str) -> datetime | None:
        """Return the instant a tenant is detected at: its latest event's time, never past now (None: no events)."""
        latest = self.recommender.state(tenant).now
        if latest <= 0:
            return None
        return datetime.fromtimestamp(min(latest, time.time()), UTC)

    async def detect(self, tenant: str) -> bool:
        """Detect one tenant end to end; return whether it worked (a failure is logged, counted and retried later)."""
        schedule = self.schedule(tenant)
        state = self.state(tenant)
        schedule.requested = False
        with contextlib.suppress(ValueError):
            self._queue.remove(tenant)
        self.running, self.running_since = tenant, time.monotonic()
        started = time.perf_counter()
        try:
            at = self.clock(tenant)
            if at is None:
                schedule.detected_version = state.version
                schedule.last_run = time.monotonic()
                return True
            async with self.recommender.lock:
                job = await asyncio.to_thread(
                    prepare, state, self.recommender.state(tenant), self.params, at, self.config.max_edges_per_group
                )
                schedule.erased.clear()
            prepared = time.perf_counter()
            outcome = await self.worker.run(job, self.config.timeout_seconds)
            detection = outcome.detection
            for member in schedule.erased:
                detection = without(detection, member)
            window = timedelta(days=self.config.growth_window_days)
            events, records = advance(tenant, state.records, detection, self.params, window)
            announced = contract_events(tenant, events, detection.by_id)
            storing = time.perf_counter()
            await self.store.commit(detection, records, announced, outcome.edges)
            LAST_DETECTION.labels(SERVICE, "prepare").set(prepared - started)
            LAST_DETECTION.labels(SERVICE, "worker_cpu").set(outcome.cpu_seconds)
            LAST_DETECTION.labels(SERVICE, "store").set(time.perf_counter() - storing)
            LAST_DETECTION.labels(SERVICE, "total").set(time.perf_counter() - started)
            WORKER_PEAK_RSS.labels(SERVICE).set(outcome.peak_rss_mb * 2**20)
            for member in schedule.erased:  # erased while it was being stored
                detection = without(detection, member)
            state.detection, state.records = detection, records
            schedule.detected_version = job.version
            schedule.failures, schedule.last_error = 0, None
            schedule.retry.reset()
            schedule.last_cpu_seconds, schedule.last_peak_rss_mb = outcome.cpu_seconds, outcome.peak_rss_mb
            DETECTIONS.labels(SERVICE, "ok").inc()
            self.outbox_wake.set()
            log.info(
                "micro-communities detected",
                extra={
                    "tenant": tenant,
                    "groups": len(detection.groups),
                    "members": len(job.snapshot.members),
                    "announced": len(announced),
                    "seconds": round(time.perf_counter() - started, 3),
                    "cpu_seconds": round(outcome.cpu_seconds, 3),
                },
            )
            return True
        except Exception as exc:  # one tenant's failure must not stop the others
            schedule.failures += 1
            schedule.last_error = f"{type(exc).__name__}: {exc}"[:500]
            pause = schedule.retry.next_pause()
            schedule.retry_at = time.monotonic() + pause
            DETECTIONS.labels(SERVICE, "failed").inc()
            log.warning(
                "micro-community detection failed; retrying later",
                extra={"tenant": tenant, "error": schedule.last_error, "failures": schedule.failures,
                       "retry_in_seconds": round(pause, 1)},
            )  # fmt: skip
            return False
        finally:
            schedule.last_run = time.monotonic()
            schedule.last_seconds = time.perf_counter() - started
            DETECTION_SECONDS.labels(SERVICE).observe(schedule.last_seconds)
            self.running = None
            FAILING_TENANTS.labels(SERVICE).set(sum(1 for s in self.schedules.values() if s.failures))
            self._count_groups()

    def _count_groups(self) -> None:
        GROUPS_FOUND.labels(SERVICE).set(
            sum(len(s.detection.groups) for s in self.states.values() if s.detection is not None)
        )

    # -- the outbox -------------------------------------------------------------------------------

    async def relay(self) -> None:
        """Publish stored announcements in order, for ever; a broker or database error only delays them."""
        backoff = Backoff(0.5, 30.0)
        while True:
            try:
                published = await self.publish_pending()
                backoff.reset()
                if published:
                    continue
                self.outbox_wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(30.0):
                        await self.outbox_wake.wait()
            except (BrokerUnavailable, PyMongoError) as exc:
                log.warning("micro-community announcements not published yet", extra={"error": repr(exc)})
                await asyncio.sleep(backoff.next_pause())

    async def publish_pending(self) -> int:
        """Publish what the outbox holds (oldest first), clearing each document once acknowledged; return how many."""
        pending = await self.store.pending()
        OUTBOX_PENDING.labels(SERVICE).set(len(pending))
        published = 0
        for outbox_id, events in pending:
            await self.producer.publish(MICROCOMMUNITIES, events)
            await self.store.clear(outbox_id)
            EVENTS_OUT.labels(SERVICE, MICROCOMMUNITIES.name).inc(len(events))
            published += len(events)
        if pending:
            OUTBOX_PENDING.labels(SERVICE).set(await self.store.pending_count())
        return published

    # -- closing the loop -------------------------------------------------------------------------

    def seeded_community(self, tenant: str, group_id: str, state: TenantState) -> dict[str, SeededCommunity]:
        """Return the community created for a group (by group id), with which of the group's members joined it."""
        graph = self.states.get(tenant)
        if graph is None:
            return {}
        members = state.edges[Edge.MEMBER]
        found: dict[str, SeededCommunity] = {}
        for seed in graph.seeds.values():
            if seed.group_id != group_id:
                continue
            group = (
                graph.detection.by_id[group_id].members
                if graph.detection and group_id in graph.detection.by_id
                else seed.members
            )
            name = str(state.communities.get(seed.community_id, {}).get("name") or seed.community_id)
            joined = frozenset(m for m in group if seed.community_id in members.get(m, {}))
            found[group_id] = SeededCommunity(seed.community_id, name, joined)
        return found

    def _seeds_by_member(self, tenant: str) -> dict[str, list[str]]:
        graph = self.states.get(tenant)
        if graph is None or not graph.seeds:
            return {}
        key = hash(tuple(sorted((c, len(s.members)) for c, s in graph.seeds.items())))
        cached = self._seed_index.get(tenant)
        if cached is not None and cached[0] == key:
            return cached[1]
        index: dict[str, list[str]] = {}
        for community_id, seed in sorted(graph.seeds.items()):
            for member in seed.members:
                index.setdefault(member, []).append(community_id)
        self._seed_index[tenant] = (key, index)
        return index

    def put_seeded_first(
        self, tenant: str, profile: MemberProfile, found: list[Suggestion], limit: int, explain: bool
    ) -> list[Suggestion]:
        """Put the communities created for the member's groups first in their suggestions."""
        communities = self._seeds_by_member(tenant).get(profile.member_id)
        if not communities:
            return found
        state = self.recommender.state(tenant)
        model = self.recommender.models.get(tenant)
        edges = state.edges
        partners = set(profile.follows) | set(profile.interacts)
        offers = []
        for community_id in communities:
            fields = state.communities.get(community_id)
            if fields is None or fields.get("visibility", "public") != "public":
                continue
            if community_id in profile.joined or community_id in profile.dismissed:
                continue
            if community_id in profile.blocked or community_id in profile.owned:
                continue
            seed = self.states[tenant].seeds[community_id]
            first = [
                m for m in seed.members if m != profile.member_id and community_id in edges[Edge.MEMBER].get(m, {})
            ]
            talks = sum(
                1
                for m in first
                if m in partners
                or profile.member_id in edges[Edge.FOLLOWS].get(m, {})
                or profile.member_id in edges[Edge.INTERACTS].get(m, {})
            )
            size = int(model.size[model.index[community_id]]) if model and community_id in model.index else len(first)
            name = str(fields.get("name") or community_id)
            offers.append(SeedOffer(community_id, name, size, talks, len(seed.members)))
        return put_first(found, offers, limit, explain=explain)

    async def close(self) -> None:
        """Stop the worker."""
        await self.worker.close()
