"""Nurturing actions for community managers, each with a reason that names its numbers.

- an ``emerging`` group: create a community for it, named from its topics, inviting its most central
  members first; once a community was created for it (``seeded_from``), invite the rest of the group;
- an ``inside`` group: invite it to a sub-space or event of the community it sits in;
- any group with members slipping away: re-engage them through their closest ties in the group;
- any group: connect it with the most similar other group, by shared topics and existing ties
  (cosine of their topic shares plus the ties between them per member of the smaller group).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from kith_recommend.domain.microcommunities.detect import Detection
from kith_recommend.domain.microcommunities.summary import GroupSummary, Status

#: Topics named in a proposed community name.
NAME_TOPICS = 2
#: Members named in a reason.
NAMED_MEMBERS = 3


class ActionKind(StrEnum):
    """What a community manager could do for a group."""

    CREATE_COMMUNITY = "create_community"
    INVITE_TO_COMMUNITY = "invite_to_community"
    INVITE_TO_SUBSPACE = "invite_to_subspace"
    RE_ENGAGE = "re_engage"
    CONNECT_GROUPS = "connect_groups"


@dataclass(frozen=True, slots=True)
class Action:
    """One suggested action for one group, with who it concerns and why."""

    kind: ActionKind
    group_id: str
    reason: str
    members: tuple[str, ...] = ()  # whom to invite or contact, first ones first
    proposed_name: str | None = None
    community_id: str | None = None
    other_group_id: str | None = None
    title: str = field(default="", compare=False)  # a short heading for the reason


@dataclass(frozen=True, slots=True)
class SeededCommunity:
    """A community created for a group (its ``seeded_from``), and which of the group's members joined it."""

    community_id: str
    name: str
    joined: frozenset[str]


def nurture(
    detection: Detection,
    slipping: Collection[str] = (),
    community_names: Mapping[str, str] | None = None,
    seeded: Mapping[str, SeededCommunity] | None = None,
) -> list[Action]:
    """Return the actions for every group of a detection, group by group."""
    similar = most_similar(detection)
    return [
        action
        for summary in detection.groups
        for action in actions_for(detection, summary, slipping, community_names, seeded, similar.get(summary.id))
    ]


def actions_for(
    detection: Detection,
    summary: GroupSummary,
    slipping: Collection[str] = (),
    community_names: Mapping[str, str] | None = None,
    seeded: Mapping[str, SeededCommunity] | None = None,
    similar: str | None = None,
) -> list[Action]:
    """Return the actions for one group (``similar``: its most similar group, found here when not given)."""
    names = community_names or {}
    slipping_set = frozenset(slipping)
    seed = (seeded or {}).get(summary.id)
    actions: list[Action] = []
    if seed is not None and summary.status is not Status.MATCHES:
        if summary.group.members - seed.joined:
            actions.append(invite_to_community(summary, seed))
    elif summary.status is Status.EMERGING:
        actions.append(create_community(summary))
    elif summary.status is Status.INSIDE and summary.community_id is not None:
        actions.append(invite_to_subspace(summary, names.get(summary.community_id, summary.community_id)))
    if summary.group.members & slipping_set:
        actions.append(re_engage(summary, slipping_set))
    other = similar if similar is not None else most_similar(detection, summary.id).get(summary.id)
    if other is not None and other in detection.by_id:
        actions.append(connect(summary, detection.by_id[other], detection.ties_between(summary.id, other)))
    return actions


def proposed_name(summary: GroupSummary) -> str | None:
    """Return a community name made of the group's top topics, or None when it has none."""
    words = [t.term.lstrip("#").replace("_", " ").replace("-", " ").strip() for t in summary.topics[:NAME_TOPICS]]
    words = [w[:1].upper() + w[1:] for w in words if w]
    return " & ".join(words) or None


def create_community(summary: GroupSummary) -> Action:
    """Suggest creating a community for an emerging group."""
    name = proposed_name(summary)
    invite = summary.central
    if summary.unaffiliated == summary.size:
        apart = "none of them in a community with another"
    elif summary.unaffiliated:
        apart = f"{summary.unaffiliated} of them in no community with another"
    else:
        apart = "each in a community with another of them, though no community holds the group"
    reason = (
        f"{summary.size} members who interact with one another{_about(summary)} "
        f"({summary.cohesion.density:.0%} of their pairs are tied), {apart}. "
        f"Invite {_names(invite)} first: they are the most connected in the group."
    )
    title = f"Create a community for this group: {name}" if name else "Create a community for this group"
    return Action(ActionKind.CREATE_COMMUNITY, summary.id, reason, invite, proposed_name=name, title=title)


def invite_to_community(summary: GroupSummary, seed: SeededCommunity) -> Action:
    """Suggest inviting the members of a group who have not yet joined the community created for it."""
    missing = summary.group.members - seed.joined
    members = tuple(m for m in summary.central if m in missing) + tuple(sorted(missing - set(summary.central)))
    reason = (
        f"{seed.name} was created for this group; {len(seed.joined & summary.group.members)} of its "
        f"{summary.size} members joined. Invite {_names(members)}: they talk with the ones who did."
    )
    title = f"Invite the rest of the group to {seed.name}"
    return Action(
        ActionKind.INVITE_TO_COMMUNITY, summary.id, reason, members, community_id=seed.community_id, title=title
    )


