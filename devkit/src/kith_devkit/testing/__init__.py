"""Test harness: the pytest plugin (:mod:`.plugin`), a running service, and waiting on conditions.

The plugin is registered through the ``pytest11`` entry point of ``kith-devkit``; its fixtures are
available in every test folder. Helpers a test imports: :func:`eventually`, :class:`RunningService`;
Kafka (:func:`publish`, :func:`from_start`, :func:`topic_ends`); a service as a process of its own
that a test kills (:func:`process_env`, :func:`child_process`, :func:`kill_between_parts`);
the types of the factory fixtures: :class:`RunService`, :class:`MakeSettings`.
"""

from kith_devkit.testing.kafka import from_start, publish, topic_ends
from kith_devkit.testing.plugin import MakeSettings
from kith_devkit.testing.processes import ChildProcess, child_process, kill_between_parts, process_env
from kith_devkit.testing.service import RunningService, RunService, run_service
from kith_devkit.testing.waiting import eventually

__all__ = [
    "ChildProcess",
    "MakeSettings",
    "RunService",
    "RunningService",
    "child_process",
    "eventually",
    "from_start",
    "kill_between_parts",
    "process_env",
    "publish",
    "run_service",
    "topic_ends",
]
