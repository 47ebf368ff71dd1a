"""What routes depend on, as ``Annotated`` aliases of async dependencies (a sync one costs a thread-pool hop)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kith_ingest import intake
from kith_ingest.settings import IngestSettings


async def _settings(request: Request) -> IngestSettings:
    settings: IngestSettings = request.app.state.settings
    return settings


async def _intake(request: Request) -> intake.Intake:
    found: intake.Intake = request.app.state.intake
    return found


Settings = Annotated[IngestSettings, Depends(_settings)]
Intake = Annotated[intake.Intake, Depends(_intake)]
