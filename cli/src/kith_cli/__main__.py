"""Run the ``kith`` command as ``python -m kith_cli``."""

from kith_cli.main import run

run()
