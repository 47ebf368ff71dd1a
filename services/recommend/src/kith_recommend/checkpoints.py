"""When and by whom checkpoints are written: one replica at a time (a lease), every so many records or seconds.

Every replica loads the last checkpoint at start and consumes every partition; the one holding the
lease (a document with an expiry, renewed every third of it) also writes checkpoints: when
``checkpoint_records`` records were applied since its last one, or ``checkpoint_seconds`` passed
with anything applied, and once more when it stops, before giving the lease up. A replica whose
lease was taken over (it stalled past the expiry) stops writing at once: its next manifest flip is
refused. A new holder writes every tenant the first time; after that only the tenants that changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import zlib
from dataclasses import KW_ONLY, dataclass, field

from pymongo.errors import PyMongoError

from kith_recommend.documents import TenantEntryDoc
from kith_recommend.domain.parts import part_keys
from kith_recommend.engine import Recommender, Snapshot, UnusableCheckpoint
from kith_recommend.snapshot import compress
from kith_recommend.store import CheckpointStore, LeaseLost, WriteReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckpointPolicy:
    """How often checkpoints are written, and how long the writer's lease lasts."""

    every_seconds: float = 60.0
    every_records: int = 100_000
    lease_seconds: float = 30.0


@dataclass
class Written:
    """The last checkpoint this replica wrote: when, how long it took, how big it was."""

    version: int
    seconds: float
    snapshot_seconds: float
    bytes: int
    tenants_written: int
    tenants_kept: int


def _holder() -> str:
    return f"recommend-{uuid.uuid4().hex[:12]}"


@dataclass(eq=False)
class Checkpointer:
    """Loads the last checkpoint into the recommender, and writes new ones while holding the lease."""

    store: CheckpointStore
    recommender: Recommender
    policy: CheckpointPolicy = field(default_factory=CheckpointPolicy)
    _: KW_ONLY
    #: This replica's name on the lease.
    holder: str = field(default_factory=_holder)
    holding: bool = field(default=False, init=False)
    last: Written | None = field(default=None, init=False)
    error: str | None = field(default=None, init=False)
    _saved: dict[str, tuple[int, ...]] = field(default_factory=dict, init=False)
    _entries: dict[str, TenantEntryDoc] = field(default_factory=dict, init=False)
    _records_at_last: int = field(default=0, init=False)
    _last_at: float = field(default_factory=time.monotonic, init=False)
    _renewed_at: float = field(default=float("-inf"), init=False)
    _write_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    # --- loading ----------------------------------------------------------------------------------

    async def load(self) -> None:
        """Replace the recommender's state with the last checkpoint's (or nothing), then compile it.

        A checkpoint written with other parts than this version keeps is not used: the state starts
        empty and the topics are read from their beginning.
        """
        loaded = await self.store.load()
        recommender = self.recommender
        async with recommender.lock:
            self._saved, self._entries = {}, {}
            if loaded is None:
                recommender.reset()
                log.info("no checkpoint yet: reading the topics from their beginning")
            else:
                try:
                    await asyncio.to_thread(recommender.restore, loaded)
                except UnusableCheckpoint as exc:
                    recommender.reset()
                    log.warning("checkpoint not used; reading the topics from their beginning", extra={"why": str(exc)})
                else:
                    log.info(
                        "checkpoint loaded",
                        extra={"version": loaded.version, "tenants": len(loaded.blobs), "bytes": loaded.bytes},
                    )
            self._records_at_last = recommender.records
        await recommender.compile_all()
        recommender.loaded = True

    # --- the lease --------------------------------------------------------------------------------

    async def renew(self) -> bool:
        """Take or renew the lease; a replica that takes it (again) writes every tenant in its first checkpoint."""
        holding = await self.store.acquire(self.holder, self.policy.lease_seconds)
        if holding and not self.holding:
            log.info("this replica writes the checkpoints now", extra={"holder": self.holder})
            self._saved, self._entries = {}, {}
        elif self.holding and not holding:
            log.warning("another replica took the checkpoint lease over", extra={"holder": self.holder})
        self.holding = holding
        self._renewed_at = time.monotonic()
        return holding

    def due(self) -> bool:
        """Tell whether a checkpoint is due: enough records applied, or enough time passed with some applied."""
        applied = self.recommender.records - self._records_at_last
        if applied >= self.policy.every_records:
            return True
        return applied > 0 and time.monotonic() - self._last_at >= self.policy.every_seconds

    # --- writing ----------------------------------------------------------------------------------

    async def checkpoint(self) -> WriteReport | None:
        """Write a checkpoint of the current state if this replica holds the lease; return what was written."""
        async with self._write_lock:
            if self.recommender.broken is not None or not self.recommender.loaded:
                return None
            if not await self.renew():
                return None
            started = time.perf_counter()
            async with self.recommender.lock:
                snapshot: Snapshot = await asyncio.to_thread(self.recommender.snapshot, self._saved)
            snapshot_seconds = time.perf_counter() - started
            blobs = await asyncio.to_thread(lambda: {t: compress(s.packed) for t, s in snapshot.tenants.items()})
            keep = {t: self._entries[t] for t in snapshot.unchanged}  # what this replica wrote, unchanged since
            try:
                report = await self.store.write(
                    self.holder,
                    blobs,
                    keep,
                    snapshot.positions,
                    part_keys(self.recommender.kinds),
                    records=snapshot.records,
                )
            except LeaseLost:
                self.holding = False
                self._saved, self._entries = {}, {}
                log.warning("checkpoint not written: another replica holds the lease", extra={"holder": self.holder})
                return None
            except ValueError as exc:  # the manifest changed under us: write every tenant next time
                self._saved, self._entries = {}, {}
                log.warning("checkpoint not written; writing every tenant next time", extra={"why": str(exc)})
                return None
            for tenant, packed in snapshot.tenants.items():
                self._saved[tenant] = packed.versions
            self._entries = dict(report.entries)
            self._records_at_last = snapshot.records
            self._last_at = time.monotonic()
            self.last = Written(
                version=report.version,
                seconds=time.perf_counter() - started,
                snapshot_seconds=snapshot_seconds,
                bytes=report.bytes,
                tenants_written=report.tenants_written,
                tenants_kept=report.tenants_kept,
            )
            log.info("checkpoint written", extra={**self.last.__dict__, "deleted_chunks": report.deleted_chunks})
            return report

    async def run(self, tick: float = 1.0) -> None:
        """Renew the lease and write checkpoints when due, until cancelled."""
        while True:
            await asyncio.sleep(min(tick, self.policy.lease_seconds / 3))
            try:
                if self.holding and self.due():
                    await self.checkpoint()
                elif time.monotonic() - self._renewed_at >= self.policy.lease_seconds / 3:
                    await self.renew()
                self.error = None
            except PyMongoError as exc:
                self.error = f"checkpoint not written: {type(exc).__name__}"
                log.warning("checkpoint or lease not written; retrying", extra={"error": repr(exc)})
            except zlib.error:
                log.exception("checkpoint not written")

    async def close(self) -> None:
        """Write a last checkpoint if anything changed, and give the lease up (at shutdown)."""
        with contextlib.suppress(PyMongoError):
            if self.holding and self.recommender.records > self._records_at_last:
                await self.checkpoint()
            if self.holding:
                await self.store.release(self.holder)
                self.holding = False
