"""Planted micro-communities: groups the generator makes its members form, the ground truth for detection.

Two kinds, after the recipe of ``bench/communities/synthetic.py``:

- forming groups: members who share no community (no two of them joined the same one) and talk about a
  niche of their own: they post about it in their own communities, mentioning one another, and follow
  one another as the mentions add up (through the simulation's own follow rule). Those posts are off
  the host community's topic, so its other members leave them alone. A community for them does not
  exist yet: detection should call them ``emerging``;
- sub-groups: a close set of members inside one large community who reply to one another's posts about
  a topic of their own (in threads of their own, which the rest of the community leaves alone) and
  meet in small sessions: detection should call them ``inside``.

Members of planted groups are people of ordinary or low activity who joined early and do not fade, so
the groups are what they mostly do. Planting draws from its own random streams (:func:`rng_for`
streams 5 and 6), so the rest of the simulation draws what it drew before planting existed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from kith_devkit.generator.activity import Post, Row
from kith_devkit.generator.plan import Plan
from kith_devkit.generator.text import sentence
from kith_devkit.generator.vocabulary import COMMENTS, WHEN
from kith_devkit.generator.world import DAY, HOUR, MINUTE, community_id, member_id, rng_for

if TYPE_CHECKING:
    from kith_devkit.generator.simulation import Simulation

#: Niches forming groups talk about: tags no community is about, each pair a group's topics.
NICHES: Final[tuple[tuple[str, str], ...]] = (
    ("foraging", "mushrooms"), ("darkroom", "cyanotype"), ("bonsai", "moss"), ("origami", "tessellations"),
    ("synths", "modular"), ("calligraphy", "fountainpens"), ("bookbinding", "zines"), ("skateboarding", "miniramp"),
    ("rollerderby", "scrimmage"), ("urbansketching", "inkwash"), ("crosswords", "cryptics"), ("coldwater", "seaswim"),
    ("lockpicking", "locksport"), ("retrogaming", "speedruns"), ("terrariums", "succulents"), ("kites", "kitesurf"),
    ("ceilidh", "folkdance"), ("radio", "hamradio"), ("embroidery", "sashiko"), ("geocaching", "trackables"),
    ("puppetry", "marionettes"), ("tarot", "astrology"), ("cheesemaking", "curds"), ("stopmotion", "claymation"),
)  # fmt: skip
#: Planted groups' sizes (inclusive).
GROUP_SIZE: Final = (6, 12)
#: A community holds a sub-group only with at least this many planned members (three times the largest).
SUBGROUP_HOST_SIZE: Final = 3 * GROUP_SIZE[1]
#: Per member and day: chance of a post about the group's topic, and of a reply to a group mate's.
POST_CHANCE: Final = 0.45
REPLY_CHANCE: Final = 0.6
#: Chance per day that a sub-group meets in a small session.
SESSION_CHANCE: Final = 0.2
#: A sub-group's own recent posts its members reply to.
RECENT_POSTS: Final = 12


@dataclass(frozen=True, slots=True)
class PlantedGroup:
    """A group the generator makes its members form, with what it talks about and (sub-groups) where."""

    kind: Literal["forming", "subgroup"]
    members: tuple[str, ...]
    topics: tuple[str, ...]
    community_id: str | None


@dataclass(slots=True)
class Planted:
    """A planted group as the simulation uses it (indexes), with its recent posts."""

    kind: Literal["forming", "subgroup"]
    members: list[int]
    topics: list[str]
    community: int | None
    posts: list[Post] = field(default_factory=list)


def plant(plan: Plan) -> list[Planted]:
    """Choose the planted groups of a plan: forming groups first, then sub-groups of the largest communities."""
    config = plan.config
    rng = rng_for(config, 5)
    horizon = config.days * DAY
    joined: list[set[int]] = [set() for _ in plan.members]
    joined_at: dict[tuple[int, int], int] = {}
    for at, community, member, _ in plan.joins:
        joined[member].add(community)
        joined_at[(community, member)] = at
    ranked = sorted(m.activity for m in plan.members if m.role == "member") or [1.0]
    ordinary = ranked[int(len(ranked) * 0.6)]
    eligible = [
        index
        for index, m in enumerate(plan.members)
        if m.role == "member"
        and m.fades is None
        and m.signup < horizon // 10
        and m.activity <= ordinary
        and joined[index]
    ]
    used: set[int] = set()
    groups: list[Planted] = []
    wanted = config.forming_groups if config.forming_groups is not None else config.members // 150
    pool = eligible[:]
    rng.shuffle(pool)
    for number in range(wanted):
        size = rng.randint(*GROUP_SIZE)
        chosen: list[int] = []
        taken: set[int] = set()
        for candidate in pool:
            if len(chosen) == size:
                break
            if candidate in used or joined[candidate] & taken:
                continue
            chosen.append(candidate)
            taken |= joined[candidate]
        if len(chosen) < GROUP_SIZE[0]:
            break
        used.update(chosen)
        groups.append(Planted("forming", sorted(chosen), list(NICHES[number % len(NICHES)]), None))
    hosts = sorted(
        (i for i, c in enumerate(plan.communities) if c.size >= SUBGROUP_HOST_SIZE and c.visibility == "public"),
        key=lambda i: (-plan.communities[i].size, i),
    )
    wanted = config.subgroups if config.subgroups is not None else config.communities // 15
    for host in hosts[:wanted]:
        place = plan.communities[host]
        early = [
            m
            for m in eligible
            if m not in used and host in joined[m] and joined_at[(host, m)] < place.created + 2 * DAY
        ]
        size = rng.randint(*GROUP_SIZE)
        if len(early) < size:
            continue
        chosen = sorted(rng.sample(early, size))
        used.update(chosen)
        noun = rng.choice(place.theme.nouns).replace(" ", "").replace("-", "")
        groups.append(Planted("subgroup", chosen, [noun], host))
    return groups


def public_groups(planted: list[Planted]) -> tuple[PlantedGroup, ...]:
    """Return the planted groups with member and community ids."""
    return tuple(
        PlantedGroup(
            g.kind,
            tuple(member_id(m) for m in g.members),
            tuple(g.topics),
            None if g.community is None else community_id(g.community),
        )
        for g in planted
    )


def planted_day(sim: Simulation, rows: list[Row], number: int, start: int) -> None:
    """Draw one day of the planted groups' activity (their own random stream)."""
    rng = rng_for(sim.config, 6, number)
    scale = sim.config.activity
    for group in sim.planted:
        if group.kind == "forming":
            _forming_day(sim, rng, rows, group, start, scale)
        else:
            _subgroup_day(sim, rng, rows, group, start, scale)


