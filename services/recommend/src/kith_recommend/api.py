"""HTTP routes: suggestions, similar communities (``recommendations:read``); interests and feedback
(``recommendations:write``); and, from :mod:`kith_recommend.tuning_api`, a tenant's ranking settings and the
quality self-tuning measured (``admin``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import BaseModel, Field

from kith_recommend import tuning_api
from kith_recommend.deps import Model, Producer
from kith_recommend.domain.changes import Edge
from kith_recommend.domain.ranking import Suggestion
from kith_recommend.engine import Recommender, UnknownCommunity
from kith_shared.auth import RecommendationsReader, RecommendationsWriter
from kith_shared.errors import ApiError
from kith_shared.events import Event
from kith_shared.events import data as d
from kith_shared.events import types as t
from kith_shared.events.display import VISIBLE
from kith_shared.kafka import BrokerUnavailable
from kith_shared.openapi import errors
from kith_shared.topics import RAW

FEEDBACK_SOURCE = "kith://recommend"
STALE_HEADER = "X-Kith-Model-Stale"
STALE_REASON_HEADER = "X-Kith-Model-Stale-Reason"

MemberId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:@\-]+$")]
CommunityId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_:@\-]+$")]


#: Feedback kinds and how each builds its event from envelope attributes and data fields.
FEEDBACK: dict[str, Callable[[dict[str, Any], dict[str, Any]], Event]] = {
    "dismiss": lambda env, f: t.RecommendationDismissedEvent(**env, data=d.RecommendationDismissed(**f)),
    "shown": lambda env, f: t.RecommendationShownEvent(**env, data=d.RecommendationShown(**f)),
    "clicked": lambda env, f: t.RecommendationClickedEvent(**env, data=d.RecommendationClicked(**f)),
}


class ReasonOut(BaseModel):
    """A reason a person can read."""

    kind: str = Field(description="place, co_membership, social, topic, trending, small or popularity.")
    text: str


class PlaceOut(BaseModel):
    """Where a community meets, and how far that is from the member when both places are known."""

    mode: Literal["online", "local", "hybrid"]
    name: str | None = None
    distance_km: float | None = None


class SuggestionOut(BaseModel):
    """A suggested community."""

    community_id: str
    name: str
    position: int = Field(description="1 for the first suggestion.")
    score: float = Field(
        description="The score that ordered the list (after diversity, the maximal marginal relevance that picked "
        "it): it never increases down the list."
    )
    relevance: float = Field(description="How well it fits the member before diversity is taken into account.")
    members: int
    place: PlaceOut
    reasons: list[ReasonOut] = Field(default_factory=list)
    sources: dict[str, float] | None = Field(default=None, description="Each source's raw score (with explain).")


class SuggestionsOut(BaseModel):
    """Suggestions for a member."""

    member_id: str
    known_member: bool = Field(description="False when nothing is known yet: popularity and interests only.")
    model_version: int
    suggestions: list[SuggestionOut]


class SimilarOut(BaseModel):
    """Communities like one."""

    community_id: str
    similar: list[SuggestionOut]


class InterestsIn(BaseModel):
    """Interests a member declares (cold start)."""

    interests: list[d.Tag] = Field(min_length=1, max_length=50)


class FeedbackIn(BaseModel):
    """Where the suggestion was shown (optional)."""

    list_id: Annotated[str, Field(max_length=128), VISIBLE] | None = None
    position: Annotated[int, Field(ge=0, le=1_000)] | None = None


class Accepted(BaseModel):
    """An event was published; it shapes later suggestions once processed."""

    event_id: str
    type: str


class ModelInfo(BaseModel):
    """The tenant's model at a glance."""

    tenant: str
    version: int
    communities: int
    members: int
    stale: bool
    stale_reason: str | None = None


def _out(s: Suggestion, explain: bool) -> SuggestionOut:
    return SuggestionOut(
        community_id=s.community_id,
        name=s.name,
        position=s.position,
        score=s.score,
        relevance=s.relevance,
        members=s.members,
        place=PlaceOut(mode=s.mode, name=s.place, distance_km=s.distance_km),  # type: ignore[arg-type]
        reasons=[ReasonOut(kind=r.kind, text=r.text) for r in s.reasons] if explain else [],
        sources=s.sources if explain else None,
    )


