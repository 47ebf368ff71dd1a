"""The simulation: the world's state as days pass, and what happens on each day, in time order.

A day draws, for every created community with members, the activity of :mod:`.activity`; then bots
post their digests, a few members join new communities, and the planted groups of :mod:`.planting`
do their day; then scheduled rows (joins, deletions, unfollows) fall due. Rows are
``(time in ms since config.start, sequence, event type, data)``.
"""

from __future__ import annotations

import bisect
import heapq
import random
from datetime import timedelta
from typing import Any, Final

from kith_devkit.generator.activity import Post, Row, community_day
from kith_devkit.generator.plan import Plan, PlannedCommunity
from kith_devkit.generator.planting import plant, planted_day
from kith_devkit.generator.vocabulary import HOUR_CUM, HOURS, WHEN
from kith_devkit.generator.world import (
    DAY,
    HOUR,
    MINUTE,
    SECOND,
    community_id,
    location,
    member_id,
    poisson,
    rng_for,
)

#: How much a member still does after fading out ("slipping away").
_FADED: Final = 0.04
#: Interactions (replies count 1, reactions and mentions 0.5) after which a member may follow another.
_FOLLOW_AFTER: Final = 2.0


class Simulation:
    """The running state of the world; ``day(n)`` returns that day's rows in time order."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.config = plan.config
        self.seq = 0
        self.counters: dict[str, int] = {}
        self.pending: list[Row] = []
        #: community -> {member: joined at}; insertion-ordered so iteration is deterministic
        self.active: list[dict[int, int]] = [{} for _ in plan.communities]
        self.memberships: list[dict[int, None]] = [{} for _ in plan.members]
        self.posts: list[list[Post]] = [[] for _ in plan.communities]
        self.ties: dict[tuple[int, int], float] = {}
        self.following: dict[tuple[int, int], None] = {}
        self.followees: list[list[int]] = [[] for _ in plan.members]
        self.left: dict[tuple[int, int], int] = {}
        self.created: list[bool] = [False] * len(plan.communities)
        self.planted = plant(plan)
        cfg = self.config
        rng = rng_for(cfg, 2)
        places = rng_for(cfg, 10)
        for index, member in enumerate(plan.members):
            tags = [theme.tag for theme in member.interests]
            self.schedule(
                member.signup, "member.interests.declared", {"member_id": member_id(index), "interests": tags}
            )
            if member.role != "member":
                self.schedule(
                    member.signup + SECOND, "member.role.set", {"member_id": member_id(index), "role": member.role}
                )
            elif member.declares_place:
                home = location(member.city, 8.0, places)
                self.schedule(member.signup + 2 * SECOND, "member.profile.updated", {"member_id": member_id(index),
                                                                                     "location": home})  # fmt: skip
        for index, community in enumerate(plan.communities):
            cid = community_id(index)
            self.schedule(
                community.created,
                "community.created",
                {
                    "community_id": cid, "name": community.name, "description": community.description,
                    "topics": community.topics, "visibility": community.visibility,
                    "owner_id": member_id(community.owner), "mode": community.mode,
                    **({"location": location(community.city)} if community.mode != "online" else {}),
                },
            )  # fmt: skip
            owner_join = max(community.created, plan.members[community.owner].signup) + 2 * SECOND
            self.schedule(
                owner_join,
                "member.role.set",
                {"member_id": member_id(community.owner), "community_id": cid, "role": "owner"},
            )
        for at, where, who, inviter in plan.joins:
            payload: dict[str, Any] = {"community_id": community_id(where), "member_id": member_id(who)}
            if inviter is not None and inviter != who:
                payload["invited_by"] = member_id(inviter)
            self.schedule(at, "member.joined", payload)
        for at, where, who in plan.moderators:
            role = {"member_id": member_id(who), "community_id": community_id(where), "role": "moderator"}
            self.schedule(at + int(rng.random() * DAY), "member.role.set", role)

    # -- bookkeeping ---------------------------------------------------------------------------

    def next_id(self, kind: str) -> str:
        """Return the next id of a kind of object (post, comment, event)."""
        value = self.counters.get(kind, 0) + 1
        self.counters[kind] = value
        return f"{kind}-{value:07d}"

    def row(self, at: int, event_type: str, payload: dict[str, Any]) -> Row:
        """Return a row numbered in the order rows are made (ties in time keep that order)."""
        self.seq += 1
        return (at, self.seq, event_type, payload)

    def schedule(self, at: int, event_type: str, payload: dict[str, Any]) -> None:
        """Put a row on the queue of rows that fall due on later days."""
        heapq.heappush(self.pending, self.row(at, event_type, payload))

    def apply(self, row: Row) -> None:
        """Update membership state when a scheduled row happens."""
        at, _, event_type, payload = row
        if event_type == "member.joined":
            community = int(payload["community_id"][2:]) - 1
            member = int(payload["member_id"][2:]) - 1
            self.active[community][member] = at
            self.memberships[member][community] = None
        elif event_type == "community.created":
            self.created[int(payload["community_id"][2:]) - 1] = True

    # -- one day -------------------------------------------------------------------------------

    def day(self, number: int) -> list[Row]:
        """Simulate one day; return its rows sorted by time."""
        cfg = self.config
        rng = rng_for(cfg, 3, number)
        start, end = number * DAY, (number + 1) * DAY
        rows: list[Row] = []
        weekend = 1.25 if (cfg.start + timedelta(days=number)).weekday() >= 5 else 1.0
        rates = [
            (m.activity * (_FADED if m.fades is not None and start >= m.fades else 1.0)) if m.role != "bot" else 0.0
            for m in self.plan.members
        ]
        # Members who joined before today take part today; today's joins act from tomorrow.
        for index, community in enumerate(self.plan.communities):
            if not self.created[index] or not self.active[index]:
                continue
            community_day(self, rng, rows, index, community, rates, start, weekend * cfg.activity)
        self.bots(rng, rows, start)
        self.organic(rng, rows, start)
        planted_day(self, rows, number, start)
        while self.pending and self.pending[0][0] < end:
            row = heapq.heappop(self.pending)
            self.apply(row)
            rows.append(row)
        future = [row for row in rows if row[0] >= end]
        if future:
            rows = [row for row in rows if row[0] < end]
            for row in future:
                heapq.heappush(self.pending, row)
        rows.sort(key=lambda row: (row[0], row[1]))
        return rows

    def times(self, rng: random.Random, start: int, count: int) -> list[int]:
        """Return ``count`` times of the day starting at ``start``, busier in the evening, sorted."""
        hours = rng.choices(HOURS, cum_weights=HOUR_CUM, k=count)
        return sorted(start + hour * HOUR + int(rng.random() * HOUR) for hour in hours)

    def gone(self, community: int, member: int, at: int) -> bool:
        """Tell whether a member had left a community by ``at``."""
        left = self.left.get((community, member))
        return left is not None and at >= left

    def pick_post(self, rng: random.Random, community: int, at: int, spread: float = 8.0) -> Post | None:
        """Return a recent post of a community not deleted by ``at`` (the newest the likeliest), or None."""
        posts = self.posts[community]
        before = bisect.bisect_left(posts, at - MINUTE, key=lambda post: post.time)
        for _ in range(3):
            if before == 0:
                return None
            post = posts[before - 1 - min(int(rng.expovariate(1 / spread)), before - 1)]
            if post.deleted is None or post.deleted > at:
                return post
        return None

    def interact(self, rng: random.Random, rows: list[Row], actor: int, other: int, at: int, weight: float) -> None:
        """Count an interaction of ``actor`` with ``other``; enough of them may make ``actor`` follow ``other``."""
        key = (actor, other)
        before = self.ties.get(key, 0.0)
        now = before + weight
        self.ties[key] = now
        if before < _FOLLOW_AFTER <= now and key not in self.following and rng.random() < 0.6:
            self.following[key] = None
            self.followees[actor].append(other)
            when = at + int(rng.expovariate(1 / HOUR)) + SECOND
            payload = {"member_id": member_id(actor), "followed_member_id": member_id(other)}
            rows.append(self.row(when, "member.followed", payload))
            if rng.random() < 0.03:
                later = when + int(rng.uniform(1, 10) * DAY)
                self.schedule(later, "member.unfollowed", dict(payload))

    def update_profile(
        self, rng: random.Random, rows: list[Row], index: int, community: PlannedCommunity, start: int
    ) -> None:
        """Change a community's topics, description or visibility."""
        payload: dict[str, Any] = {"community_id": community_id(index)}
        roll = rng.random()
        if roll < 0.5:
            extra = rng.choice(community.theme.related)
            community.topics = list(dict.fromkeys([*community.topics, extra]))
            payload["topics"] = community.topics
        elif roll < 0.9:
            community.description = (
                f"{community.description} New: we now {rng.choice(community.theme.doings)} {rng.choice(WHEN)}."
            )
            payload["description"] = community.description
        else:
            community.visibility = "private" if community.visibility == "public" else "public"
            payload["visibility"] = community.visibility
        rows.append(self.row(start + int(rng.random() * DAY), "community.updated", payload))

    def leave(
        self,
        rng: random.Random,
        rows: list[Row],
        index: int,
        community: PlannedCommunity,
        people: list[int],
        start: int,
    ) -> None:
        """Make a member other than the owner leave a community (a few are removed or banned)."""
        member = rng.choice(people)
        if member == community.owner:
            return
        at = start + int(rng.random() * DAY)
        roll = rng.random()
        reason = "left" if roll < 0.9 else "removed" if roll < 0.97 else "banned"
        cid = community_id(index)
        rows.append(
            self.row(at, "member.left", {"community_id": cid, "member_id": member_id(member), "reason": reason})
        )
        if reason == "banned":
            rows.append(self.row(at + SECOND, "member.blocked", {"community_id": cid, "member_id": member_id(member)}))
        self.left[(index, member)] = at
        del self.active[index][member]
        self.memberships[member].pop(index, None)

    def bots(self, rng: random.Random, rows: list[Row], start: int) -> None:
        """Post the bots' daily digests in their communities."""
        for index, member in enumerate(self.plan.members):
            if member.role != "bot":
                continue
            for community in list(self.memberships[index]):
                if rng.random() >= 0.25 or not self.created[community]:
                    continue
                at = start + 9 * HOUR + rng.randint(0, 59) * MINUTE
                theme = self.plan.communities[community].theme
                pid = self.next_id("p")
                link = f"https://digest.example.com/{theme.tag}/{pid}"
                text = (
                    f"<p><b>Daily digest</b> for {self.plan.communities[community].name}: new posts about "
                    f"{' and '.join(rng.sample(theme.nouns, 2))}. "
                    f'Read more: <a href="{link}">{link}</a></p>'
                )
                payload = {
                    "community_id": community_id(community), "member_id": member_id(index), "post_id": pid,
                    "title": "Daily digest", "text": text, "tags": [theme.tag],
                }  # fmt: skip
                rows.append(self.row(at, "post.created", payload))
                post = Post(at, pid, index, community)
                self.posts[community].append(post)
                self.posts[community].sort(key=lambda p: p.time)

    def organic(self, rng: random.Random, rows: list[Row], start: int) -> None:
        """Join a few members to new communities: by interest, or where people they follow are."""
        plan = self.plan
        for _ in range(poisson(rng, len(plan.members) * 0.003)):
            member = rng.randrange(len(plan.members))
            profile = plan.members[member]
            if profile.role == "bot" or profile.signup >= start:
                continue
            community: int | None = None
            followees = self.followees[member]
            if followees and rng.random() < 0.4:
                friend = rng.choice(followees)
                options = list(self.memberships[friend])
                if options:
                    community = rng.choice(options)
            if community is None:
                theme = rng.choice(profile.interests)
                options = plan.by_theme[theme.tag]
                if options:
                    community = rng.choice(options)
            if (
                community is None
                or not self.created[community]
                or community in self.memberships[member]
                or (community, member) in plan.planned
                or plan.communities[community].visibility == "hidden"
                or (plan.communities[community].mode == "local" and plan.communities[community].city != profile.city)
            ):
                continue
            at = start + int(rng.random() * DAY)
            self.left.pop((community, member), None)
            rows.append(
                self.row(at, "member.joined", {"community_id": community_id(community), "member_id": member_id(member)})
            )
            self.active[community][member] = at
            self.memberships[member][community] = None
