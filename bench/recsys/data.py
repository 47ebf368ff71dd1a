"""Load membership data, reduce it to its core, and split it into train, validation and test.

Memberships are ``dict[member, set[community]]``; friendships are undirected pairs of members.
The data stays where it is: loaders read from the path they are given and copy nothing.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kith_devkit.generator import GeneratorConfig, generate
from kith_shared.events.data import MemberFollowed, MemberJoined, MemberLeft, MemberUnfollowed

log = logging.getLogger(__name__)

Memberships = dict[str, set[str]]
Friends = list[tuple[str, str]]
JoinTimes = dict[tuple[str, str], datetime]

YOUTUBE_MEMBERSHIPS = Path("youtube-groups") / "release-youtube-groupmemberships.txt"
YOUTUBE_FRIENDS = Path("youtube-groups") / "decoded_friend_subgraph_mislove_ids.tsv"
SAMPLE_COMMUNITIES = Path("youtube-sample") / "com-youtube.sampled.cmty.txt"
SAMPLE_FRIENDS = Path("youtube-sample") / "com-youtube_train.txt"


@dataclass(frozen=True)
class Dataset:
    """Memberships and friendships of one data set, with join times when the data has them."""

    name: str
    memberships: Memberships
    friends: Friends
    joined_at: JoinTimes | None = None

    @property
    def n_memberships(self) -> int:
        """Count memberships."""
        return sum(len(items) for items in self.memberships.values())

    @property
    def communities(self) -> set[str]:
        """Return every community with at least one member."""
        return {item for items in self.memberships.values() for item in items}


@dataclass(frozen=True)
class Split:
    """Train memberships and one held-out community per member."""

    train: Memberships
    held_out: dict[str, str]


@dataclass(frozen=True)
class CoreStats:
    """Size of a data set before and after the core filter."""

    members_before: int
    communities_before: int
    memberships_before: int
    members: int
    communities: int
    memberships: int
    friendships: int
    rounds: int
    min_members: int
    min_communities: int


def _pairs(path: Path) -> Iterator[tuple[str, str]]:
    """Yield the first two whitespace-separated fields of each data line, skipping comments and headers."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            parts = line.split()
            if len(parts) < 2 or line.startswith(("%", "#")) or not parts[0][0].isalnum():
                continue
            if not (parts[0].isdigit() and parts[1].isdigit()) and parts[0].lower() in ("user", "source", "from"):
                continue
            yield parts[0], parts[1]


def _undirected(edges: Iterable[tuple[str, str]]) -> Friends:
    """Deduplicate undirected edges and drop self loops, in a stable order."""
    seen: set[tuple[str, str]] = set()
    out: Friends = []
    for a, b in edges:
        if a == b:
            continue
        key = (a, b) if a < b else (b, a)
        if key not in seen:
            seen.add(key)
            out.append(key)
    return out


def load_youtube(root: Path) -> Dataset:
    """Load the YouTube user -> group memberships and the friendship subgraph from ``root``."""
    memberships: Memberships = {}
    for user, group in _pairs(root / YOUTUBE_MEMBERSHIPS):
        memberships.setdefault(user, set()).add(group)
    friends = _undirected(_pairs(root / YOUTUBE_FRIENDS))
    return Dataset(name="youtube", memberships=memberships, friends=friends)


def load_sample(root: Path) -> Dataset:
    """Load the small YouTube sample: one community a line (members tab-separated) and its friendships."""
    memberships: Memberships = {}
    with (root / SAMPLE_COMMUNITIES).open(encoding="utf-8") as lines:
        index = 0
        for line in lines:
            members = line.split()
            if not members or line.startswith(("%", "#")):
                continue
            community = f"g{index}"
            index += 1
            for member in members:
                memberships.setdefault(member, set()).add(community)
    friends = _undirected(_pairs(root / SAMPLE_FRIENDS))
    return Dataset(name="sample", memberships=memberships, friends=friends)