def _stale_headers(response: Response, recommender: Recommender) -> None:
    reason = recommender.stale_reason
    response.headers[STALE_HEADER] = "true" if reason else "false"
    if reason:
        response.headers[STALE_REASON_HEADER] = reason[:300]


async def _publish(producer: Producer, event: Event) -> Accepted:
    try:
        await producer.publish(RAW, [event])
    except BrokerUnavailable:
        raise ApiError(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "broker_unavailable",
            "the event could not be published now; retry shortly",
            headers={"Retry-After": "5"},
        ) from None
    return Accepted(event_id=event.id, type=event.type)


def _envelope(tenant: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "source": FEEDBACK_SOURCE, "time": datetime.now(UTC), "tenant": tenant}


router = APIRouter(prefix="/v1", tags=["recommendations"])


@router.get("/members/{member_id}/suggestions", response_model_exclude_none=True)
async def suggestions(
    member_id: MemberId,
    principal: RecommendationsReader,
    recommender: Model,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=100, description="How many suggestions.")] = 10,
    explain: Annotated[bool, Query(description="Include readable reasons and source scores.")] = True,
) -> SuggestionsOut:
    """Suggest communities for a member, best first, with reasons."""
    tenant = principal.tenant
    found = recommender.suggest(tenant, member_id, limit, explain=explain)
    _stale_headers(response, recommender)
    return SuggestionsOut(
        member_id=member_id,
        known_member=recommender.state(tenant).knows_member(member_id),
        model_version=recommender.model(tenant).version,
        suggestions=[_out(s, explain) for s in found],
    )


@router.get("/communities/{community_id}/similar", responses=errors(404, descriptions={404: "Unknown community"}))
async def similar_communities(
    community_id: CommunityId,
    principal: RecommendationsReader,
    recommender: Model,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SimilarOut:
    """List communities like one, for its page."""
    try:
        found = recommender.similar(principal.tenant, community_id, limit)
    except UnknownCommunity:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "community_not_found",
            f"no community {community_id!r} is known in this tenant",
        ) from None
    _stale_headers(response, recommender)
    return SimilarOut(community_id=community_id, similar=[_out(s, True) for s in found])


@router.put("/members/{member_id}/interests", status_code=status.HTTP_202_ACCEPTED)
async def declare_interests(
    member_id: MemberId, body: InterestsIn, principal: RecommendationsWriter, producer: Producer
) -> Accepted:
    """Declare a member's interests (cold start); published as member.interests.declared."""
    event = t.InterestsDeclaredEvent(
        **_envelope(principal.tenant), data=d.InterestsDeclared(member_id=member_id, interests=body.interests)
    )
    return await _publish(producer, event)


@router.post(
    "/members/{member_id}/suggestions/{community_id}/{kind}",
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(422, descriptions={422: "Unknown feedback kind, or invalid ids or body"}),
)
async def feedback(
    member_id: MemberId,
    community_id: CommunityId,
    kind: Literal["dismiss", "shown", "clicked"],
    principal: RecommendationsWriter,
    producer: Producer,
    body: FeedbackIn | None = None,
) -> Accepted:
    """Report feedback on a suggestion: dismiss (never suggested again), shown, or clicked."""
    fields: dict[str, Any] = {"member_id": member_id, "community_id": community_id}
    if body is not None:
        fields.update(body.model_dump(exclude_none=True))
    return await _publish(producer, FEEDBACK[kind](_envelope(principal.tenant), fields))


@router.get("/model")
async def model_info(principal: RecommendationsReader, recommender: Model, response: Response) -> ModelInfo:
    """Describe the tenant's model (size, version, staleness)."""
    state = recommender.state(principal.tenant)
    _stale_headers(response, recommender)
    reason = recommender.stale_reason
    return ModelInfo(
        tenant=principal.tenant,
        version=state.version,
        communities=len(state.communities),
        members=len(state.edges[Edge.MEMBER]),
        stale=reason is not None,
        stale_reason=reason,
    )


router.include_router(tuning_api.router)
