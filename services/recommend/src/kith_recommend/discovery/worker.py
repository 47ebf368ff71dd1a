"""Where detections run: one at a time, off the event loop, each within a time limit.

With ``executor="process"`` (the default) jobs run in one long-lived worker process (started on first
use by ``spawn``, so it inherits no threads or sockets of the service): detection then never competes
with requests for the interpreter, an overrunning job is stopped by ending the process, and
``worker_memory_mb`` caps what it may allocate. A job that crashes the process (or runs out of memory)
fails alone; the next job gets a new process. With ``executor="thread"`` jobs run in a thread of the
service (for small deployments and tests): a job past its time limit is abandoned, not stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import resource
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Literal

from kith_recommend.discovery import job as jobs
from kith_recommend.discovery.job import DetectionJob, DetectionOutcome

log = logging.getLogger(__name__)


class DetectionFailed(RuntimeError):
    """A detection did not complete: it overran its time, exhausted its memory, or raised."""


def _limit_memory(megabytes: int) -> None:
    """Cap the worker process's address space (runs in the worker when it starts)."""
    if megabytes > 0:
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _run_in_process(job: DetectionJob) -> DetectionOutcome:
    return jobs.run(job, whole_process=True)


def _run_in_thread(job: DetectionJob) -> DetectionOutcome:
    return jobs.run(job, whole_process=False)


class DetectionWorker:
    """Runs detection jobs one at a time, in a worker process or a thread."""

    def __init__(self, executor: Literal["process", "thread"], memory_mb: int = 0) -> None:
        self.executor = executor
        self.memory_mb = memory_mb
        self._pool: ProcessPoolExecutor | None = None
        self._lock = asyncio.Lock()

    def _process_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_limit_memory,
                initargs=(self.memory_mb,),
            )
        return self._pool

    async def run(self, job: DetectionJob, limit: float) -> DetectionOutcome:
        """Run one job within ``limit`` seconds; raise :class:`DetectionFailed` saying why it did not finish."""
        async with self._lock:
            if self.executor == "thread":
                try:
                    return await asyncio.wait_for(asyncio.to_thread(_run_in_thread, job), limit)
                except TimeoutError:
                    raise DetectionFailed(f"detection ran past {limit:g} s (abandoned)") from None
                except MemoryError:
                    raise DetectionFailed("detection ran out of memory") from None
            pool = self._process_pool()
            loop = asyncio.get_running_loop()
            try:
                return await asyncio.wait_for(loop.run_in_executor(pool, _run_in_process, job), limit)
            except TimeoutError:
                self._end_pool()
                raise DetectionFailed(f"detection ran past {limit:g} s; its worker was stopped") from None
            except BrokenProcessPool:
                self._end_pool()
                raise DetectionFailed("the detection worker ended abruptly (out of memory?)") from None
            except MemoryError:
                self._end_pool()
                raise DetectionFailed(f"detection ran out of memory (limit {self.memory_mb} MB)") from None

    def _end_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for process in list(pool._processes.values()):  # the pool cannot stop a running task itself
            with contextlib.suppress(Exception):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        """Stop the worker process, if any."""
        pool, self._pool = self._pool, None
        if pool is not None:
            for process in list(pool._processes.values()):
                with contextlib.suppress(Exception):
                    process.kill()
            await asyncio.to_thread(pool.shutdown, True, cancel_futures=True)
