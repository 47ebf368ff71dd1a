"""A service run as a process of its own on a test's broker and databases, killed and started again by the test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from kith_devkit.environment import service_environment
from kith_devkit.servers import free_port
from kith_devkit.testing.waiting import eventually
from kith_shared.settings import ServiceSettings

T = TypeVar("T")


def process_env(settings: ServiceSettings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return this process's environment with the service's own variables pointing at ``settings``' servers.

    The service's variables (those under its settings' env prefix, ``SCORING_`` for instance) are
    replaced: a test environment on a free port, logging at INFO, on the broker, topic prefix and
    databases of ``settings``, and ``extra`` (named without the prefix: ``{"BATCH_MAX_RECORDS": "300"}``).
    """
    prefix = str(type(settings).model_config.get("env_prefix", ""))
    if not prefix:
        raise ValueError(f"{type(settings).__name__} has no env prefix")
    base = {name: value for name, value in os.environ.items() if not name.startswith(prefix)}
    mongo = settings.mongo
    return service_environment(
        prefix.removesuffix("_"),
        base,
        port=free_port(),
        kafka=settings.kafka,
        mongo_uri=mongo.uri.get_secret_value(),
        database=mongo.database,
        auth_database=mongo.auth_database,
        **{"environment": "test", "log_level": "INFO", **(extra or {})},
    )


class ChildProcess:
    """``python -m <module>`` writing its output to a log file; ``kills`` counts the SIGKILLs it took."""

    def __init__(self, module: str, env: Mapping[str, str], log: Path) -> None:
        self._args = [sys.executable, "-m", module]
        self._env = dict(env)
        self._log = log.open("ab")
        self.kills = 0
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603 - our own interpreter running a module of ours
            self._args, env=self._env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def kill_and_restart(self) -> None:
        """Kill the process with SIGKILL, wait until it is gone and start it again."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.kills += 1
        self.process = self._spawn()

    def stop(self) -> None:
        """Stop the process with SIGTERM (killing it after 30 s) and close its log."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


@contextlib.contextmanager
def child_process(module: str, env: Mapping[str, str], log: Path) -> Iterator[ChildProcess]:
    """Start ``python -m <module>`` with ``env``, its output appended to ``log``; stop it after the block."""
    child = ChildProcess(module, env, log)
    try:
        yield child
    finally:
        child.stop()


async def kill_between_parts(
    child: ChildProcess,
    parts: Sequence[T],
    publish: Callable[[T], Awaitable[object]],
    progress: Callable[[], Awaitable[int]],
    rng: random.Random,
    *,
    most_pause: float,
    within: float,
) -> None:
    """Publish ``parts`` one after the other, killing the child with SIGKILL at a random point after each but the last.

    After a part, wait until ``progress`` (what the child made durable) passes where it stood before
    that part, then pause up to ``most_pause`` seconds (drawn from ``rng``) and kill and restart it.
    """
    for index, part in enumerate(parts):
        baseline = await progress()
        await publish(part)
        if index == len(parts) - 1:
            break

        async def moved(baseline: int = baseline) -> bool:
            return await progress() > baseline

        await eventually(moved, within, "progress past where it stood before the last part")
        await asyncio.sleep(rng.uniform(0.0, most_pause))
        child.kill_and_restart()
