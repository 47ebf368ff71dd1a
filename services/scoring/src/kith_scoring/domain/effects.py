"""Turn a batch of normalized events into merged, commutative document updates.

Nothing here touches a database: the consumer reads what this needs (tenant configurations,
erased members) and writes what it returns, and the rebuild and the tests reuse it unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from kith_scoring.domain.config import SCORED_TYPES, TenantConfig
from kith_scoring.domain.decay import bucket_field, day_key, forward_term, type_key
from kith_scoring.domain.docops import DocUpdate
from kith_scoring.domain.documents import (
    COMMUNITIES,
    COMMUNITY_DAYS,
    FIGURE_COLLECTIONS,
    MEMBER_COMMUNITIES,
    MEMBERS,
    ROLES,
    MemberCommunityDoc,
    community_day_id,
    community_doc_id,
    member_community_id,
    member_doc_id,
    role_doc_id,
)
from kith_scoring.domain.identity import anonymous_token, identity_hash, moment, stamp
from kith_scoring.domain.roles import PLATFORM_SCOPE
from kith_shared.events import Event
from kith_shared.events.data import CommentCreated, PostCreated

RECENT_SORT: Final = ("t", "id")


def _safe_key(text: str) -> str | None:
    cleaned = text.strip().lower()
    if not cleaned or "." in cleaned or cleaned.startswith("$") or "\x00" in cleaned or len(cleaned) > 64:
        return None
    return cleaned


@dataclass
class Erasure:
    """A member to erase (or, with ``reinstate``, whose tombstone to forget)."""

    tenant: str
    member: str
    at: datetime
    reinstate: bool = False


@dataclass
class BatchEffects:
    """Everything a batch changes, one merged update per document."""

    updates: dict[str, dict[str, DocUpdate]] = field(default_factory=lambda: {c: {} for c in FIGURE_COLLECTIONS})
    erasures: list[Erasure] = field(default_factory=list)
    #: Member-in-community documents whose score may have moved: id -> (tenant, community, member).
    touched: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    applied: int = 0

    def doc(self, collection: str, doc_id: str) -> DocUpdate:
        """Return the pending update of one document."""
        return self.updates[collection].setdefault(doc_id, DocUpdate())

    @property
    def documents(self) -> int:
        """Return how many documents the batch writes."""
        return sum(len(docs) for docs in self.updates.values())

    def drop_known_roll_ups(self, before: Mapping[str, MemberCommunityDoc]) -> None:
        """Leave out member roll-ups of pairs already known (``before``: the pairs' stored documents).

        A roll-up only lists a member's communities, so it needs writing only for a member new in a
        community. A document made only by replies received is not the member's own presence yet.
        """
        known = {key for key, doc in before.items() if "last" in doc or "left_last" in doc}
        new = {member_doc_id(t, m) for key, (t, _, m) in self.touched.items() if key not in known}
        members = self.updates[MEMBERS]
        for doc_id in [i for i in members if i not in new]:
            del members[doc_id]

    def drop_stale_marks(self, marks: Mapping[str, datetime | None]) -> None:
        """Leave out community updates that only move ``last_event`` to where it already is (or before).

        ``marks``: the stored ``last_event`` of the communities the batch touches, by document id.
        """
        places = self.updates[COMMUNITIES]
        for doc_id, update in list(places.items()):
            mark = marks.get(doc_id)
            only_mark = set(update.max) == {"last_event"} and not update.min and not update.inc
            if only_mark and mark is not None and update.max["last_event"] <= mark:
                del places[doc_id]


@dataclass
class EffectContext:
    """What building effects needs to know besides the events."""

    configs: Mapping[str, TenantConfig]
    erased: Mapping[tuple[str, str], str] = field(default_factory=dict)
    recent_cap: int = 20
    #: Key of the stand-in ids (see :func:`anonymous_token`).
    salt: str = ""

    def config(self, tenant: str) -> TenantConfig:
        """Return a tenant's configuration history (defaults when none is stored)."""
        return self.configs.get(tenant) or TenantConfig()

    def who(self, tenant: str, member: str) -> tuple[str, bool]:
        """Return the id figures are kept under and whether it stands for an erased member."""
        token = self.erased.get((tenant, member))
        return (token, True) if token is not None else (member, False)

    def pseudonym(self, tenant: str, member: str) -> str:
        """Return the stand-in id a member is recorded under where only "who is it" matters (posts' authors
        and responders): nothing to rewrite when the member is erased."""
        token, anonymous = self.who(tenant, member)
        return token if anonymous else anonymous_token(self.salt, tenant, member)


def build_effects(events: list[Event], context: EffectContext) -> BatchEffects:
    """Return the merged updates of a batch of distinct events (duplicates removed beforehand)."""
    effects = BatchEffects()
    for event in events:
        add_event(effects, event, context)
    return effects


def add_event(effects: BatchEffects, event: Event, context: EffectContext) -> None:
    """Fold one event's effects into ``effects``."""
    effects.applied += 1
    if event.type in SCORED_TYPES:
        _activity(effects, event, context)
    elif event.type == "member.role.set":
        _role(effects, event, context)
    elif event.type in ("community.created", "community.updated"):
        _community(effects, event)
    elif event.type == "member.erased":
        effects.erasures.append(Erasure(event.tenant, event.data.member_id, moment(event.time)))
    elif event.type == "member.reinstated":
        effects.erasures.append(Erasure(event.tenant, event.data.member_id, moment(event.time), reinstate=True))


def _activity(effects: BatchEffects, event: Event, context: EffectContext) -> None:
    tenant = event.tenant
    data: Any = event.data
    community: str = data.community_id
    member, anonymous = context.who(tenant, data.member_id)
    at = moment(event.time)
    day = day_key(at)
    tkey = type_key(event.type)
    config = context.config(tenant)
    version = config.at(moment(event.receivedtime or event.time))
    weight = version.config.weight(event.type)

    key = member_community_id(tenant, community, member)
    doc = effects.doc(MEMBER_COMMUNITIES, key)
    doc.set_on_insert(tenant=tenant, community_id=community, member_id=member, anonymous=anonymous)
    doc.add(f"c.{day}.{tkey}", 1)
    if weight != 0.0:
        doc.add(
            f"f.{day}.{bucket_field(version.version, event.type)}",
            forward_term(weight, at, version.config.half_life_days),
        )
    if event.type == "member.left":
        doc.highest("left_last", at)
    else:
        doc.highest(f"lt.{day}", at)
        doc.lowest("first", at)
        doc.highest("last", at)
    if event.type == "member.joined":
        doc.lowest("joined_first", at)
        doc.highest("joined_last", at)
    ident = identity_hash(event.source, event.id)
    doc.add_all(f"s.{day}", [ident])
    if not anonymous:
        item = {"t": at, "id": ident, "type": event.type, "weight": weight, "event_id": event.id}
        doc.push_capped("recent", [item], RECENT_SORT, context.recent_cap)
        effects.touched[key] = (tenant, community, member)
        # Written only when the member is new in the community (the store drops the rest): it lists
        # their communities, and makes a concurrent erasure of the member conflict with this batch.
        roll = effects.doc(MEMBERS, member_doc_id(tenant, member))
        roll.set_on_insert(tenant=tenant, member_id=member)
        roll.add_all("communities", [community])

    place = effects.doc(COMMUNITIES, community_doc_id(tenant, community))
    place.set_on_insert(tenant=tenant, community_id=community)
    place.highest("last_event", at.replace(minute=0, second=0, microsecond=0))

    if isinstance(data, CommentCreated):
        target = data.replied_to_member_id
        if target is not None and target != data.member_id:
            doc.add("rg", 1)
            target_id, target_anonymous = context.who(tenant, target)
            other = effects.doc(MEMBER_COMMUNITIES, member_community_id(tenant, community, target_id))
            other.set_on_insert(tenant=tenant, community_id=community, member_id=target_id, anonymous=target_anonymous)
            other.add("rr", 1)
    if isinstance(data, PostCreated | CommentCreated):
        _topics(effects, tenant, community, day, data)
    if isinstance(data, PostCreated | CommentCreated) or event.type == "post.deleted":
        _post(effects, event, context, day, at)


def _post(effects: BatchEffects, event: Event, context: EffectContext, day: str, at: datetime) -> None:
    """Record, in the community's document of the event's day, a post created, responded to, or deleted.

    Posts live in the day documents that a batch writes anyway for content counts: no document per post.
    """
    data: Any = event.data
    doc = _day_doc(effects, event.tenant, data.community_id, day)
    post = data.post_id  # ids are letters, digits and _:@- only: safe as field names
    who = context.pseudonym(event.tenant, data.member_id)
    if isinstance(data, PostCreated):
        doc.lowest(f"pc.{post}", at)
        doc.highest(f"pa.{post}", who)
    elif isinstance(data, CommentCreated):
        doc.lowest(f"fc.{post}.{who}", at)
    else:
        doc.lowest(f"pd.{post}", at)


def _day_doc(effects: BatchEffects, tenant: str, community: str, day: str) -> DocUpdate:
    doc = effects.doc(COMMUNITY_DAYS, community_day_id(tenant, community, day))
    doc.set_on_insert(tenant=tenant, community_id=community, day=day)
    return doc


def _topics(effects: BatchEffects, tenant: str, community: str, day: str, data: PostCreated | CommentCreated) -> None:
    features = data.text_features
    hashtags = list(features.hashtags) if features else []
    if isinstance(data, PostCreated):
        hashtags.extend(data.tags)
    keywords = list(features.keywords) if features else []
    doc = _day_doc(effects, tenant, community, day)
    doc.add("content", 1)
    for tag in {t for t in (_safe_key(h.lstrip("#")) for h in hashtags) if t}:
        doc.add(f"h.{tag}", 1)
    for word in {w for w in (_safe_key(k) for k in keywords) if w}:
        doc.add(f"k.{word}", 1)


def _role(effects: BatchEffects, event: Event, context: EffectContext) -> None:
    data: Any = event.data
    member, _ = context.who(event.tenant, data.member_id)
    scope = data.community_id or PLATFORM_SCOPE
    doc = effects.doc(ROLES, role_doc_id(event.tenant, scope, member))
    doc.set_on_insert(tenant=event.tenant, scope=scope, member_id=member)
    doc.highest("latest", f"{stamp(event.time)}|{identity_hash(event.source, event.id)}|{data.role}")


def _community(effects: BatchEffects, event: Event) -> None:
    data: Any = event.data
    doc = effects.doc(COMMUNITIES, community_doc_id(event.tenant, data.community_id))
    doc.set_on_insert(tenant=event.tenant, community_id=data.community_id)
    profile = {k: v for k, v in data.model_dump(mode="json").items() if v is not None and k != "community_id"}
    doc.highest(f"profile.{type_key(event.type)}", f"{stamp(event.time)}|{json.dumps(profile, sort_keys=True)}")
    if event.type == "community.created":
        doc.lowest("created", moment(event.time))


def actor_key(event: Event, context: EffectContext) -> str | None:
    """Return the member-in-community document that records whether ``event`` was applied."""
    if event.type not in SCORED_TYPES:
        return None
    data: Any = event.data
    member, _ = context.who(event.tenant, data.member_id)
    return member_community_id(event.tenant, data.community_id, member)


def already_applied(doc: MemberCommunityDoc | None, event: Event) -> bool:
    """Tell whether a member-in-community document already carries ``event``."""
    if doc is None:
        return False
    day = day_key(moment(event.time))
    return identity_hash(event.source, event.id) in doc.get("s", {}).get(day, ())


def referenced_members(event: Event) -> list[str]:
    """Return every member an event's effects name (the actor, whom they replied to)."""
    data: Any = event.data
    members = [m for m in (getattr(data, "member_id", None), getattr(data, "replied_to_member_id", None)) if m]
    return [str(m) for m in members]