def invite_to_subspace(summary: GroupSummary, community_name: str) -> Action:
    """Suggest a sub-space or event of the community an inside group sits in."""
    overlap = next(o for o in summary.overlaps if o.community_id == summary.community_id)
    reason = (
        f"{overlap.shared} of these {summary.size} members are in {community_name} "
        f"({overlap.community_size} members) and form a close group inside it{_about(summary)} "
        f"({summary.cohesion.density:.0%} of their pairs are tied): a sub-space or an event of "
        f"{community_name} would give them a place."
    )
    members = summary.central + tuple(sorted(summary.group.members - set(summary.central)))
    title = f"Give them a sub-space or an event in {community_name}"
    return Action(
        ActionKind.INVITE_TO_SUBSPACE, summary.id, reason, members, community_id=summary.community_id, title=title
    )


def re_engage(summary: GroupSummary, slipping: frozenset[str]) -> Action:
    """Suggest reaching the group's slipping members through their closest ties in it."""
    away = tuple(sorted(summary.group.members & slipping))
    anchors = tuple(m for m in summary.central if m not in slipping)
    via = f"; {_names(anchors)}, the most connected in the group, can bring them back" if anchors else ""
    reason = f"{len(away)} of the {summary.size} members of this group are slipping away ({_names(away)}){via}."
    title = f"Re-engage {len(away)} member{'s' if len(away) != 1 else ''} slipping away"
    return Action(ActionKind.RE_ENGAGE, summary.id, reason, away, title=title)


def connect(summary: GroupSummary, other: GroupSummary, ties: int) -> Action:
    """Suggest introducing a group to its most similar other group."""
    shared = _shared_topics(summary, other)
    parts = []
    if shared:
        parts.append(f"talks about {_list(shared)} like group {other.id} ({other.size} members)")
    else:
        parts.append(f"is close to group {other.id} ({other.size} members)")
    if ties:
        parts.append(f"{ties} {'tie already links' if ties == 1 else 'ties already link'} members of the two")
    else:
        parts.append("no tie links them yet")
    members = summary.central[:2] + other.central[:2]
    reason = f"This group of {summary.size} " + ", and ".join(parts) + f": introduce {_names(members)}."
    title = f"Introduce them to a similar group of {other.size}"
    return Action(ActionKind.CONNECT_GROUPS, summary.id, reason, members, other_group_id=other.id, title=title)


def most_similar(detection: Detection, only: str | None = None) -> dict[str, str]:
    """Return, per group (or for group ``only``), the other group most similar by shared topics and ties."""
    by_term: dict[str, list[str]] = {}
    for summary in detection.groups:
        for topic in summary.topics:
            by_term.setdefault(topic.term, []).append(summary.id)
    wanted = {s.id for s in detection.groups} if only is None else {only} & {s.id for s in detection.groups}
    candidates: dict[str, set[str]] = {group_id: set() for group_id in wanted}
    for ids in by_term.values():
        for a in ids:
            if a in candidates:
                candidates[a].update(b for b in ids if b != a)
    for a, b in detection.between:
        if a in candidates:
            candidates[a].add(b)
        if b in candidates:
            candidates[b].add(a)
    groups = detection.by_id
    best: dict[str, str] = {}
    for group_id, others in candidates.items():
        me = groups[group_id]
        scored = [(similarity(me, groups[o], detection.ties_between(group_id, o)), o) for o in others]
        scored = [(score, o) for score, o in scored if score > 0]
        if scored:
            best[group_id] = max(scored, key=lambda s: (s[0], s[1]))[1]
    return best


def similarity(a: GroupSummary, b: GroupSummary, ties: int) -> float:
    """Return cosine of the two groups' topic shares plus their ties per member of the smaller group."""
    shares_a = {t.term: t.share for t in a.topics}
    shares_b = {t.term: t.share for t in b.topics}
    dot = sum(v * shares_b.get(k, 0.0) for k, v in shares_a.items())
    norm = math.sqrt(sum(v * v for v in shares_a.values())) * math.sqrt(sum(v * v for v in shares_b.values()))
    cosine = dot / norm if norm > 0 else 0.0
    return cosine + min(1.0, ties / min(a.size, b.size))


def _shared_topics(a: GroupSummary, b: GroupSummary) -> list[str]:
    theirs = {t.term for t in b.topics}
    return [t.term for t in a.topics if t.term in theirs]


def _about(summary: GroupSummary) -> str:
    terms = [t.term for t in summary.topics[:NAMED_MEMBERS]]
    return f" about {_list(terms)}" if terms else ""


def _names(members: Sequence[str]) -> str:
    shown = list(members[:NAMED_MEMBERS])
    rest = len(members) - len(shown)
    if rest > 0:
        shown.append(f"{rest} more")
    return _list(shown)


def _list(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
