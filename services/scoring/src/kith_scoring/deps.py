"""What routes depend on, as ``Annotated`` aliases, so that a route reads like a sentence.

Each dependency is a coroutine: FastAPI runs a plain function in its thread pool, a hop per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from kith_scoring.cache import ResultCache
from kith_scoring.domain.parameters import EngagementParameters
from kith_scoring.settings import ScoringSettings
from kith_scoring.store import ScoringReads, ScoringStore, TenantConfigs
from kith_shared.auth import MetricsReader


def _store(request: Request) -> ScoringStore:
    store: ScoringStore = request.app.state.store
    return store


async def _reads(request: Request) -> ScoringReads:
    return _store(request).reads


async def _configs(request: Request) -> TenantConfigs:
    return _store(request).tenants


async def _parameters(request: Request) -> EngagementParameters:
    settings: ScoringSettings = request.app.state.settings
    return settings.engagement


async def _cache(request: Request) -> ResultCache:
    cache: ResultCache = request.app.state.cache
    return cache


@dataclass(frozen=True, slots=True)
class CommunityRef:
    """A community named in the path, in the caller's tenant."""

    tenant: str
    id: str


async def _community(community_id: str, principal: MetricsReader) -> CommunityRef:
    return CommunityRef(principal.tenant, community_id)


#: The figures as the API shows them.
Reads = Annotated[ScoringReads, Depends(_reads)]
#: Tenants' scoring configuration histories.
Configs = Annotated[TenantConfigs, Depends(_configs)]
#: The engagement model's service-wide parameters.
Parameters = Annotated[EngagementParameters, Depends(_parameters)]
#: Answers computed in the last few seconds.
Cache = Annotated[ResultCache, Depends(_cache)]
#: The community of a ``/communities/{community_id}/...`` route, for a caller allowed to read metrics.
Community = Annotated[CommunityRef, Depends(_community)]
