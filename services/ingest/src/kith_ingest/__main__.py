"""Run the ingest service under uvicorn: ``python -m kith_ingest``."""

from __future__ import annotations

from kith_ingest import SERVICE
from kith_ingest.app import create_app
from kith_ingest.settings import IngestSettings
from kith_shared.service import serve


def main() -> None:
    """Serve the ingest app on the configured host and port, without an access log line per request."""
    serve(SERVICE, IngestSettings(), create_app, access_log=False)


if __name__ == "__main__":
    main()
