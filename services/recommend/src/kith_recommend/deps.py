"""What routes depend on, as ``Annotated`` aliases of dependencies on the app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from kith_recommend.discovery.scheduler import Discovery
from kith_recommend.engine import Recommender
from kith_recommend.settings import RecommendSettings
from kith_recommend.tuner import Tuner
from kith_shared.kafka import EventProducer
from kith_shared.state import from_state

Settings = Annotated[RecommendSettings, Depends(from_state("settings"))]
Model = Annotated[Recommender, Depends(from_state("recommender"))]
Producer = Annotated[EventProducer, Depends(from_state("platform.producer"))]
Tuning = Annotated[Tuner, Depends(from_state("tuner"))]
Discoveries = Annotated[Discovery, Depends(from_state("discovery"))]
