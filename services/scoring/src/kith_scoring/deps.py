"""What routes depend on, as ``Annotated`` aliases, so that a route reads like a sentence.

Each dependency is a coroutine: FastAPI runs a plain function in its thread pool, a hop per request
(:func:`kith_shared.state.from_state` makes those that read the app's state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from kith_scoring.cache import ResultCache
from kith_scoring.domain.parameters import EngagementParameters
from kith_scoring.store import ScoringReads, TenantConfigs
from kith_shared.auth import MetricsReader
from kith_shared.state import from_state


@dataclass(frozen=True, slots=True)
class CommunityRef:
    """A community named in the path, in the caller's tenant."""

    tenant: str
    id: str


async def _community(community_id: str, principal: MetricsReader) -> CommunityRef:
    return CommunityRef(principal.tenant, community_id)


#: The figures as the API shows them.
Reads = Annotated[ScoringReads, Depends(from_state("store.reads"))]
#: Tenants' scoring configuration histories.
Configs = Annotated[TenantConfigs, Depends(from_state("store.tenants"))]
#: The engagement model's service-wide parameters.
Parameters = Annotated[EngagementParameters, Depends(from_state("settings.engagement"))]
#: Answers computed in the last few seconds.
Cache = Annotated[ResultCache, Depends(from_state("cache"))]
#: The community of a ``/communities/{community_id}/...`` route, for a caller allowed to read metrics.
Community = Annotated[CommunityRef, Depends(_community)]
