"""The generated world: what to generate, and the communities, members and first memberships it holds.

Everything is drawn from ``random.Random`` instances seeded from the config (:func:`rng_for`), and
nothing iterates a set or a hash-ordered mapping, so one seed gives the identical world in every process.
:mod:`.plan` draws the world; :func:`build_world` gives it ids and times.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final, Literal

from kith_devkit.generator.vocabulary import CITY_PLACES

if TYPE_CHECKING:
    from kith_devkit.generator.planting import PlantedGroup

SECOND: Final = 1_000
MINUTE: Final = 60 * SECOND
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR

Visibility = Literal["public", "private", "hidden"]
Role = Literal["member", "staff", "bot"]
Mode = Literal["online", "local", "hybrid"]


def location(city: str, jitter_km: float = 0.0, rng: random.Random | None = None) -> dict[str, object]:
    """Return a city's place as a contract location, moved up to ``jitter_km`` in each direction."""
    country, lat, lon = CITY_PLACES[city]
    if rng is not None and jitter_km > 0:
        lat += rng.uniform(-jitter_km, jitter_km) / 111.0
        lon += rng.uniform(-jitter_km, jitter_km) / (111.0 * max(math.cos(math.radians(lat)), 0.1))
    return {"name": city, "country": country, "latitude": round(lat, 4), "longitude": round(lon, 4)}


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """What to generate. The same config always gives the same events."""

    seed: int = 7
    communities: int = 300
    members: int = 3000
    days: int = 30
    start: datetime = datetime(2026, 10, 1, tzinfo=UTC)
    tenant: str = "demo"
    source: str = "app://kith-generator"
    activity: float = 1.0
    """Scales how much members do per day (1.0 gives about 100k events for the defaults)."""
    forming_groups: int | None = None
    """Planted forming groups (members close around a niche, no community of their own); None: one per 150 members."""
    subgroups: int | None = None
    """Planted close sub-groups inside large communities; None: one per 15 communities (as many as are large)."""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if self.communities < 1 or self.members < 2 or self.days < 1:
            raise ValueError("need at least 1 community, 2 members and 1 day")
        if self.activity < 0:
            raise ValueError("activity must not be negative")
        if (self.forming_groups or 0) < 0 or (self.subgroups or 0) < 0:
            raise ValueError("planted group counts must not be negative")


@dataclass(frozen=True, slots=True)
class WorldCommunity:
    """A generated community."""

    id: str
    name: str
    description: str
    topics: tuple[str, ...]
    visibility: Visibility
    owner_id: str
    created_at: datetime
    planned_size: int
    activity: float
    theme: str
    mode: Mode = "online"
    city: str | None = None
    """Where a local or hybrid community meets (None: online)."""


@dataclass(frozen=True, slots=True)
class WorldMember:
    """A generated member."""

    id: str
    interests: tuple[str, ...]
    activity: float
    """How much the member does, against the average member's 1.0 (staff 3.0; bots 0.0: they only post digests)."""
    role: Role
    signed_up_at: datetime
    fades_at: datetime | None
    """When this member goes quiet (does a few percent of what they did before), if they do."""
    city: str = ""
    """Where the member lives."""
    declares_place: bool = False
    """Whether the member declares where they live (member.profile.updated)."""


@dataclass(frozen=True, slots=True)
class PlannedMembership:
    """A membership drawn with the world (more join and some leave as the simulation runs)."""

    community_id: str
    member_id: str
    joined_at: datetime
    invited_by: str | None


@dataclass(frozen=True, slots=True)
class World:
    """Communities, members, the memberships they start with, and the groups planted among them."""

    config: GeneratorConfig
    communities: tuple[WorldCommunity, ...]
    members: tuple[WorldMember, ...]
    memberships: tuple[PlannedMembership, ...]
    planted: tuple[PlantedGroup, ...] = ()

    def community(self, community_id: str) -> WorldCommunity:
        """Return a community by id."""
        return self.communities[int(community_id.removeprefix("c-")) - 1]

    def member(self, member_id: str) -> WorldMember:
        """Return a member by id."""
        return self.members[int(member_id.removeprefix("m-")) - 1]


def community_id(index: int) -> str:
    """Return the id of the community at ``index`` (0-based)."""
    return f"c-{index + 1:04d}"


def member_id(index: int) -> str:
    """Return the id of the member at ``index`` (0-based)."""
    return f"m-{index + 1:05d}"


def rng_for(config: GeneratorConfig, stream: int, day: int = 0) -> random.Random:
    """Return the random stream ``stream`` (of day ``day``) of a config: independent streams, one seed."""
    return random.Random(config.seed * 1_000_003 + stream * 10_007 + day)


def poisson(rng: random.Random, lam: float) -> int:
    """Draw a Poisson count of mean ``lam`` (a normal approximation above 30)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def build_world(config: GeneratorConfig) -> World:
    """Draw the communities, the members and the memberships they start with."""
    from kith_devkit.generator.plan import draw_plan  # the plan and the planting are drawn in terms of the world
    from kith_devkit.generator.planting import plant, public_groups

    plan = draw_plan(config)
    origin = config.start

    def at(ms: int) -> datetime:
        return origin + timedelta(milliseconds=ms)

    communities = tuple(
        WorldCommunity(
            id=community_id(index),
            name=c.name,
            description=c.description,
            topics=tuple(c.topics),
            visibility=c.visibility,
            owner_id=member_id(c.owner),
            created_at=at(c.created),
            planned_size=c.size,
            activity=c.activity,
            theme=c.theme.tag,
            mode=c.mode,
            city=None if c.mode == "online" else c.city,
        )
        for index, c in enumerate(plan.communities)
    )
    members = tuple(
        WorldMember(
            id=member_id(index),
            interests=tuple(theme.tag for theme in m.interests),
            activity=m.activity,
            role=m.role,
            signed_up_at=at(m.signup),
            fades_at=None if m.fades is None else at(m.fades),
            city=m.city,
            declares_place=m.declares_place,
        )
        for index, m in enumerate(plan.members)
    )
    memberships = tuple(
        PlannedMembership(
            community_id=community_id(c),
            member_id=member_id(m),
            joined_at=at(when),
            invited_by=None if inviter is None else member_id(inviter),
        )
        for when, c, m, inviter in plan.joins
    )
    return World(config, communities, members, memberships, public_groups(plant(plan)))
