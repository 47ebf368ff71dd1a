"""A seeded synthetic activity generator for tests, the demo and benchmarks.

``build_world`` draws communities (topics from a vocabulary of real hobbies, heavy-tailed sizes, a
few private or hidden) and members (1-4 interests, heavy-tailed activity, some fading out half-way,
a few staff and bots) and plants micro-communities among them (:mod:`.planting`: forming groups
around a niche, close sub-groups inside large communities; ``World.planted`` lists them).
``generate`` simulates the history day by day and yields raw events in time order; ``live``
continues the same simulation after the history, forever.

Everything is drawn from ``random.Random`` instances seeded from the config, and nothing iterates
a set or a hash-ordered mapping, so one seed gives the identical stream, ids included, in every
process.

The modules, by concept: :mod:`.vocabulary` (themes and words), :mod:`.world` (the config and the
world as drawn), :mod:`.plan` (the draws before the first day), :mod:`.simulation` and
:mod:`.activity` (the days), :mod:`.planting` (planted groups and their days), :mod:`.text` (post
texts), :mod:`.emitting` (rows to events).
"""

from kith_devkit.generator.emitting import generate, live
from kith_devkit.generator.planting import PlantedGroup
from kith_devkit.generator.vocabulary import THEMES, Theme
from kith_devkit.generator.world import (
    GeneratorConfig,
    PlannedMembership,
    World,
    WorldCommunity,
    WorldMember,
    build_world,
    community_id,
    member_id,
)

__all__ = [
    "THEMES",
    "GeneratorConfig",
    "PlannedMembership",
    "PlantedGroup",
    "Theme",
    "World",
    "WorldCommunity",
    "WorldMember",
    "build_world",
    "community_id",
    "generate",
    "live",
    "member_id",
]
