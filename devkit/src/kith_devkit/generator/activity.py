"""What members do in a community on one day: posts, comments, reactions, views, meet-ups.

Each function draws from the day's ``rng`` in a fixed order, so the stream stays identical per seed.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from kith_devkit.generator.plan import PlannedCommunity
from kith_devkit.generator.text import post_text, sentence
from kith_devkit.generator.vocabulary import COMMENTS, FOREIGN, REACTION_CUM, REACTIONS, WHEN
from kith_devkit.generator.world import DAY, HOUR, MINUTE, SECOND, community_id, location, member_id, poisson

if TYPE_CHECKING:
    from kith_devkit.generator.simulation import Simulation


# Expected actions per unit of member activity per day, in a community of average activity.
_POSTS_PER_DAY: Final = 0.065
_COMMENTS_PER_DAY: Final = 0.19
_REACTIONS_PER_DAY: Final = 0.25
_VIEWS_PER_DAY: Final = 0.45
_RECENT_POSTS: Final = 400

#: (time in ms since config.start, sequence, event type, data)
Row = tuple[int, int, str, dict[str, Any]]


@dataclass(slots=True)
class Post:
    """A post the simulation keeps to comment, react on and view: its time, author and comments."""

    time: int
    """When it was posted (ms since ``config.start``)."""
    id: str
    author: int
    """The author's member index."""
    community: int
    """The community's index."""
    deleted: int | None = None
    """When it is deleted (ms), if it is."""
    comments: list[tuple[int, str, int]] = field(default_factory=list)
    """(time, comment id, author's member index) of each comment, in time order."""


def _on_recent_posts(
    sim: Simulation,
    rng: random.Random,
    index: int,
    start: int,
    count: int,
    people: list[int],
    cum: list[float],
    spread: float = 8.0,
) -> Iterator[tuple[int, int, Post]]:
    """Yield (time, member, post) for ``count`` acts of the day on recent posts, by members drawn from ``cum``.

    Draws the times, then the members, then one post per act, in that order (the stream depends on it);
    acts of members gone by then, or finding no post, are dropped.
    """
    times = sim.times(rng, start, count)
    for at, member in zip(times, rng.choices(people, cum_weights=cum, k=count), strict=True):
        if sim.gone(index, member, at):
            continue
        post = sim.pick_post(rng, index, at, spread)
        if post is not None:
            yield at, member, post