def core(dataset: Dataset, min_members: int = 5, min_communities: int = 3) -> tuple[Dataset, CoreStats]:
    """Keep communities with >= ``min_members`` members and members in >= ``min_communities``, until stable."""
    current = {user: set(items) for user, items in dataset.memberships.items()}
    rounds = 0
    while True:
        rounds += 1
        sizes = Counter(item for items in current.values() for item in items)
        kept = {user: {item for item in items if sizes[item] >= min_members} for user, items in current.items()}
        kept = {user: items for user, items in kept.items() if len(items) >= min_communities}
        if kept == current:
            break
        current = kept
    members = set(current)
    friends = [(a, b) for a, b in dataset.friends if a in members and b in members]
    joined_at = None
    if dataset.joined_at is not None:
        joined_at = {key: t for key, t in dataset.joined_at.items() if key[1] in current.get(key[0], ())}
    reduced = Dataset(name=dataset.name, memberships=current, friends=friends, joined_at=joined_at)
    stats = CoreStats(
        members_before=len(dataset.memberships),
        communities_before=len(dataset.communities),
        memberships_before=dataset.n_memberships,
        members=len(current),
        communities=len(reduced.communities),
        memberships=reduced.n_memberships,
        friendships=len(friends),
        rounds=rounds,
        min_members=min_members,
        min_communities=min_communities,
    )
    log.info("core of %s: %s", dataset.name, stats)
    return reduced, stats


def hold_out_one(memberships: Mapping[str, set[str]], seed: int | str, joined_at: JoinTimes | None = None) -> Split:
    """Hold out one community per member with two or more: the latest join if times are known, else at random.

    Members are visited in sorted order with one seeded generator, so the split depends only on
    the data and the seed. Ties between equal join times are broken at random too.
    """
    rng = random.Random(str(seed))
    train: Memberships = {}
    held_out: dict[str, str] = {}
    for user in sorted(memberships):
        items = sorted(memberships[user])
        if len(items) < 2:
            train[user] = set(items)
            continue
        if joined_at is None:
            chosen = rng.choice(items)
        else:
            latest = max(joined_at[(user, item)] for item in items)
            chosen = rng.choice([item for item in items if joined_at[(user, item)] == latest])
        held_out[user] = chosen
        train[user] = set(items) - {chosen}
    return Split(train=train, held_out=held_out)


def split_for_seed(dataset: Dataset, seed: int) -> tuple[Split, Split]:
    """Return the (test, validation) splits of one seed; validation is carved from test's train the same way."""
    test = hold_out_one(dataset.memberships, seed, dataset.joined_at)
    validation = hold_out_one(test.train, f"{seed}:validation", dataset.joined_at)
    return test, validation


def sample_users(users: Iterable[str], n: int | None, seed: int | str) -> list[str]:
    """Pick ``n`` members at random with a seed (all of them, sorted, when ``n`` is None or too large)."""
    ordered = sorted(users)
    if n is None or n >= len(ordered):
        return ordered
    return sorted(random.Random(f"{seed}:users").sample(ordered, n))


def community_sizes(train: Mapping[str, set[str]]) -> Counter[str]:
    """Count members per community in ``train``."""
    return Counter(item for items in train.values() for item in items)


def load_generator_dataset(**config: Any) -> Dataset:
    """Build memberships (joins minus leaves, with join times) and follows from the activity generator.

    ``config`` overrides fields of the generator's default ``GeneratorConfig``.
    """
    memberships: Memberships = {}
    joined_at: JoinTimes = {}
    follows: set[tuple[str, str]] = set()
    for event in generate(GeneratorConfig(**config)):
        data = event.data
        if isinstance(data, MemberJoined):
            memberships.setdefault(data.member_id, set()).add(data.community_id)
            joined_at[(data.member_id, data.community_id)] = event.time
        elif isinstance(data, MemberLeft):
            memberships.get(data.member_id, set()).discard(data.community_id)
            joined_at.pop((data.member_id, data.community_id), None)
        elif isinstance(data, MemberFollowed):
            follows.add((data.member_id, data.followed_member_id))
        elif isinstance(data, MemberUnfollowed):
            follows.discard((data.member_id, data.followed_member_id))
    memberships = {user: items for user, items in memberships.items() if items}
    pairs = sorted({(a, b) if a < b else (b, a) for a, b in follows if a != b})
    return Dataset(name="generator", memberships=memberships, friends=pairs, joined_at=joined_at)


def load_dataset(name: str, root: Path) -> Dataset:
    """Load one of the data sets by name."""
    if name == "youtube":
        return load_youtube(root)
    if name == "sample":
        return load_sample(root)
    if name == "generator":
        return load_generator_dataset()
    raise ValueError(f"unknown data set {name!r}")
