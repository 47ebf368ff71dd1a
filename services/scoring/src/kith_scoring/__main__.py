"""Run the scoring service: ``python -m kith_scoring`` (settings from ``SCORING_*`` variables)."""

from __future__ import annotations

from kith_scoring import SERVICE
from kith_scoring.app import create_app
from kith_scoring.settings import ScoringSettings
from kith_shared.service import serve


def main() -> None:
    """Serve the app with uvicorn on the configured host and port."""
    serve(SERVICE, ScoringSettings(), create_app)


if __name__ == "__main__":
    main()