def community_day(
    sim: Simulation,
    rng: random.Random,
    rows: list[Row],
    index: int,
    community: PlannedCommunity,
    rates: list[float],
    start: int,
    scale: float,
) -> None:
    """Draw one community's day: posts (some edited or deleted), comments, reactions, views and perhaps a meet-up."""
    cid = community_id(index)
    people = [member for member, joined in sim.active[index].items() if joined < start and rates[member] > 0]
    if not people:
        return
    if len(people) > 3 and rng.random() < len(people) * 0.0008:
        sim.leave(rng, rows, index, community, people, start)
    weights = [rates[member] for member in people]
    cum = list(itertools.accumulate(weights))
    total = cum[-1] * community.activity * scale
    if total <= 0:
        return
    themes = (
        [community.theme] if community.secondary is None else [community.theme, community.theme, community.secondary]
    )

    todays: list[Post] = []
    times = sim.times(rng, start, poisson(rng, total * _POSTS_PER_DAY))
    for at, author in zip(times, rng.choices(people, cum_weights=cum, k=len(times)), strict=True):
        if sim.gone(index, author, at):
            continue
        theme = rng.choice(themes)
        pid = sim.next_id("p")
        title, text, tags = post_text(rng, theme, community, people, author, sim.followees[author])
        payload: dict[str, Any] = {
            "community_id": cid, "member_id": member_id(author), "post_id": pid, "title": title,
            "text": text, "tags": tags,
        }  # fmt: skip
        rows.append(sim.row(at, "post.created", payload))
        post = Post(at, pid, author, index)
        todays.append(post)
        roll = rng.random()
        if roll < 0.05:
            edited = dict(payload)
            edited.pop("title")
            edited["text"] = text + " Edit: " + sentence(rng, theme, community)
            rows.append(sim.row(at + int(rng.expovariate(1 / HOUR)) + MINUTE, "post.edited", edited))
        elif roll < 0.06:
            post.deleted = at + int(rng.expovariate(1 / DAY)) + MINUTE
            sim.schedule(
                post.deleted, "post.deleted", {"community_id": cid, "member_id": member_id(author), "post_id": pid}
            )
    sim.posts[index].extend(todays)
    if len(sim.posts[index]) > _RECENT_POSTS:
        del sim.posts[index][:-_RECENT_POSTS]

    for at, author, post in _on_recent_posts(
        sim, rng, index, start, poisson(rng, total * _COMMENTS_PER_DAY), people, cum
    ):
        thread = post.comments[: bisect.bisect_left(post.comments, (at - MINUTE,))]
        parent: tuple[int, str, int] | None = None
        if thread and rng.random() < 0.45:
            parent = thread[-1 - min(int(rng.expovariate(0.7)), len(thread) - 1)]
        replied_to = parent[2] if parent is not None else post.author
        if replied_to == author:
            others = [c for c in thread[-10:] if c[2] != author]
            if others:
                parent = others[-1]
                replied_to = parent[2]
            elif post.author != author:
                parent, replied_to = None, post.author
            else:
                continue
        comment_id = sim.next_id("cm")
        theme = rng.choice(themes)
        text = rng.choice(COMMENTS).format(noun=rng.choice(theme.nouns), when=rng.choice(WHEN))
        if rng.random() < 0.04:
            text = rng.choice(FOREIGN).format(noun=rng.choice(theme.nouns))
        if rng.random() < 0.3:
            text = f"@{member_id(replied_to)} {text}"
        if rng.random() < 0.06:
            text = f"<p>{text}</p>"
        payload = {
            "community_id": cid, "member_id": member_id(author), "comment_id": comment_id, "post_id": post.id,
            "replied_to_member_id": member_id(replied_to), "text": text,
        }  # fmt: skip
        if parent is not None:
            payload["parent_id"] = parent[1]
        rows.append(sim.row(at, "comment.created", payload))
        post.comments.append((at, comment_id, author))
        sim.interact(rng, rows, author, replied_to, at, 1.0)

    for at, actor, post in _on_recent_posts(
        sim, rng, index, start, poisson(rng, total * _REACTIONS_PER_DAY), people, cum
    ):
        target_id, target_member = post.id, post.author
        if post.comments and rng.random() < 0.3:
            earlier = post.comments[: bisect.bisect_left(post.comments, (at - MINUTE,))]
            if earlier:
                _, target_id, target_member = rng.choice(earlier)
        if target_member == actor:
            continue
        reaction = rng.choices(REACTIONS, cum_weights=REACTION_CUM)[0]
        payload = {
            "community_id": cid, "member_id": member_id(actor), "target_id": target_id,
            "target_member_id": member_id(target_member), "reaction": reaction,
        }  # fmt: skip
        rows.append(sim.row(at, "reaction.added", payload))
        if rng.random() < 0.04:
            rows.append(
                sim.row(at + int(rng.expovariate(1 / (30 * MINUTE))) + SECOND, "reaction.removed", dict(payload))
            )
        sim.interact(rng, rows, actor, target_member, at, 0.5)

    count = poisson(rng, total * _VIEWS_PER_DAY)
    if count:
        # Lurkers read far more than they write: viewing is much less skewed than posting.
        view_cum = list(itertools.accumulate(math.sqrt(w) + 0.3 for w in weights))
        for at, viewer, post in _on_recent_posts(sim, rng, index, start, count, people, view_cum, spread=15.0):
            if post.author == viewer:
                continue
            seconds = round(min(900.0, max(1.0, rng.lognormvariate(2.5, 0.9))), 1)
            payload = {
                "community_id": cid, "member_id": member_id(viewer), "post_id": post.id,
                "author_member_id": member_id(post.author), "seconds": seconds,
            }  # fmt: skip
            rows.append(sim.row(at, "post.viewed", payload))

    if rng.random() < min(0.5, 0.02 * math.sqrt(len(people)) * community.activity * scale):
        meetup(sim, rng, rows, index, community, people, cum, start)
    if rng.random() < 0.002:
        sim.update_profile(rng, rows, index, community, start)


def meetup(
    sim: Simulation,
    rng: random.Random,
    rows: list[Row],
    index: int,
    community: PlannedCommunity,
    people: list[int],
    cum: list[float],
    start: int,
) -> None:
    """Host a meet-up in the evening and draw who attends it."""
    cid = community_id(index)
    host = (
        community.owner if community.owner in people and rng.random() < 0.5 else rng.choices(people, cum_weights=cum)[0]
    )
    at = start + (17 + rng.randint(0, 3)) * HOUR + rng.randint(0, 59) * MINUTE
    if sim.gone(index, host, at):
        return
    event_id = sim.next_id("e")
    hosted: dict[str, Any] = {"community_id": cid, "member_id": member_id(host), "event_id": event_id}
    if community.mode != "online":  # a local or hybrid club meets in its city
        hosted["location"] = location(community.city)
    rows.append(sim.row(at, "event.hosted", hosted))
    wanted = min(len(people) - 1, 2 + poisson(rng, math.sqrt(len(people))))
    attendees: dict[int, None] = {host: None}
    for _ in range(4 * wanted):
        if len(attendees) > wanted:
            break
        attendees[rng.choices(people, cum_weights=cum)[0]] = None
    for member in list(attendees)[1:]:
        when = at + 90 * MINUTE + rng.randint(0, 30) * MINUTE
        if not sim.gone(index, member, when):
            payload = {**hosted, "member_id": member_id(member)}
            rows.append(sim.row(when, "event.attended", payload))
