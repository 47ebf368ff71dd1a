"""Kith console: web pages for community managers and operators over the services' HTTP APIs."""

from typing import Final

#: The service's name in metrics and logs.
SERVICE: Final = "console"
__version__ = "0.1.0"
