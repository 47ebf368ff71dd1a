"""Run the scoring service: ``python -m kith_scoring`` (settings from ``SCORING_*`` variables)."""

from __future__ import annotations

import uvicorn

from kith_scoring.app import create_app
from kith_scoring.settings import ScoringSettings
from kith_shared.logs import configure_logging


def main() -> None:
    """Serve the app with uvicorn on the configured host and port."""
    settings = ScoringSettings()
    configure_logging("scoring", settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
