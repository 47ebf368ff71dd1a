"""Run the console: ``python -m kith_console`` (settings from ``CONSOLE_*`` variables)."""

from __future__ import annotations

from kith_console import SERVICE
from kith_console.app import create_app
from kith_console.settings import ConsoleSettings
from kith_shared.service import serve


def main() -> None:
    """Serve the app with uvicorn on the configured host and port."""
    serve(SERVICE, ConsoleSettings(), create_app)


if __name__ == "__main__":
    main()
