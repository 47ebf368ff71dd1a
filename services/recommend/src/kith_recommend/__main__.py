"""Run the recommend service: ``python -m kith_recommend``."""

from __future__ import annotations

import uvicorn

from kith_recommend import SERVICE
from kith_recommend.app import create_app
from kith_recommend.settings import RecommendSettings
from kith_shared.logs import configure_logging


def main() -> None:
    """Serve the API with uvicorn on the configured host and port."""
    settings = RecommendSettings()
    configure_logging(SERVICE, settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
