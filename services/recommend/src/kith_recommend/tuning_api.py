"""HTTP routes of a tenant's ranking settings and of the quality self-tuning measured (scope ``admin``).

Included by :mod:`kith_recommend.api` under its ``/v1`` prefix.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Optional

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from kith_recommend.deps import Model, Tuning
from kith_recommend.domain.params import RankingParams
from kith_recommend.engine import Recommender
from kith_shared.auth import Admin

router = APIRouter(tags=["settings"])


def _bounded(info: FieldInfo) -> Any:
    """Return a setting's type with its bounds (a setting without bounds, such as a switch, is its bare type)."""
    return Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation


RankingOverrides: type[BaseModel] = create_model(  # every ranking setting, optional, with the same bounds
    "RankingOverrides",
    __config__=ConfigDict(extra="forbid"),
    __doc__="Ranking settings of this tenant that replace the defaults (absent: the default applies).",
    **{
        name: (Optional[_bounded(info)], Field(None, description=info.description))  # noqa: UP045
        for name, info in RankingParams.model_fields.items()
    },  # type: ignore[call-overload]
)


class RankingSettingsIn(BaseModel):
    """Ranking settings for this tenant, and whether self-tuning may change them."""

    model_config = ConfigDict(extra="forbid")

    settings: RankingOverrides = Field(
        default_factory=RankingOverrides,
        description="Any ranking settings (as in RECOMMEND_RANKING__*, lower case: radius_km, social_weight, ...).",
    )
    pinned: bool = Field(default=True, description="True: self-tuning never changes them; False: a starting point.")


class AdoptedOut(BaseModel):
    """Settings self-tuning adopted, and when."""

    name: str
    settings: dict[str, float]
    at: AwareDatetime


class RankingSettingsOut(BaseModel):
    """The tenant's ranking settings: in effect, its own, and what self-tuning adopted."""

    tenant: str
    effective: dict[str, Any] = Field(description="Every ranking setting as it applies to this tenant now.")
    settings: dict[str, Any] = Field(description="This tenant's own settings (an operator's).")
    pinned: bool
    tuned: AdoptedOut | None = Field(default=None, description="What self-tuning adopted (unused while pinned).")
    updated_at: AwareDatetime | None = None


def _settings_view(tenant: str, recommender: Recommender, tuner: Any) -> RankingSettingsOut:
    own = tuner.settings.get(tenant)
    adopted = tuner.adopted.get(tenant)
    updated = own["updated_at"] if own else None
    return RankingSettingsOut(
        tenant=tenant,
        effective=recommender.params(tenant).model_dump(),
        settings=dict(recommender.overrides.get(tenant, {})),
        pinned=recommender.pinned.get(tenant, False),
        tuned=AdoptedOut(**{**adopted, "at": _aware(adopted["at"])}) if adopted else None,
        updated_at=_aware(updated) if updated else None,
    )


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@router.get("/settings/ranking")
async def get_ranking_settings(principal: Admin, recommender: Model, tuner: Tuning) -> RankingSettingsOut:
    """Return the tenant's ranking settings: in effect, its own, and what self-tuning adopted."""
    return _settings_view(principal.tenant, recommender, tuner)


@router.put("/settings/ranking", responses={422: {"description": "A setting out of bounds"}})
async def put_ranking_settings(
    body: RankingSettingsIn, principal: Admin, recommender: Model, tuner: Tuning
) -> RankingSettingsOut:
    """Set the tenant's own ranking settings (radius, distance decay, weights, ...); pinned ones are never tuned."""
    checked: dict[str, Any] = body.settings.model_dump(exclude_none=True)  # each within its bounds already
    tenant = principal.tenant
    doc = await tuner.store.put_settings(tenant, checked, body.pinned, principal.key_id)
    tuner.settings[tenant] = doc
    tuner.adopted.pop(tenant, None)
    recommender.set_tenant(tenant, checked, body.pinned, None)
    return _settings_view(tenant, recommender, tuner)


@router.delete("/settings/ranking")
async def delete_ranking_settings(principal: Admin, recommender: Model, tuner: Tuning) -> RankingSettingsOut:
    """Forget the tenant's own settings and what self-tuning adopted: the defaults apply, and tuning resumes."""
    tenant = principal.tenant
    await tuner.store.delete_settings(tenant)
    tuner.settings.pop(tenant, None)
    tuner.adopted.pop(tenant, None)
    recommender.set_tenant(tenant, {}, False, None)
    return _settings_view(tenant, recommender, tuner)


class ConfigurationOut(BaseModel):
    """One configuration self-tuning tried, with its figures on the held-out joins."""

    name: str = Field(description="current (in effect when evaluated), defaults, or a named variation.")
    settings: dict[str, float]
    hr_at_10: float
    ndcg_at_10: float
    chosen: bool


class DifferenceOut(BaseModel):
    """NDCG@10 of the best configuration minus the current one's, paired by member, with a 95% interval."""

    mean: float
    low: float
    high: float


class QualityOut(BaseModel):
    """How well the tenant's ranking predicted its latest joins, each configuration tried, and the choice."""

    tenant: str
    status: Literal["adopted", "kept", "too_small", "pinned", "not_evaluated"] = Field(
        description="adopted: better settings now apply; kept: the current ones stay; too_small: not enough "
        "held-out joins (the settings in effect, the defaults unless set, are kept); pinned: an operator's "
        "settings apply; not_evaluated: no evaluation yet."
    )
    why: str
    evaluated_at: AwareDatetime | None = None
    next_evaluation: str = Field(description="When the tenant is evaluated again.")
    cutoff: AwareDatetime | None = Field(default=None, description="Joins after this were held out.")
    members: int = Field(0, description="Members evaluated (a sample of those with held-out joins).")
    held_out_joins: int = 0
    margin: float = Field(description="NDCG@10 gain needed to adopt other settings.")
    difference: DifferenceOut | None = None
    configurations: list[ConfigurationOut] = Field(default_factory=list)
    chosen: AdoptedOut | None = Field(default=None, description="The adopted settings in effect, and when chosen.")
    seconds: float = 0.0


@router.get("/model/quality")
async def model_quality(principal: Admin, tuner: Tuning) -> QualityOut:
    """Show the tenant's last self-tuning evaluation: each configuration's HR@10 and NDCG@10, the choice, and why."""
    tenant = principal.tenant
    interval = tuner.params.interval_seconds
    upcoming = (
        "never: self-tuning is off (RECOMMEND_TUNING__INTERVAL_SECONDS=0)"
        if interval <= 0
        else f"within {interval:g} s of the last evaluation, once the tenant has changed"
    )
    last = tuner.results.get(tenant)
    if last is None:
        return QualityOut(
            tenant=tenant,
            status="not_evaluated",
            why="not evaluated yet: the first evaluation runs once the service has the tenant's state",
            next_evaluation=upcoming,
            margin=tuner.params.margin,
        )
    chosen = last.get("chosen")
    return QualityOut(
        tenant=tenant,
        status=last["status"],
        why=last["why"],
        evaluated_at=_aware(last["evaluated_at"]),
        next_evaluation=upcoming,
        cutoff=_aware(last["cutoff"]) if last.get("cutoff") else None,
        members=last["members"],
        held_out_joins=last["held_out_joins"],
        margin=last["margin"],
        difference=DifferenceOut(**last["difference"]) if last.get("difference") else None,
        configurations=[ConfigurationOut(**c) for c in last["configurations"]],
        chosen=AdoptedOut(**{**chosen, "at": _aware(chosen["at"])}) if chosen else None,
        seconds=last["seconds"],
    )
