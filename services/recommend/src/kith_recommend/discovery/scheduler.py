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
  published from the outbox by the relay (:mod:`~kith_recommend.discovery.outbox`; a broker error
  only delays them).
- A failing tenant is logged, counted (``kith_microcommunity_detections_total{outcome="failed"}``) and
  retried after jittered, doubling pauses; the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from opentelemetry.trace import SpanKind
from pymongo.errors import PyMongoError

from kith_recommend import SERVICE
from kith_recommend.discovery.announce import contract_events
from kith_recommend.discovery.erasures import Erasures
from kith_recommend.discovery.job import detection_instant, prepare
from kith_recommend.discovery.metrics import (
    DETECTION_SECONDS,
    DETECTIONS,
    FAILING_TENANTS,
    GROUPS_FOUND,
    record_detection,
)
from kith_recommend.discovery.outbox import Relay
from kith_recommend.discovery.seeding import Seeding
from kith_recommend.discovery.state import PART, Served, TenantGraph, record_without, without
from kith_recommend.discovery.store import DiscoveryStore
from kith_recommend.discovery.worker import DetectionWorker
from kith_recommend.domain.microcommunities import advance
from kith_recommend.engine import Recommender
from kith_recommend.settings import RecommendSettings
from kith_shared import tracing
from kith_shared.backoff import Backoff
from kith_shared.kafka import EventProducer

log = logging.getLogger(__name__)

#: How often the scheduler looks for due tenants, erasures and seeds when nothing woke it.
POLL_SECONDS = 1.0
#: How often the detecting replica looks for detections asked of the other replicas.
REQUESTS_SECONDS = 2.0


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


class Discovery:
    """The scheduler of every tenant's detections, what the API serves, the seeds and the outbox relay.

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
        self.seeding = Seeding(recommender, store, self.results, self.graph)
        self.erasures = Erasures(store)
        #: What the recommender calls to put the communities created for a member's groups first.
        self.outbox = Relay(store, producer, lambda: self.detecting, POLL_SECONDS)
        self.schedules: dict[str, Schedule] = {}
        self.loaded = False
        self.wake = asyncio.Event()
        self.running: str | None = None
        self.running_since = 0.0
        self._queue: list[str] = []
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
                    self.erasures.take(tenant, graph, self.results.get(tenant))
                    if leading:
                        self._ask(tenant)  # rewrite its stored groups without them soon
                if graph.pending_seeds:
                    self.seeding.take(tenant, graph, leading)
                if graph.graph.tie_count > self.config.max_ties:
                    dropped = graph.graph.trim(self.config.max_ties)
                    graph.version += 1
                    log.info("weakest ties dropped to stay within the bound", extra={"tenant": tenant, "ties": dropped})
        if not leading:
            self.erasures.drop_taken()
            return
        try:
            await self.seeding.store_taken()
            await self.erasures.store_taken()
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
            at = detection_instant(self.recommender.state(tenant))
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
                mark = self.erasures.mark()
            prepared = time.perf_counter()
            outcome = await self.worker.run(job, self.config.timeout_seconds)
            detection = outcome.detection
            window = timedelta(days=self.config.growth_window_days)
            events, records = advance(tenant, graph.records, detection, self.params, window)
            announced = tracing.stamped(contract_events(tenant, events, detection.by_id))
            storing = time.perf_counter()
            ran_at = time.time()
            await self.store.commit(detection, records, announced, outcome.edges, ran_at=ran_at)
            for member in self.erasures.since(mark, tenant):  # erased while it ran: not served, not kept
                detection = without(detection, member)
                records = {g: record_without(r, member) for g, r in records.items()}
            async with self.recommender.lock:
                moved = graph.version != job.version
                graph.adopt(detection, records, ran_at)
                schedule.detected_version = job.version if moved else graph.version
            self.results[tenant] = Served(detection, records, self.results.get(tenant, Served()).seeds, ran_at)
            record_detection(prepared - started, outcome, time.perf_counter() - storing, time.perf_counter() - started)
            schedule.failures, schedule.last_error = 0, None
            schedule.retry.reset()
            schedule.last_cpu_seconds, schedule.last_peak_rss_mb = outcome.cpu_seconds, outcome.peak_rss_mb
            DETECTIONS.labels(SERVICE, "ok").inc()
            self.outbox.wake.set()
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
            self.erasures.detection_ended()
            FAILING_TENANTS.labels(SERVICE).set(sum(1 for s in self.schedules.values() if s.failures))
            self._count_groups()

    def _count_groups(self) -> None:
        GROUPS_FOUND.labels(SERVICE).set(
            sum(len(s.detection.groups) for s in self.results.values() if s.detection is not None)
        )

    async def close(self) -> None:
        """Stop the worker."""
        await self.worker.close()
