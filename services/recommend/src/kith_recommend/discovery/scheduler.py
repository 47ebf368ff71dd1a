"""The detection scheduler: detections off the event loop, one tenant at a time, results kept and announced.

- The consumer applies every change to each tenant's parts, the interaction graph
  (:class:`~kith_recommend.discovery.state.TenantGraph`) among them; :meth:`Discovery.housekeeping`
  takes from the graphs the erasures and seeded communities to store, and keeps each graph within
  ``max_ties``.
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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge, Histogram
from pymongo.errors import PyMongoError

from kith_recommend import SERVICE
from kith_recommend.discovery.announce import contract_events
from kith_recommend.discovery.job import prepare
from kith_recommend.discovery.state import PART, Seed, TenantGraph, record_without, without
from kith_recommend.discovery.store import DiscoveryStore
from kith_recommend.discovery.worker import DetectionWorker
from kith_recommend.domain.changes import Edge
from kith_recommend.domain.microcommunities import Detection, GroupRecord, SeededCommunity, advance
from kith_recommend.domain.microcommunities.seeding import SeedOffer, put_first
from kith_recommend.domain.model import MemberProfile, TenantState
from kith_recommend.domain.ranking import Suggestion
from kith_recommend.engine import Recommender
from kith_recommend.settings import RecommendSettings
from kith_shared import tracing
from kith_shared.backoff import Backoff
from kith_shared.kafka import BrokerUnavailable, EventProducer
from kith_shared.observability import EVENTS_OUT
from kith_shared.topics import MICROCOMMUNITIES

log = logging.getLogger(__name__)

#: How often the scheduler looks for due tenants, erasures and seeds when nothing woke it.
POLL_SECONDS = 1.0
#: How often the detecting replica looks for detections asked of the other replicas.
REQUESTS_SECONDS = 2.0

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
    last_run: float = 0.0  # monotonic time the last detection finished
    requested: bool = False
    failures: int = 0
    retry_at: float = 0.0
    last_error: str | None = None
    last_seconds: float = 0.0
    last_cpu_seconds: float = 0.0
    last_peak_rss_mb: float = 0.0


@dataclass(frozen=True)
class Scheduled:
    """When an asked-for detection will run."""

    tenant: str
    runs_at: datetime
    queued_behind: int


@dataclass
class Served:
    """What the API serves of one tenant: the last stored detection, its groups' records and seeds."""

    detection: Detection | None = None
    records: dict[str, GroupRecord] = field(default_factory=dict)
    seeds: dict[str, Seed] = field(default_factory=dict)
    ran_at: float = 0.0
    cache: dict[object, object] = field(default_factory=dict, repr=False, compare=False)  # what the API derived


