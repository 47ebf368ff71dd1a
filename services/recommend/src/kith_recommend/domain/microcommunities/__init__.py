"""Micro-community discovery: close groups of members found in the interaction graph, as pure code.

Feed an :class:`InteractionGraph` with interactions, event attendance and small-community
membership; take a :class:`GraphSnapshot`; :func:`detect` its groups (warm from the previous
:class:`Detection`, so ids stay); :func:`advance` each group's :class:`GroupRecord` (history, growth)
and get the events to publish against what was last announced; :func:`nurture` a detection for the
actions to suggest; and (:mod:`.seeding`) put a community created for a group first in its members'
suggestions.
"""

from kith_recommend.domain.microcommunities.actions import Action, ActionKind, SeededCommunity, actions_for, nurture
from kith_recommend.domain.microcommunities.detect import Detection, detect
from kith_recommend.domain.microcommunities.events import (
    Announced,
    GroupChanged,
    GroupDetected,
    GroupEvent,
    GroupFaded,
    compare,
)
from kith_recommend.domain.microcommunities.graph import (
    CommunityMembership,
    EventAttendance,
    Interaction,
    InteractionGraph,
)
from kith_recommend.domain.microcommunities.identity import Group
from kith_recommend.domain.microcommunities.params import DetectionParams, InteractionKind, InteractionWeights
from kith_recommend.domain.microcommunities.records import GroupRecord, Growth, HistoryPoint, advance
from kith_recommend.domain.microcommunities.snapshot import GraphSnapshot
from kith_recommend.domain.microcommunities.summary import (
    Cohesion,
    GroupSummary,
    Overlap,
    Status,
    TenantContext,
    Topic,
)

__all__ = [
    "Action",
    "ActionKind",
    "Announced",
    "Cohesion",
    "CommunityMembership",
    "Detection",
    "DetectionParams",
    "EventAttendance",
    "GraphSnapshot",
    "Group",
    "GroupChanged",
    "GroupDetected",
    "GroupEvent",
    "GroupFaded",
    "GroupRecord",
    "GroupSummary",
    "Growth",
    "HistoryPoint",
    "Interaction",
    "InteractionGraph",
    "InteractionKind",
    "InteractionWeights",
    "Overlap",
    "SeededCommunity",
    "Status",
    "TenantContext",
    "Topic",
    "actions_for",
    "advance",
    "compare",
    "detect",
    "nurture",
]
