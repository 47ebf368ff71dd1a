"""Run the recommend service: ``python -m kith_recommend``."""

from __future__ import annotations

from kith_recommend import SERVICE
from kith_recommend.app import create_app
from kith_recommend.settings import RecommendSettings
from kith_shared.service import serve


def main() -> None:
    """Serve the API with uvicorn on the configured host and port."""
    serve(SERVICE, RecommendSettings(), create_app)


if __name__ == "__main__":
    main()
