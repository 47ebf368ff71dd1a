"""Micro-community discovery: close groups of members found in the interaction graph, as pure code.

Feed an :class:`InteractionGraph` with interactions, event attendance and small-community
membership; take a :class:`GraphSnapshot`; :func:`detect` its groups (warm from the previous
:class:`Detection`, so ids stay); :func:`compare` two detections for the events to publish; and
:func:`nurture` a detection for the actions to suggest.
"""

from kith_recommend.domain.microcommunities.actions import Action, ActionKind, nurture
from kith_recommend.domain.microcommunities.detect import Detection, detect
from kith_recommend.domain.microcommunities.events import GroupChanged, GroupDetected, GroupEvent, GroupFaded, compare
from kith_recommend.domain.microcommunities.graph import (
    CommunityMembership,
    EventAttendance,
    GraphSnapshot,
    Interaction,
    InteractionGraph,
)
from kith_recommend.domain.microcommunities.identity import Group
from kith_recommend.domain.microcommunities.params import DetectionParams, InteractionKind, InteractionWeights
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
    "GroupSummary",
    "Interaction",
    "InteractionGraph",
    "InteractionKind",
    "InteractionWeights",
    "Overlap",
    "Status",
    "TenantContext",
    "Topic",
    "compare",
    "detect",
    "nurture",
]
