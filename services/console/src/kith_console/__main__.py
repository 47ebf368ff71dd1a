"""Run the console: ``python -m kith_console`` (settings from ``CONSOLE_*`` variables)."""

from __future__ import annotations

import uvicorn

from kith_console import SERVICE
from kith_console.app import create_app
from kith_console.settings import ConsoleSettings
from kith_shared.logs import configure_logging


def main() -> None:
    """Serve the app with uvicorn on the configured host and port."""
    settings = ConsoleSettings()
    configure_logging(SERVICE, settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
