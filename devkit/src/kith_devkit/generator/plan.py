"""The plan: the members, communities and memberships drawn before the first day, as the simulation uses them.

Members and communities are indexes and times are milliseconds since ``config.start``; the draws
follow a fixed order, so one seed gives the identical plan in every process.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from kith_devkit.generator.vocabulary import CITIES, CITY_TAGS, DESCRIPTIONS, THEMES, WHEN, Theme
from kith_devkit.generator.world import (
    DAY,
    HOUR,
    MINUTE,
    SECOND,
    GeneratorConfig,
    Mode,
    Role,
    Visibility,
    rng_for,
)

#: Share of members who declare where they live (the others' place shows in the meet-ups they attend).
DECLARED_PLACE_SHARE: Final = 0.6
#: Share of a local community's joins drawn from anywhere rather than from its city (visitors, movers).
LOCAL_STRANGERS: Final = 0.03


@dataclass(slots=True)
class PlannedCommunity:
    """A community as the simulation uses it: indexes and milliseconds since the start, not ids and times."""

    theme: Theme
    secondary: Theme | None
    name: str
    description: str
    topics: list[str]
    visibility: Visibility
    owner: int
    created: int
    size: int
    activity: float
    city: str
    mode: Mode = "online"


@dataclass(slots=True)
class PlannedMember:
    """A member as the simulation uses it (times in milliseconds since the start)."""

    interests: list[Theme]
    activity: float
    role: Role
    signup: int
    fades: int | None
    city: str = ""
    declares_place: bool = False


@dataclass(slots=True)
class Plan:
    """Everything drawn before the first day: the world the simulation then plays out."""

    config: GeneratorConfig
    communities: list[PlannedCommunity]
    members: list[PlannedMember]
    #: (time, community, member, invited_by)
    joins: list[tuple[int, int, int, int | None]]
    #: (time, community, member) of moderators named after they joined
    moderators: list[tuple[int, int, int]]
    by_theme: dict[str, list[int]]
    planned: dict[tuple[int, int], int]


def _distinct(rng: random.Random, population: Sequence[Theme], cum: Sequence[float], k: int) -> list[Theme]:
    chosen: list[Theme] = []
    for _ in range(8 * k):
        theme = rng.choices(population, cum_weights=cum)[0]
        if theme not in chosen:
            chosen.append(theme)
            if len(chosen) == k:
                break
    return chosen


def draw_plan(config: GeneratorConfig) -> Plan:
    """Draw the members, the communities and the memberships they start with."""
    rng = rng_for(config, 1)
    horizon = config.days * DAY
    themes = list(THEMES)
    theme_cum = list(itertools.accumulate(1.0 / (rank + 2) ** 0.8 for rank in range(len(themes))))

    members: list[PlannedMember] = []
    for _ in range(config.members):
        count = rng.choices((1, 2, 3, 4), weights=(30, 35, 22, 13))[0]
        interests = _distinct(rng, themes, theme_cum, count)
        activity = rng.lognormvariate(0.0, 1.25)
        early = rng.random() < 0.7
        signup = int(rng.random() * (2 * DAY if early else horizon))
        members.append(PlannedMember(interests, activity, "member", signup, None))
    places = rng_for(config, 9)  # places have their own stream: the rest of the world is drawn as before
    for member in members:
        member.city = places.choice(CITIES)
        member.declares_place = places.random() < DECLARED_PLACE_SHARE
    ranked = sorted(m.activity for m in members)
    top_quartile = ranked[int(len(ranked) * 0.75)]
    mean = sum(ranked) / len(ranked)
    for member in members:
        member.activity /= mean
        chance = 0.3 if member.activity * mean >= top_quartile else 0.1
        if rng.random() < chance and member.signup < horizon // 4:
            member.fades = member.signup + int(rng.uniform(0.35, 0.7) * (horizon - member.signup))
    # A few staff and bots (none in a tiny world, where they would be most of it).
    staff_count = max(1, config.members // 400) if config.members >= 20 else 0
    bot_count = max(1, config.members // 600) if config.members >= 20 else 0
    specials = rng.sample(range(config.members), staff_count + bot_count)
    for position, index in enumerate(specials):
        member = members[index]
        member.signup = int(rng.random() * HOUR)
        member.fades = None
        if position < staff_count:
            member.role, member.activity = "staff", 3.0
        else:
            member.role, member.activity = "bot", 0.0

    by_theme: dict[str, list[int]] = {theme.tag: [] for theme in themes}
    for index, member in enumerate(members):
        if member.role != "bot":
            for theme in member.interests:
                by_theme[theme.tag].append(index)
    humans = [index for index, member in enumerate(members) if member.role != "bot"]

    raw_sizes = [rng.paretovariate(1.15) for _ in range(config.communities)]
    target = config.members * 2.6
    scale = target / sum(raw_sizes)
    cap = max(3, int(config.members * 0.2))
    names: dict[str, int] = {}
    communities: list[PlannedCommunity] = []
    community_themes: dict[str, list[int]] = {theme.tag: [] for theme in themes}
    for index in range(config.communities):
        theme = rng.choices(themes, cum_weights=theme_cum)[0]
        secondary = rng.choice(themes) if rng.random() < 0.3 else None
        if secondary is theme:
            secondary = None
        city = rng.choice(CITIES)
        stem = rng.choice(theme.stems)
        name = f"{city} {stem}" if rng.random() < 0.6 else stem
        for _ in range(5):
            if name not in names:
                break
            city = rng.choice(CITIES)
            name = f"{city} {stem}"
        names[name] = names.get(name, 0) + 1
        if names[name] > 1:
            name = f"{name} {names[name]}"
        topics = [theme.tag, *rng.sample(theme.related[1:] or theme.related, min(2, len(theme.related) - 1))]
        if secondary is not None:
            topics.append(secondary.tag)
        if name.startswith(city):
            topics.append(CITY_TAGS.get(city, city.lower()))
        topics = list(dict.fromkeys(topics))
        # A community named after its city meets there (now and then online too); the others meet online.
        mode: Mode = ("hybrid" if places.random() < 0.15 else "local") if name.startswith(city) else "online"
        tag2 = topics[1] if len(topics) > 1 else theme.tag
        description = rng.choice(DESCRIPTIONS).format(
            name=name, tag=theme.tag, tag2=tag2, when=rng.choice(WHEN), doing=rng.choice(theme.doings),
            city=city, noun=rng.choice(theme.nouns),
        )  # fmt: skip
        roll = rng.random()
        visibility: Visibility = "public" if roll < 0.87 else "private" if roll < 0.96 else "hidden"
        created = int(rng.random() * 6 * HOUR) if rng.random() < 0.75 else int(rng.random() * 0.85 * horizon)
        size = min(cap, max(3, round(raw_sizes[index] * scale)))
        candidates = by_theme[theme.tag] or humans
        owner = rng.choice(candidates)
        for _ in range(10):
            if members[owner].signup <= created:
                break
            owner = rng.choice(candidates)
        communities.append(
            PlannedCommunity(
                theme,
                secondary,
                name,
                description,
                topics,
                visibility,
                owner,
                created,
                size,
                rng.lognormvariate(0.0, 0.45),
                city,
                mode,
            )
        )
        community_themes[theme.tag].append(index)

    joins: list[tuple[int, int, int, int | None]] = []
    joined: list[dict[int, int]] = [{} for _ in communities]
    member_count = [0] * config.members

    def join(community: int, member: int, at: int, invited_by: int | None) -> None:
        joined[community][member] = at
        member_count[member] += 1
        joins.append((at, community, member, invited_by))

    by_city: dict[str, list[int]] = {city: [] for city in CITIES}
    for index in humans:
        by_city[members[index].city].append(index)
    for community in communities:
        if community.mode == "local":  # a local club's owner lives in its city
            owner_pool = [m for m in by_city[community.city] if community.theme in members[m].interests]
            community.owner = places.choice(owner_pool or by_city[community.city] or [community.owner])
    for index, community in enumerate(communities):
        join(index, community.owner, max(community.created, members[community.owner].signup) + SECOND, None)
        candidates = by_theme[community.theme.tag] or humans
        neighbours: list[int] = []
        themed: list[int] = []
        if community.mode == "local":  # members of a local club live in its city, bar a few
            neighbours = by_city[community.city]
            themed = [m for m in neighbours if community.theme in members[m].interests]
        for _ in range(4 * community.size):
            if len(joined[index]) >= community.size:
                break
            matching = rng.random() < 0.85
            pool = candidates if matching else humans
            if neighbours and places.random() >= LOCAL_STRANGERS:
                pool = themed if matching and themed else neighbours
            person = rng.choice(pool)
            if person in joined[index]:
                continue
            earliest = max(community.created, members[person].signup)
            at = earliest + int(rng.expovariate(1 / (1.5 * DAY)))
            invited = community.visibility == "hidden" or rng.random() < 0.12
            join(index, person, at, community.owner if invited else None)
    public = [index for index, c in enumerate(communities) if c.visibility == "public"] or [0]
    for index in specials:
        special = members[index]
        wanted = rng.randint(5, 25) if special.role == "bot" else rng.randint(3, 8)
        for place in rng.sample(public, min(wanted, len(public))):
            if index not in joined[place]:
                join(place, index, max(communities[place].created, special.signup) + MINUTE, None)
    for index, loner in enumerate(members):
        if member_count[index] == 0 and loner.role != "bot" and rng.random() < 0.85:
            options = [
                c
                for theme in loner.interests
                for c in community_themes[theme.tag]
                if communities[c].mode != "local" or communities[c].city == loner.city
            ] or public
            place = rng.choice(options)
            earliest = max(communities[place].created, loner.signup)
            join(place, index, earliest + int(rng.expovariate(1 / (2 * DAY))), None)

    moderators: list[tuple[int, int, int]] = []
    for index, community in enumerate(communities):
        if community.size >= 15:
            people = [m for m in joined[index] if m != community.owner and members[m].role == "member"]
            for chosen in rng.sample(people, min(len(people), rng.randint(1, 2))):
                moderators.append((joined[index][chosen] + 2 * DAY, index, chosen))
    joins.sort()
    planned = {(community, member): at for at, community, member, _ in joins}
    return Plan(config, communities, members, joins, moderators, community_themes, planned)
