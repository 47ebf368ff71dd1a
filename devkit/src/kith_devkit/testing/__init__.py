"""Test harness: the pytest plugin (:mod:`.plugin`), a running service, and waiting on conditions.

The plugin is registered through the ``pytest11`` entry point of ``kith-devkit``; its fixtures are
available in every test folder. Helpers a test imports: :func:`eventually`, :class:`RunningService`;
the types of the factory fixtures: :class:`RunService`, :class:`MakeSettings`.
"""

from kith_devkit.testing.plugin import MakeSettings
from kith_devkit.testing.service import RunningService, RunService, run_service
from kith_devkit.testing.waiting import eventually

__all__ = ["MakeSettings", "RunService", "RunningService", "eventually", "run_service"]
