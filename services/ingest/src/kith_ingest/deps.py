"""What routes depend on, as ``Annotated`` aliases of dependencies on the app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from kith_ingest import intake
from kith_ingest.settings import IngestSettings
from kith_shared.state import from_state

Settings = Annotated[IngestSettings, Depends(from_state("settings"))]
Intake = Annotated[intake.Intake, Depends(from_state("intake"))]