class Discovery:
    """The scheduler of every tenant's detections, what the API serves, and the outbox relay.

    The interaction graphs are parts of the tenants' state (:class:`~kith_recommend.discovery.state.TenantGraph`,
    fed by the consumer and saved by checkpoints); :attr:`results` holds what was last stored, loaded
    from the database at start so that the API answers before the checkpoint is even loaded.
    """

    def __init__(
        self,
        settings: RecommendSettings,
        recommender: Recommender,
        store: DiscoveryStore,
        producer: EventProducer,
        leads: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.leads = leads or (lambda: True)
        """Whether this replica detects now (the holder of the checkpoint lease; one replica at a time)."""
        self.params = settings.detection
        self.config = settings.discovery
        self.recommender = recommender
        self.store = store
        self.producer = producer
        self.worker = DetectionWorker(self.config.executor, self.config.worker_memory_mb)
        self.results: dict[str, Served] = {}
        self.schedules: dict[str, Schedule] = {}
        self.loaded = False
        self.wake = asyncio.Event()
        self.outbox_wake = asyncio.Event()
        self.running: str | None = None
        self.running_since = 0.0
        self._queue: list[str] = []
        self._erasures: list[tuple[str, str]] = []  # taken from the parts, not stored yet
        self._seeds: list[tuple[str, Seed]] = []  # the same for seeds
        self._erased_log: list[tuple[str, str]] = []  # erasures seen while a detection runs, to strip its result
        self._seed_index: dict[str, tuple[int, dict[str, list[str]]]] = {}
        self._leading = False
        self._reloaded_at = time.monotonic()
        self._requests_at = 0.0

    # -- state ------------------------------------------------------------------------------------

    def graph(self, tenant: str) -> TenantGraph | None:
        """Return a tenant's micro-community part (None for a tenant the consumer has not seen)."""
        parts = self.recommender.tenants.get(tenant)
        return cast(TenantGraph, parts[PART]) if parts is not None and PART in parts else None

    def graphs(self) -> list[tuple[str, TenantGraph]]:
        """Return every tenant's micro-community part."""
        return [(t, cast(TenantGraph, parts[PART])) for t, parts in self.recommender.tenants.items() if PART in parts]

    def schedule(self, tenant: str) -> Schedule:
        """Return a tenant's schedule."""
        found = self.schedules.get(tenant)
        if found is None:
            retry = Backoff(self.config.retry_first_seconds, max(self.config.retry_most_seconds, 1e-3))
            # A tenant first seen now is detected one interval later (its history is still coming in),
            # or at once when asked for.
            found = self.schedules[tenant] = Schedule(retry, last_run=time.monotonic())
        return found

    @property
    def detecting(self) -> bool:
        """Tell whether this replica detects: enabled, its state loaded, and holding the lease."""
        return self.config.enabled and self.recommender.loaded and self.leads()

    async def housekeeping(self, leading: bool) -> None:
        """Take erasures and seeds from the parts, strip erased members from what is served, bound the ties.

        Only the detecting replica stores them; the others only stop serving erased members.
        """
        async with self.recommender.lock:
            for tenant, graph in self.graphs():
                if graph.erased:
                    for member in graph.erased:
                        self._erasures.append((tenant, member))
                        self._erased_log.append((tenant, member))
                        served = self.results.get(tenant)
                        if served is not None and served.detection is not None:
                            served.detection = without(served.detection, member)
                            served.records = {g: record_without(r, member) for g, r in served.records.items()}
                    graph.erased.clear()
                    if leading:
                        self._ask(tenant)  # rewrite its stored groups without them soon
                if graph.pending_seeds:
                    for seed in graph.pending_seeds:
                        self.results.setdefault(tenant, Served()).seeds[seed.community_id] = seed
                        if leading:
                            self._seeds.append((tenant, seed))
                    graph.pending_seeds.clear()
                if graph.graph.tie_count > self.config.max_ties:
                    dropped = graph.graph.trim(self.config.max_ties)
                    graph.version += 1
                    log.info("weakest ties dropped to stay within the bound", extra={"tenant": tenant, "ties": dropped})
        if not leading:
            self._erasures.clear()
            return
        try:
            while self._seeds:
                tenant, seed = self._seeds[0]
                await self.store.save_seeds(tenant, [seed])
                self._seeds.pop(0)
            while self._erasures:
                tenant, member = self._erasures[0]
                await self.store.erase(tenant, member)
                self._erasures.pop(0)
        except PyMongoError as exc:
            log.warning("seeds or erasures not stored yet; database unreachable", extra={"error": repr(exc)})

    # -- loading ----------------------------------------------------------------------------------

    async def _load_stored(self) -> None:
        for tenant in await self.store.tenants():
            stored = await self.store.load(tenant)
            self.results[tenant] = Served(stored.detection, stored.records, stored.seeds, stored.ran_at)
        self._count_groups()

    async def load(self) -> None:
        """Load every tenant's stored results, so that they are served at once (retries while the database is down)."""
        async for _ in Backoff(0.5, 5.0):
            try:
                await self.store.ensure_indexes()
                await self._load_stored()
                break
            except PyMongoError as exc:
                log.warning("micro-communities not loaded yet; database unreachable", extra={"error": repr(exc)})
        now = time.monotonic()
        for tenant, served in self.results.items():
            if served.detection is not None:  # a restart does not detect at once what was detected a moment ago
                self.schedule(tenant).last_run = now - max(0.0, min(time.time() - served.ran_at, 86_400.0))
        self.loaded = True
        log.info("micro-communities loaded", extra={"tenants": len(self.results)})

    async def reload(self) -> None:
        """Load what the detecting replica stored (a replica that does not detect serves that)."""
        self._reloaded_at = time.monotonic()
        try:
            await self._load_stored()
        except PyMongoError as exc:
            log.warning("micro-communities not reloaded; database unreachable", extra={"error": repr(exc)})

    # -- scheduling -------------------------------------------------------------------------------

    def _ask(self, tenant: str) -> None:
        schedule = self.schedule(tenant)
        if not schedule.requested:
            schedule.requested = True
            self._queue.append(tenant)
        self.wake.set()

    async def request(self, tenant: str) -> Scheduled:
        """Ask for a tenant's detection as soon as the worker is free; say when that should be.

        A replica that does not detect stores the request for the one that does (it looks every few seconds).
        """
        if not self.detecting:
            await self.store.ask(tenant)
            runs_at = datetime.now(UTC) + timedelta(seconds=REQUESTS_SECONDS + 1.0)
            return Scheduled(tenant, runs_at.replace(microsecond=0), 0)
        self._ask(tenant)
        now = time.monotonic()
        position = self._queue.index(tenant)
        wait = sum(self.schedule(t).last_seconds for t in self._queue[:position])
        if self.running is not None:
            wait += max(0.0, self.schedule(self.running).last_seconds - (now - self.running_since))
        runs_at = datetime.now(UTC) + timedelta(seconds=wait)
        return Scheduled(tenant, runs_at.replace(microsecond=0), position + (1 if self.running else 0))

    def _due(self, now: float) -> str | None:
        while self._queue:
            tenant = self._queue[0]
            if self.schedule(tenant).requested:
                return tenant
            self._queue.pop(0)
        best: tuple[float, str] | None = None
        for tenant, graph in self.graphs():
            schedule = self.schedule(tenant)
            changed = graph.version != schedule.detected_version
            waited = now >= schedule.last_run + self.config.interval_seconds
            due = now >= schedule.retry_at if schedule.failures else changed and waited
            if due and (best is None or schedule.last_run < best[0]):
                best = (schedule.last_run, tenant)
        return best[1] if best else None

    async def run(self) -> None:
        """Detect due tenants one at a time while this replica leads; otherwise serve what the leader stored.

        Detection waits for the state to be loaded from the last checkpoint (a half-loaded state would
        announce groups that are not new). A replica that starts leading first loads what the last
        leader stored, so that it announces only what moved since.
        """
        while True:
            leading = self.detecting
            if leading and not self._leading:
                await self.reload()
                log.info("this replica detects micro-communities now")
            self._leading = leading
            tenant = None
            if self.recommender.loaded:
                await self.housekeeping(leading)
            if leading:
                await self._take_requests()
                tenant = self._due(time.monotonic())
            elif time.monotonic() - self._reloaded_at >= self.config.interval_seconds:
                await self.reload()
            if tenant is None:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_SECONDS):
                        await self.wake.wait()
                continue
            await self.detect(tenant)

    async def _take_requests(self) -> None:
        """Take the detections other replicas were asked for (every few seconds)."""
        if time.monotonic() - self._requests_at < REQUESTS_SECONDS:
            return
        self._requests_at = time.monotonic()
        try:
            for tenant in await self.store.take_requests():
                self._ask(tenant)
        except PyMongoError as exc:
            log.warning("detection requests not read; database unreachable", extra={"error": repr(exc)})

    def clock(self, tenant: str) -> datetime | None:
        """Return the instant a tenant is detected at: its latest event's time, never past now (None: no events)."""
        latest = self.recommender.state(tenant).now
        if latest <= 0:
            return None
        return datetime.fromtimestamp(min(latest, time.time()), UTC)

    async def detect(self, tenant: str) -> bool:
        """Detect one tenant end to end; return whether it worked (a failure is logged, counted and retried later).

        The detection runs in a span of its own (tracing on), whose trace the events it announces carry.
        """
        with tracing.batch_span("microcommunities detect", [], {"kith.tenant": tenant}, kind=SpanKind.INTERNAL):
            return await self._detect(tenant)

    async def _detect(self, tenant: str) -> bool:
        schedule = self.schedule(tenant)
        schedule.requested = False
        with contextlib.suppress(ValueError):
            self._queue.remove(tenant)
        self.running, self.running_since = tenant, time.monotonic()
        started = time.perf_counter()
        try:
            graph = self.graph(tenant)
            at = self.clock(tenant)
            if graph is None or at is None:  # nothing happened in this tenant yet
                schedule.detected_version = graph.version if graph is not None else 0
                return True
            async with self.recommender.lock:
                served = self.results.get(tenant)
                if served is not None and served.detection is not None and served.ran_at > graph.ran_at:
                    graph.adopt(served.detection, dict(served.records), served.ran_at)  # newer than the checkpoint's
                job = await asyncio.to_thread(
                    prepare, graph, self.recommender.state(tenant), self.params, at, self.config.max_edges_per_group
                )
                mark = len(self._erased_log)
            prepared = time.perf_counter()
            outcome = await self.worker.run(job, self.config.timeout_seconds)
            detection = outcome.detection
            window = timedelta(days=self.config.growth_window_days)
            events, records = advance(tenant, graph.records, detection, self.params, window)
            announced = tracing.stamped(contract_events(tenant, events, detection.by_id))
            storing = time.perf_counter()
            ran_at = time.time()
            await self.store.commit(detection, records, announced, outcome.edges, ran_at=ran_at)
            for gone_tenant, member in self._erased_log[mark:]:  # erased while it ran: not served, not kept
                if gone_tenant == tenant:
                    detection = without(detection, member)
                    records = {g: record_without(r, member) for g, r in records.items()}
            async with self.recommender.lock:
                moved = graph.version != job.version
                graph.adopt(detection, records, ran_at)
                schedule.detected_version = job.version if moved else graph.version
            self.results[tenant] = Served(detection, records, self.results.get(tenant, Served()).seeds, ran_at)
            LAST_DETECTION.labels(SERVICE, "prepare").set(prepared - started)
            LAST_DETECTION.labels(SERVICE, "worker_cpu").set(outcome.cpu_seconds)
            LAST_DETECTION.labels(SERVICE, "store").set(time.perf_counter() - storing)
            LAST_DETECTION.labels(SERVICE, "total").set(time.perf_counter() - started)
            WORKER_PEAK_RSS.labels(SERVICE).set(outcome.peak_rss_mb * 2**20)
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
            self._erased_log.clear()  # later snapshots no longer hold them; only a running detection needs the log
            FAILING_TENANTS.labels(SERVICE).set(sum(1 for s in self.schedules.values() if s.failures))
            self._count_groups()

    def _count_groups(self) -> None:
        GROUPS_FOUND.labels(SERVICE).set(
            sum(len(s.detection.groups) for s in self.results.values() if s.detection is not None)
        )

    # -- the outbox -------------------------------------------------------------------------------

    async def relay(self) -> None:
        """Publish stored announcements in order while this replica detects; an error only delays them."""
        backoff = Backoff(0.5, 30.0)
        while True:
            if not self.detecting:  # the detecting replica publishes (one relay, announcements in order)
                await asyncio.sleep(POLL_SECONDS)
                continue
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

    def seeds(self, tenant: str) -> dict[str, Seed]:
        """Return the communities created for a tenant's groups: as the consumer saw them, else as stored."""
        graph = self.graph(tenant)
        if graph is not None and graph.seeds:
            return graph.seeds
        served = self.results.get(tenant)
        return served.seeds if served is not None else {}

    def seeded_community(self, tenant: str, group_id: str, state: TenantState) -> dict[str, SeededCommunity]:
        """Return the community created for a group (by group id), with which of the group's members joined it."""
        served = self.results.get(tenant)
        current = served.detection.by_id.get(group_id) if served is not None and served.detection else None
        members = state.edges[Edge.MEMBER]
        found: dict[str, SeededCommunity] = {}
        for seed in self.seeds(tenant).values():
            if seed.group_id != group_id:
                continue
            group = current.members if current is not None else seed.members
            name = str(state.communities.get(seed.community_id, {}).get("name") or seed.community_id)
            joined = frozenset(m for m in group if seed.community_id in members.get(m, {}))
            found[group_id] = SeededCommunity(seed.community_id, name, joined)
        return found

    def _seeds_by_member(self, tenant: str) -> dict[str, list[str]]:
        seeds = self.seeds(tenant)
        if not seeds:
            return {}
        key = hash(tuple(sorted((c, len(s.members)) for c, s in seeds.items())))
        cached = self._seed_index.get(tenant)
        if cached is not None and cached[0] == key:
            return cached[1]
        index: dict[str, list[str]] = {}
        for community_id, seed in sorted(seeds.items()):
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
            seed = self.seeds(tenant)[community_id]
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