def _present(sim: Simulation, community: int, member: int, at: int) -> bool:
    joined = sim.active[community].get(member)
    return sim.created[community] and joined is not None and joined < at and not sim.gone(community, member, at)


def _post(
    sim: Simulation,
    rng: random.Random,
    rows: list[Row],
    author: int,
    community: int,
    at: int,
    topics: list[str],
    mentioned: list[int],
    *,
    on_topic: bool,
) -> Post:
    """Write a post about the group's topics mentioning group mates; only one ``on_topic`` draws the community in."""
    planned = sim.plan.communities[community]
    text = " ".join(
        [sentence(rng, planned.theme, planned), *(f"#{t}" for t in topics), *(f"@{member_id(m)}" for m in mentioned)]
    )
    pid = sim.next_id("p")
    title = f"{topics[0].capitalize()} {rng.choice(WHEN)}"
    payload = {
        "community_id": community_id(community), "member_id": member_id(author), "post_id": pid, "title": title,
        "text": text, "tags": list(topics),
    }  # fmt: skip
    rows.append(sim.row(at, "post.created", payload))
    post = Post(at, pid, author, community)
    if on_topic:  # the community's other members comment, react and view as on any post
        sim.posts[community].append(post)
        sim.posts[community].sort(key=lambda p: p.time)
    for other in mentioned:
        sim.interact(rng, rows, author, other, at, 1.0)
    return post


def _forming_day(
    sim: Simulation, rng: random.Random, rows: list[Row], group: Planted, start: int, scale: float
) -> None:
    for author in group.members:
        if rng.random() >= POST_CHANCE * scale:
            continue
        at = start + (17 + rng.randint(0, 5)) * HOUR + rng.randint(0, 59) * MINUTE
        places = sorted(c for c in sim.memberships[author] if _present(sim, c, author, at))
        if not places:
            continue
        others = [m for m in group.members if m != author]
        mentioned = sorted(rng.sample(others, min(len(others), rng.randint(2, 4))))
        _post(sim, rng, rows, author, rng.choice(places), at, group.topics, mentioned, on_topic=False)


def _subgroup_day(
    sim: Simulation, rng: random.Random, rows: list[Row], group: Planted, start: int, scale: float
) -> None:
    host = group.community
    if host is None:
        return
    cid = community_id(host)
    morning = start + 9 * HOUR
    for author in group.members:
        if rng.random() < POST_CHANCE * scale * 0.5:
            at = morning + rng.randint(0, 8 * 60) * MINUTE
            if _present(sim, host, author, at):
                group.posts.append(_post(sim, rng, rows, author, host, at, group.topics, [], on_topic=False))
    del group.posts[:-RECENT_POSTS]
    for member in group.members:
        if rng.random() >= REPLY_CHANCE * scale:
            continue
        at = start + (18 + rng.randint(0, 4)) * HOUR + rng.randint(0, 59) * MINUTE
        options = [p for p in group.posts if p.author != member and p.time < at - MINUTE and p.deleted is None]
        if not options or not _present(sim, host, member, at):
            continue
        post = rng.choice(options)
        comment_id = sim.next_id("cm")
        text = rng.choice(COMMENTS).format(noun=f"#{group.topics[0]}", when=rng.choice(WHEN))
        payload = {
            "community_id": cid, "member_id": member_id(member), "comment_id": comment_id, "post_id": post.id,
            "replied_to_member_id": member_id(post.author), "text": text,
        }  # fmt: skip
        rows.append(sim.row(at, "comment.created", payload))
        post.comments.append((at, comment_id, member))
        sim.interact(rng, rows, member, post.author, at, 1.0)
    if rng.random() < SESSION_CHANCE * scale:
        present = [m for m in group.members if _present(sim, host, m, start + 19 * HOUR)]
        if len(present) >= 3:
            host_member, *guests = rng.sample(present, min(len(present), rng.randint(3, 6)))
            event_id = sim.next_id("e")
            at = start + 19 * HOUR + rng.randint(0, 59) * MINUTE
            hosted = {"community_id": cid, "member_id": member_id(host_member), "event_id": event_id}
            rows.append(sim.row(at, "event.hosted", hosted))
            for guest in sorted(guests):
                attended = {"community_id": cid, "member_id": member_id(guest), "event_id": event_id}
                rows.append(sim.row(at + 90 * MINUTE, "event.attended", attended))
