"""Readable reasons for a suggestion: why a community is suggested to a member, or is like another."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kith_recommend.domain.compiled import MODES, CompiledModel
from kith_recommend.domain.model import MemberProfile
from kith_recommend.domain.places import PlaceEffect
from kith_recommend.domain.sources import Scores
from kith_shared.words import is_stopword


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a community is suggested, for a person to read."""

    kind: str
    text: str


def shared_members(model: CompiledModel, a: int, b: int) -> int:
    """Count the members two communities have in common."""
    col = model.members_of
    left = col.indices[col.indptr[a] : col.indptr[a + 1]]
    right = col.indices[col.indptr[b] : col.indptr[b + 1]]
    return int(np.intersect1d(left, right, assume_unique=True).size)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def similar_reasons(model: CompiledModel, a: int, b: int) -> list[Reason]:
    """Say why community ``b`` is like ``a``: the members they share, the topics they both declared."""
    out = []
    common = shared_members(model, a, b)
    if common:
        out.append(Reason("co_membership", f"{_plural(common, 'member', 'members')} in common"))
    shared = [t for t in model.topics[b] if t in set(model.topics[a]) and not is_stopword(t)]
    if shared:
        out.append(Reason("topic", "also about " + ", ".join(f"#{t}" for t in shared[:3])))
    return out


def _speaks_of(tag: str, declared: set[str], interests: set[str]) -> bool:
    """Tell whether a tag may name a topic in a reason: the community declared it, or the member did.

    Tags a community declared are its own words for what it is about, and a member's declared
    interests theirs. Words only taken from what is written ("helps", "tips", "bring") are not
    named, even when they weigh in the topic score: a reason names a topic someone chose.
    """
    return tag in declared or (tag in interests and len(tag) >= 3 and not is_stopword(tag))


class Explainer:
    """Readable reasons for the communities picked, computed for those only, in a few matrix operations."""

    def __init__(
        self,
        model: CompiledModel,
        profile: MemberProfile,
        scores: Scores,
        chosen: list[int],
        places: PlaceEffect | None,
        small_size: int,
    ) -> None:
        self.model = model
        self.small_size = small_size
        self.profile = profile
        self.scores = scores
        self.places = places
        self.position = {c: p for p, c in enumerate(chosen)}
        self.chosen = chosen
        items = np.asarray(chosen, dtype=np.int64)
        joined = np.asarray([model.index[c] for c in profile.joined if c in model.index], dtype=np.int64)
        self.joined = joined
        # contributions[j, p]: how much joined community j pulls chosen community p.
        self.contributions = (
            (model.co[joined][:, items].toarray() / np.maximum(model.size[joined], 1.0)[:, None])
            if joined.size and items.size
            else np.zeros((0, len(chosen)))
        )
        followed = [model.member_index[m] for m in profile.follows if m in model.member_index]
        interacted = [
            model.member_index[m] for m in profile.interacts if m in model.member_index and m not in profile.follows
        ]
        self.followed = self._members_in(followed, items)
        self.replied = self._members_in(interacted, items)
        self.topics = model.topic_matrix[items] if scores.member_topics and items.size else None
        self.vocabulary = {i: t for t, i in model.vocabulary.items()} if scores.member_topics else {}

    def _members_in(self, members: list[int], items: np.ndarray) -> npt.NDArray[np.int64]:
        if not members or not items.size:
            return np.zeros(len(items), dtype=np.int64)
        inside = self.model.memberships[np.asarray(members, dtype=np.int64)][:, items]
        return np.asarray((inside > 0).sum(axis=0), dtype=np.int64).ravel()

    def sources(self, i: int) -> dict[str, float]:
        s = self.scores
        return {
            "co_membership": round(float(s.co[i]), 6),
            "social": round(float(s.social[i]), 6),
            "topic": round(float(s.topic[i]), 6),
            "trending": round(float(self.model.trend[i]), 6),
            "popularity": round(float(self.model.popularity[i]), 6),
        }

    def reasons(self, i: int) -> list[Reason]:
        m = self.model
        p = self.position[i]
        out: list[Reason] = []
        place = self._place_reason(i)
        replied = int(self.replied[p])
        if replied:
            verb = "is" if replied == 1 else "are"
            out.append(Reason("social", f"{_plural(replied, 'person', 'people')} you replied to {verb} active here"))
        followed = int(self.followed[p])
        if followed:
            verb = "is a member" if followed == 1 else "are members"
            out.append(Reason("social", f"{_plural(followed, 'person', 'people')} you follow {verb} here"))
        if self.scores.co[i] > 0 and self.contributions.shape[0]:
            column = self.contributions[:, p]
            if column.max() > 0:
                best = int(self.joined[int(np.argmax(column))])
                out.append(Reason("co_membership", f"members of {m.names[best]} also joined this"))
        if self.scores.topic[i] > 0:
            out.extend(self._topic_reason(p))
        if m.trend[i] >= 0.5 and m.recent_joins[i] >= 3:
            out.append(Reason("trending", "growing fast this week"))
        small = m.size[i] <= self.small_size and m.active[i] >= 0.5
        if small and out:
            out.append(Reason("small", f"a small, active community ({_plural(int(m.size[i]), 'member', 'members')})"))
        if not out:
            text = "popular with members like you" if self.joined.size else "popular in this network right now"
            out.append(Reason("popularity", text))
        return [place, *out] if place is not None else out

    def _place_reason(self, i: int) -> Reason | None:
        """Say where a local or hybrid community meets, and how far that is from the member when known."""
        m = self.model
        mode = MODES[int(m.mode[i])]
        name = m.place_names[i]
        if mode == "online" or not name:
            return None
        text = f"meets in {name}"
        distance = float(self.places.distance[i]) if self.places is not None else math.nan
        if not math.isnan(distance):
            text += ", under 1 km from you" if distance < 1 else f", {distance:.0f} km from you"
        if mode == "hybrid":
            text += ", and online"
        return Reason("place", text)

    def _topic_reason(self, p: int) -> list[Reason]:
        if self.topics is None:
            return []
        start, end = self.topics.indptr[p], self.topics.indptr[p + 1]
        declared = set(self.model.topics[self.chosen[p]])
        interests = set(self.profile.interests)
        best_tag, best = None, 0.0
        for col, w in zip(self.topics.indices[start:end], self.topics.data[start:end], strict=True):
            mine = self.scores.member_topics.get(int(col), 0.0)
            tag = self.vocabulary.get(int(col))
            if mine * w > best and tag is not None and _speaks_of(tag, declared, interests):
                best_tag, best = tag, mine * w
        if best_tag is None:
            return []
        if best_tag in self.profile.tags:
            return [Reason("topic", f"close to #{best_tag}, which you post about")]
        return [Reason("topic", f"matches your interest in #{best_tag}")]
