"""Run the ingest service under uvicorn: ``python -m kith_ingest``."""

from __future__ import annotations

import uvicorn

from kith_ingest import SERVICE
from kith_ingest.app import create_app
from kith_ingest.settings import IngestSettings
from kith_shared.logs import configure_logging


def main() -> None:
    """Serve the ingest app on the configured host and port."""
    settings = IngestSettings()
    configure_logging(SERVICE, settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
