"""What routes depend on, as ``Annotated`` aliases of async dependencies (a sync one costs a thread-pool hop)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kith_recommend.engine import Recommender
from kith_recommend.settings import RecommendSettings
from kith_recommend.tuner import Tuner
from kith_shared.kafka import EventProducer


async def _settings(request: Request) -> RecommendSettings:
    settings: RecommendSettings = request.app.state.settings
    return settings


async def _recommender(request: Request) -> Recommender:
    recommender: Recommender = request.app.state.recommender
    return recommender


async def _tuner(request: Request) -> Tuner:
    tuner: Tuner = request.app.state.tuner
    return tuner


async def _producer(request: Request) -> EventProducer:
    producer: EventProducer = request.app.state.platform.producer
    return producer


Settings = Annotated[RecommendSettings, Depends(_settings)]
Model = Annotated[Recommender, Depends(_recommender)]
Producer = Annotated[EventProducer, Depends(_producer)]
Tuning = Annotated[Tuner, Depends(_tuner)]
