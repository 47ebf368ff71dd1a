"""A seeded synthetic activity generator for tests, the demo and benchmarks.

``build_world`` draws communities (topics from a vocabulary of real hobbies, heavy-tailed sizes, a
few private or hidden) and members (1-4 interests, heavy-tailed activity, some fading out half-way,
a few staff and bots). ``generate`` simulates the history day by day and yields raw events in time
order; ``live`` continues the same simulation after the history, forever.

Everything is drawn from ``random.Random`` instances seeded from the config, and nothing iterates
a set or a hash-ordered mapping, so one seed gives the identical stream, ids included, in every
process.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, cast

from pydantic import BaseModel

from kith_shared.events import data as d
from kith_shared.events import types as t
from kith_shared.events.envelope import Envelope
from kith_shared.events.types import Event

SECOND: Final = 1_000
MINUTE: Final = 60 * SECOND
HOUR: Final = 60 * MINUTE
DAY: Final = 24 * HOUR

Visibility = Literal["public", "private", "hidden"]
Role = Literal["member", "staff", "bot"]


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    """What to generate. The same config always gives the same events."""

    seed: int = 7
    communities: int = 300
    members: int = 3000
    days: int = 30
    start: datetime = datetime(2026, 10, 1, tzinfo=UTC)
    tenant: str = "demo"
    source: str = "app://kith-generator"
    activity: float = 1.0
    """Scales how much members do per day (1.0 gives about 100k events for the defaults)."""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if self.communities < 1 or self.members < 2 or self.days < 1:
            raise ValueError("need at least 1 community, 2 members and 1 day")
        if self.activity < 0:
            raise ValueError("activity must not be negative")


# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Theme:
    """A hobby or interest: its tag, related tags, words for names and for posts."""

    tag: str
    related: tuple[str, ...]
    stems: tuple[str, ...]
    nouns: tuple[str, ...]
    doings: tuple[str, ...]


def _theme(tag: str, related: str, stems: str, nouns: str, doings: str) -> Theme:
    return Theme(
        tag, tuple(related.split()), tuple(stems.split("|")), tuple(nouns.split("|")), tuple(doings.split("|"))
    )


#: Ordered by rough popularity: earlier themes draw more members.
THEMES: Final[tuple[Theme, ...]] = (
    _theme("running", "running 5k marathon trailrunning", "Run Club|Morning Runners|Parkrun Crew|Pace Group",
           "interval session|long run|tempo run|race bib|running shoes|hill repeat",
           "run the river loop|do hill repeats|pace the 10k|try a recovery run"),
    _theme("climbing", "bouldering climbing outdoors", "Bouldering|Crag Rats|Climbing Collective|Wall Crew",
           "crash pad|overhang|crimp|project|belay device|chalk bag",
           "project the new V4|climb at the crag|try the overhang wall|work on footwork"),
    _theme("photography", "photography streetphotography filmcamera",
           "Photo Walk|Shutter Club|Lens Crew|Street Photographers",
           "prime lens|golden hour|film roll|tripod|light meter|contact sheet",
           "shoot the old harbour|walk the market with cameras|develop a roll|practise night shots"),
    _theme("boardgames", "boardgames tabletop strategy", "Board Game Night|Meeple Club|Dice Tower|Tabletop Tuesdays",
           "expansion|deck builder|worker placement game|co-op campaign|rulebook|dice tray",
           "teach a new game|play a long campaign|try a deck builder|run a game night"),
    _theme("sourdough", "sourdough baking bread", "Sourdough|Bread Bakers|Crumb Club|Starter Swap",
           "starter|levain|banneton|crumb shot|dutch oven|rye loaf",
           "feed the starter|bake a rye loaf|swap starters|try a longer cold proof"),
    _theme("hiking", "hiking outdoors trails", "Trail Walkers|Hiking Club|Ridge Ramblers|Weekend Hikers",
           "trail map|day pack|ridge walk|summit|water filter|hiking boots",
           "walk the ridge trail|plan a two-day hike|hike to the lake|scout a new route"),
    _theme("chess", "chess openings puzzles", "Chess Club|Blitz Corner|Endgame Society|Rook and Pawn",
           "opening repertoire|endgame study|blitz game|puzzle rush|rook ending|chess clock",
           "play a blitz arena|study rook endings|analyse our games|run a simul"),
    _theme("cycling", "cycling bikes gravel", "Gravel Riders|Bike Club|Sunday Spin|Cycle Collective",
           "gravel bike|chain lube|climb segment|saddle|tubeless setup|cadence sensor",
           "ride the coast road|do a gravel loop|fix flats together|try the climb segment"),
    _theme("gardening", "gardening plants allotment", "Allotment Friends|Green Thumbs|Seed Swap|Balcony Gardeners",
           "tomato seedling|compost heap|raised bed|seed packet|pruning shears|pollinator patch",
           "swap seeds|build a raised bed|turn the compost|plant out tomatoes"),
    _theme("python", "python programming opensource", "Python User Group|PyNight|Code and Coffee|Pythonistas",
           "type checker|async function|test suite|virtual environment|pull request|code review",
           "pair on a pull request|try the new type checker|give a lightning talk|review each other's code"),
    _theme("knitting", "knitting yarn crafts", "Knit Night|Stitch and Bitch|Yarn Circle|Purl Club",
           "sock pattern|merino yarn|cable stitch|circular needle|colourwork chart|blocking mat",
           "knit socks together|learn cable stitches|swap yarn|start a colourwork project"),
    _theme("astronomy", "astronomy stargazing telescopes",
           "Stargazers|Dark Sky Club|Telescope Makers|Night Sky Society",
           "telescope|star chart|meteor shower|eyepiece|nebula|tracking mount",
           "watch the meteor shower|set up the telescopes|photograph the moon|find the Andromeda galaxy"),
    _theme("pottery", "pottery ceramics clay", "Clay Collective|Pottery Studio|Wheel Throwers|Kiln Club",
           "wheel|glaze|kiln firing|stoneware mug|trimming tool|slip",
           "throw bowls on the wheel|glaze the mugs|fire the kiln|try hand-building"),
    _theme("birding", "birding birdwatching wildlife", "Bird Watchers|Early Birders|Feather Club|Wetland Walkers",
           "binoculars|field guide|hide|spotting scope|dawn chorus|tally sheet",
           "count waders at the wetland|walk for the dawn chorus|log sightings|visit the hide"),
    _theme("rpg", "rpg dnd tabletop", "Dungeon Crawlers|Critical Hits|One-Shot Society|Tavern Tales",
           "campaign|character sheet|dungeon map|one-shot|initiative tracker|homebrew rules",
           "run a one-shot|roll new characters|map the dungeon|playtest homebrew rules"),
    _theme("jazz", "jazz music vinyl", "Jazz Listeners|Vinyl Club|Blue Note Society|Late Night Jazz",
           "record|turntable|trio album|live set|liner notes|bebop standard",
           "listen to a full album|visit the record fair|go to the jam session|swap records"),
    _theme("yoga", "yoga meditation wellbeing", "Morning Yoga|Mat Club|Flow Collective|Stretch Circle",
           "yoga mat|sun salutation|breathing exercise|balance pose|yin class|foam block",
           "do a sunrise flow|practise balance poses|try a yin class|meditate together"),
    _theme("coffee", "coffee espresso roasting", "Coffee Nerds|Espresso Club|Cupping Circle|Bean Counters",
           "espresso shot|grinder|pour-over|single origin|milk jug|cupping spoon",
           "cup single origins|dial in espresso|visit the roastery|compare grinders"),
    _theme("woodworking", "woodworking diy furniture", "Woodshop|Sawdust Club|Joinery Guild|Maker Bench",
           "dovetail joint|hand plane|workbench|chisel set|oak board|finishing oil",
           "cut dovetails|sharpen chisels|build a stool|oil the tabletop"),
    _theme("languages", "languages languageexchange spanish",
           "Language Exchange|Tandem Club|Polyglot Café|Conversation Table",
           "vocabulary deck|conversation partner|grammar drill|podcast episode|flashcard|accent",
           "swap conversation practice|run a Spanish table|trade flashcard decks|listen to a podcast together"),
    _theme("scifi", "books scifi reading", "Sci-Fi Book Club|Page Turners|Space Opera Readers|Novel Night",
           "novel|short story|audiobook|trilogy|reading list|paperback",
           "discuss the new novel|pick next month's book|read a short story|swap paperbacks"),
    _theme("gamedev", "gamedev indiegames programming", "Indie Game Devs|Game Jam Crew|Pixel Makers|Devlog Club",
           "game jam|pixel art|level editor|shader|playtest build|devlog",
           "run a game jam|playtest each other's builds|draw pixel art|write devlogs"),
    _theme("surfing", "surfing ocean outdoors", "Surf Crew|Dawn Patrol|Longboard Club|Swell Watchers",
           "longboard|wetsuit|swell forecast|wax|point break|fin setup",
           "catch the dawn patrol|check the swell|try longboarding|clean the beach after"),
    _theme("fermentation", "fermentation kombucha kimchi", "Fermenters|Kombucha Club|Pickle Society|Culture Club",
           "kombucha scoby|kimchi jar|brine|airlock|hot sauce|miso",
           "bottle kombucha|make kimchi|swap scobies|taste hot sauces"),
    _theme("keyboards", "keyboards mechanicalkeyboards diy", "Keyboard Club|Switch Swap|Keycap Collective|Clack Club",
           "switch tester|keycap set|stabilizer|split keyboard|soldering iron|lube station",
           "build a split keyboard|lube switches|swap keycaps|solder a macro pad"),
    _theme("3dprinting", "3dprinting makers cad", "Print Farm|Makers Lab|Filament Friends|CAD Club",
           "printer bed|filament spool|slicer profile|nozzle|support structure|resin print",
           "level the printer beds|share slicer profiles|print a bracket|model parts in CAD"),
    _theme("beekeeping", "beekeeping bees nature", "Beekeepers|Hive Minds|Apiary Friends|Honey Circle",
           "hive|smoker|queen cell|honey frame|bee suit|varroa check",
           "inspect the hives|extract honey|do a varroa check|build a swarm trap"),
    _theme("choir", "singing choir music", "Community Choir|Harmony Group|Sing Along|A Cappella Club",
           "harmony part|warm-up|sheet music|rehearsal|alto line|concert set",
           "rehearse the concert set|learn the alto line|sing at the market|warm up together"),
    _theme("watercolour", "watercolour painting sketching",
           "Urban Sketchers|Watercolour Club|Sketch Crawl|Brush Circle",
           "sketchbook|paint palette|wet-on-wet wash|brush pen|cold-press paper|colour study",
           "sketch the old town|try wet-on-wet|paint the harbour|swap sketchbooks"),
    _theme("mtb", "mtb mountainbiking cycling", "Trail Shredders|Singletrack Club|MTB Crew|Dirt Riders",
           "full-suspension bike|singletrack|drop|tyre pressure|trail build|flat pedal",
           "ride the forest singletrack|help with the trail build|session the drop|practise cornering"),
    _theme("veganfood", "vegan cooking recipes", "Vegan Kitchen|Plant Potluck|Green Cooks|Supper Club",
           "tofu marinade|lentil curry|meal prep|cast iron pan|spice blend|potluck dish",
           "cook a potluck|swap recipes|meal prep together|test a tofu marinade"),
    _theme("dogs", "dogs pets training", "Dog Walkers|Puppy Club|Good Boys Society|Pack Walk",
           "lead|recall training|dog park|treat pouch|agility course|harness",
           "do a pack walk|practise recall|visit the dog park|try the agility course"),
    _theme("ml", "machinelearning ai datascience", "ML Reading Group|Data Science Club|Papers and Pizza|Model Makers",
           "paper|notebook|embedding model|benchmark|dataset|evaluation metric",
           "read a paper together|share notebooks|compare embedding models|build an evaluation set"),
    _theme("aquariums", "aquariums fishkeeping plants", "Aquascapers|Fishkeepers|Tank Talk|Shrimp Club",
           "planted tank|CO2 system|shrimp colony|filter|driftwood|water test kit",
           "trade plant cuttings|scape a new tank|test water together|visit the fish show"),
    _theme("poetry", "poetry writing spokenword", "Poetry Circle|Open Mic|Verse Club|Writers' Room",
           "haiku|open mic|chapbook|writing prompt|sonnet|zine",
           "read at the open mic|share a writing prompt|make a zine|write haiku together"),
    _theme("homeautomation", "homeautomation smarthome diy",
           "Smart Home Tinkerers|Home Lab|Automation Club|Sensor Nerds",
           "sensor|dashboard|automation rule|zigbee hub|raspberry pi|energy monitor",
           "wire up sensors|build a dashboard|share automation rules|set up a home lab"),
)  # fmt: skip

CITIES: Final[tuple[str, ...]] = (
    "Berlin", "Lisbon", "Leeds", "Austin", "Lyon", "Porto", "Kraków", "Osaka", "Montreal", "Melbourne",
    "Seattle", "Ghent", "Bristol", "Valencia", "Tartu", "Bologna", "Denver", "Utrecht", "Wellington", "Graz",
)  # fmt: skip
_CITY_TAGS: Final = {"Kraków": "krakow"}

_WHEN: Final = ("this Saturday", "on Sunday morning", "Tuesday evening", "this weekend", "on Friday night", "next week")
_ADJECTIVES: Final = (
    "amazing", "harder than expected", "surprisingly relaxing", "a bit of a mess", "so much fun", "totally worth it",
)  # fmt: skip
_PLACES: Final = ("the community centre", "the old library", "Café Central", "the park", "the usual spot", "my place")
_TITLES: Final = (
    "{Noun} question", "Weekend plans?", "My first {noun}", "Tips for a {noun}?", "Show and tell: my {noun}",
    "Anyone free {when}?", "Thoughts on the {noun}", "Small win today", "Looking for advice", "Meet-up recap",
)  # fmt: skip
_POST_SENTENCES: Final = (
    "Anyone up for a session to {doing} {when}?",
    "Finally managed to {doing} and it was {adj}.",
    "What is your go-to {noun} for beginners?",
    "I've been struggling with my {noun} lately; any tips?",
    "Sharing my notes on the {noun} from last week.",
    "The {noun} at {place} is {adj} right now.",
    "Quick reminder: we meet {when} to {doing}.",
    "Does anyone have a spare {noun} I could borrow?",
    "Big thanks to everyone who came out to {doing}!",
    "Hot take: the {noun} is underrated.",
    "New here, hoping to {doing} with some of you.",
    "Who else wants to {doing}? I can bring a {noun}.",
)
_COMMENTS: Final = (
    "Count me in!",
    "Great point about the {noun}.",
    "I had the same issue with my {noun}; a cheaper one worked fine for me.",
    "Thanks for sharing, this helps a lot.",
    "Which {noun} did you end up using?",
    "+1, {when} works for me.",
    "Not sure I agree, the {noun} worked better for me.",
    "Love this! 😍",
    "Can I join even as a beginner?",
    "Brilliant, see you there.",
    "Did anyone take photos last time?",
    "I can bring a {noun} if that helps.",
)
#: A few posts and comments in other languages, so that language detection has work to do.
_FOREIGN: Final = (
    "Hat jemand Lust, am Wochenende zusammen zu üben? Ich bringe meinen {noun} mit.",
    "Danke für die Tipps, das hat mir sehr geholfen!",
    "¿Alguien se apunta este fin de semana? Me encanta este grupo.",
    "Gracias por compartir, qué buena idea.",
    "Quelqu'un a déjà essayé ? C'était génial la dernière fois.",
    "Merci à tous pour la séance de samedi, à la prochaine !",
)
_LINKS: Final = (
    "https://www.youtube.com/watch?v={slug}", "https://blog.example.com/{tag}/{slug}", "https://www.meetup.com/{tag}-{slug}",
    "https://github.com/{tag}-club/{slug}", "https://en.wikipedia.org/wiki/{Tag}", "https://photos.example.org/album/{slug}",
)  # fmt: skip
_DESCRIPTIONS: Final = (
    "{name}: a small group for people who love {tag} and {tag2}. We meet {when} to {doing}.",
    "Friendly {tag} community in {city}. Beginners welcome; we {doing} and share tips about the {noun}.",
    "For everyone into {tag2} and {tag}. Monthly meet-ups, a reading list and lots of {noun} talk.",
    "We {doing} {when} and talk about {tag} the rest of the week. Be kind, share what you learn.",
)
_REACTIONS: Final = ("like", "love", "laugh", "wow", "clap", "insightful")
_REACTION_CUM: Final = tuple(itertools.accumulate((60, 18, 8, 5, 6, 3)))
#: Relative activity per hour of the day: quiet nights, busy evenings.
_HOUR_CUM: Final = tuple(
    itertools.accumulate((1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 3, 3, 3.5, 4, 3.5, 3, 3, 3.5, 4.5, 5.5, 6, 6, 5, 3.5, 2))
)
_HOURS: Final = tuple(range(24))

# Expected actions per unit of member activity per day, in a community of average activity.
_POSTS_PER_DAY: Final = 0.065
_COMMENTS_PER_DAY: Final = 0.19
_REACTIONS_PER_DAY: Final = 0.25
_VIEWS_PER_DAY: Final = 0.45
#: How much a member still does after fading out ("slipping away").
_FADED: Final = 0.04
#: Interactions (replies count 1, reactions and mentions 0.5) after which a member may follow another.
_FOLLOW_AFTER: Final = 2.0
_RECENT_POSTS: Final = 400

_DATA_CLASSES: Final[dict[str, tuple[type[Envelope], type[BaseModel]]]] = {
    "community.created": (t.CommunityCreatedEvent, d.CommunityCreated),
    "community.updated": (t.CommunityUpdatedEvent, d.CommunityUpdated),
    "member.interests.declared": (t.InterestsDeclaredEvent, d.InterestsDeclared),
    "member.role.set": (t.MemberRoleSetEvent, d.MemberRoleSet),
    "member.joined": (t.MemberJoinedEvent, d.MemberJoined),
    "member.left": (t.MemberLeftEvent, d.MemberLeft),
    "member.blocked": (t.MemberBlockedEvent, d.MemberBlocked),
    "member.followed": (t.MemberFollowedEvent, d.MemberFollowed),
    "member.unfollowed": (t.MemberUnfollowedEvent, d.MemberUnfollowed),
    "post.created": (t.PostCreatedEvent, d.PostCreated),
    "post.edited": (t.PostEditedEvent, d.PostEdited),
    "post.deleted": (t.PostDeletedEvent, d.PostDeleted),
    "post.viewed": (t.PostViewedEvent, d.PostViewed),
    "comment.created": (t.CommentCreatedEvent, d.CommentCreated),
    "reaction.added": (t.ReactionAddedEvent, d.ReactionAdded),
    "reaction.removed": (t.ReactionRemovedEvent, d.ReactionRemoved),
    "event.hosted": (t.EventHostedEvent, d.EventHosted),
    "event.attended": (t.EventAttendedEvent, d.EventAttended),
}


# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommunityProfile:
    """A generated community."""

    id: str
    name: str
    description: str
    topics: tuple[str, ...]
    visibility: Visibility
    owner_id: str
    created_at: datetime
    planned_size: int
    activity: float
    theme: str


@dataclass(frozen=True, slots=True)
class MemberProfile:
    """A generated member."""

    id: str
    interests: tuple[str, ...]
    activity: float
    role: Role
    signed_up_at: datetime
    fades_at: datetime | None
    """When this member goes quiet (does a few percent of what they did before), if they do."""


@dataclass(frozen=True, slots=True)
class PlannedMembership:
    """A membership drawn with the world (more join and some leave as the simulation runs)."""

    community_id: str
    member_id: str
    joined_at: datetime
    invited_by: str | None


@dataclass(frozen=True, slots=True)
class World:
    """Communities, members and the memberships they start with."""

    config: GeneratorConfig
    communities: tuple[CommunityProfile, ...]
    members: tuple[MemberProfile, ...]
    memberships: tuple[PlannedMembership, ...]

    def community(self, community_id: str) -> CommunityProfile:
        """Return a community by id."""
        return self.communities[int(community_id.removeprefix("c-")) - 1]

    def member(self, member_id: str) -> MemberProfile:
        """Return a member by id."""
        return self.members[int(member_id.removeprefix("m-")) - 1]


def community_id(index: int) -> str:
    """Return the id of the community at ``index`` (0-based)."""
    return f"c-{index + 1:04d}"


def member_id(index: int) -> str:
    """Return the id of the member at ``index`` (0-based)."""
    return f"m-{index + 1:05d}"


@dataclass(slots=True)
class _Community:
    theme: Theme
    secondary: Theme | None
    name: str
    description: str
    topics: list[str]
    visibility: Visibility
    owner: int
    created: int
    size: int
    activity: float
    city: str


@dataclass(slots=True)
class _Member:
    interests: list[Theme]
    activity: float
    role: Role
    signup: int
    fades: int | None


@dataclass(slots=True)
class _Plan:
    config: GeneratorConfig
    communities: list[_Community]
    members: list[_Member]
    #: (time, community, member, invited_by)
    joins: list[tuple[int, int, int, int | None]]
    #: (time, community, member) of moderators named after they joined
    moderators: list[tuple[int, int, int]]
    by_theme: dict[str, list[int]]
    planned: dict[tuple[int, int], int]


def _rng(config: GeneratorConfig, stream: int, day: int = 0) -> random.Random:
    return random.Random(config.seed * 1_000_003 + stream * 10_007 + day)


def _distinct(rng: random.Random, population: Sequence[Theme], cum: Sequence[float], k: int) -> list[Theme]:
    chosen: list[Theme] = []
    for _ in range(8 * k):
        theme = rng.choices(population, cum_weights=cum)[0]
        if theme not in chosen:
            chosen.append(theme)
            if len(chosen) == k:
                break
    return chosen


def _plan(config: GeneratorConfig) -> _Plan:
    rng = _rng(config, 1)
    horizon = config.days * DAY
    themes = list(THEMES)
    theme_cum = list(itertools.accumulate(1.0 / (rank + 2) ** 0.8 for rank in range(len(themes))))

    members: list[_Member] = []
    for _ in range(config.members):
        count = rng.choices((1, 2, 3, 4), weights=(30, 35, 22, 13))[0]
        interests = _distinct(rng, themes, theme_cum, count)
        activity = rng.lognormvariate(0.0, 1.25)
        early = rng.random() < 0.7
        signup = int(rng.random() * (2 * DAY if early else horizon))
        members.append(_Member(interests, activity, "member", signup, None))
    ranked = sorted(m.activity for m in members)
    top_quartile = ranked[int(len(ranked) * 0.75)]
    mean = sum(ranked) / len(ranked)
    for member in members:
        member.activity /= mean
        chance = 0.3 if member.activity * mean >= top_quartile else 0.1
        if rng.random() < chance and member.signup < horizon // 4:
            member.fades = member.signup + int(rng.uniform(0.35, 0.7) * (horizon - member.signup))
    # A few staff and bots (none in a tiny world, where they would be most of it).
    staff_count = max(1, config.members // 400) if config.members >= 20 else 0
    bot_count = max(1, config.members // 600) if config.members >= 20 else 0
    specials = rng.sample(range(config.members), staff_count + bot_count)
    for position, index in enumerate(specials):
        member = members[index]
        member.signup = int(rng.random() * HOUR)
        member.fades = None
        if position < staff_count:
            member.role, member.activity = "staff", 3.0
        else:
            member.role, member.activity = "bot", 0.0

    by_theme: dict[str, list[int]] = {theme.tag: [] for theme in themes}
    for index, member in enumerate(members):
        if member.role != "bot":
            for theme in member.interests:
                by_theme[theme.tag].append(index)
    humans = [index for index, member in enumerate(members) if member.role != "bot"]

    raw_sizes = [rng.paretovariate(1.15) for _ in range(config.communities)]
    target = config.members * 2.6
    scale = target / sum(raw_sizes)
    cap = max(3, int(config.members * 0.2))
    names: dict[str, int] = {}
    communities: list[_Community] = []
    community_themes: dict[str, list[int]] = {theme.tag: [] for theme in themes}
    for index in range(config.communities):
        theme = rng.choices(themes, cum_weights=theme_cum)[0]
        secondary = rng.choice(themes) if rng.random() < 0.3 else None
        if secondary is theme:
            secondary = None
        city = rng.choice(CITIES)
        stem = rng.choice(theme.stems)
        name = f"{city} {stem}" if rng.random() < 0.6 else stem
        for _ in range(5):
            if name not in names:
                break
            city = rng.choice(CITIES)
            name = f"{city} {stem}"
        names[name] = names.get(name, 0) + 1
        if names[name] > 1:
            name = f"{name} {names[name]}"
        topics = [theme.tag, *rng.sample(theme.related[1:] or theme.related, min(2, len(theme.related) - 1))]
        if secondary is not None:
            topics.append(secondary.tag)
        if name.startswith(city):
            topics.append(_CITY_TAGS.get(city, city.lower()))
        topics = list(dict.fromkeys(topics))
        tag2 = topics[1] if len(topics) > 1 else theme.tag
        description = rng.choice(_DESCRIPTIONS).format(
            name=name, tag=theme.tag, tag2=tag2, when=rng.choice(_WHEN), doing=rng.choice(theme.doings),
            city=city, noun=rng.choice(theme.nouns),
        )  # fmt: skip
        roll = rng.random()
        visibility: Visibility = "public" if roll < 0.87 else "private" if roll < 0.96 else "hidden"
        created = int(rng.random() * 6 * HOUR) if rng.random() < 0.75 else int(rng.random() * 0.85 * horizon)
        size = min(cap, max(3, round(raw_sizes[index] * scale)))
        candidates = by_theme[theme.tag] or humans
        owner = rng.choice(candidates)
        for _ in range(10):
            if members[owner].signup <= created:
                break
            owner = rng.choice(candidates)
        communities.append(
            _Community(
                theme,
                secondary,
                name,
                description,
                topics,
                visibility,
                owner,
                created,
                size,
                rng.lognormvariate(0.0, 0.45),
                city,
            )
        )
        community_themes[theme.tag].append(index)

    joins: list[tuple[int, int, int, int | None]] = []
    joined: list[dict[int, int]] = [{} for _ in communities]
    member_count = [0] * config.members

    def join(community: int, member: int, at: int, invited_by: int | None) -> None:
        joined[community][member] = at
        member_count[member] += 1
        joins.append((at, community, member, invited_by))

    for index, community in enumerate(communities):
        join(index, community.owner, max(community.created, members[community.owner].signup) + SECOND, None)
        candidates = by_theme[community.theme.tag] or humans
        for _ in range(4 * community.size):
            if len(joined[index]) >= community.size:
                break
            pool = candidates if rng.random() < 0.85 else humans
            person = rng.choice(pool)
            if person in joined[index]:
                continue
            earliest = max(community.created, members[person].signup)
            at = earliest + int(rng.expovariate(1 / (1.5 * DAY)))
            invited = community.visibility == "hidden" or rng.random() < 0.12
            join(index, person, at, community.owner if invited else None)
    public = [index for index, c in enumerate(communities) if c.visibility == "public"] or [0]
    for index in specials:
        special = members[index]
        wanted = rng.randint(5, 25) if special.role == "bot" else rng.randint(3, 8)
        for place in rng.sample(public, min(wanted, len(public))):
            if index not in joined[place]:
                join(place, index, max(communities[place].created, special.signup) + MINUTE, None)
    for index, loner in enumerate(members):
        if member_count[index] == 0 and loner.role != "bot" and rng.random() < 0.85:
            options = [c for theme in loner.interests for c in community_themes[theme.tag]] or public
            place = rng.choice(options)
            earliest = max(communities[place].created, loner.signup)
            join(place, index, earliest + int(rng.expovariate(1 / (2 * DAY))), None)

    moderators: list[tuple[int, int, int]] = []
    for index, community in enumerate(communities):
        if community.size >= 15:
            people = [m for m in joined[index] if m != community.owner and members[m].role == "member"]
            for chosen in rng.sample(people, min(len(people), rng.randint(1, 2))):
                moderators.append((joined[index][chosen] + 2 * DAY, index, chosen))
    joins.sort()
    planned = {(community, member): at for at, community, member, _ in joins}
    return _Plan(config, communities, members, joins, moderators, community_themes, planned)


def build_world(config: GeneratorConfig) -> World:
    """Draw the communities, the members and the memberships they start with."""
    plan = _plan(config)
    origin = config.start

    def at(ms: int) -> datetime:
        return origin + timedelta(milliseconds=ms)

    communities = tuple(
        CommunityProfile(
            id=community_id(index),
            name=c.name,
            description=c.description,
            topics=tuple(c.topics),
            visibility=c.visibility,
            owner_id=member_id(c.owner),
            created_at=at(c.created),
            planned_size=c.size,
            activity=c.activity,
            theme=c.theme.tag,
        )
        for index, c in enumerate(plan.communities)
    )
    members = tuple(
        MemberProfile(
            id=member_id(index),
            interests=tuple(theme.tag for theme in m.interests),
            activity=m.activity,
            role=m.role,
            signed_up_at=at(m.signup),
            fades_at=None if m.fades is None else at(m.fades),
        )
        for index, m in enumerate(plan.members)
    )
    memberships = tuple(
        PlannedMembership(
            community_id=community_id(c),
            member_id=member_id(m),
            joined_at=at(when),
            invited_by=None if inviter is None else member_id(inviter),
        )
        for when, c, m, inviter in plan.joins
    )
    return World(config, communities, members, memberships)


# ---------------------------------------------------------------------------------------------
# The simulation
# ---------------------------------------------------------------------------------------------

#: (time in ms since config.start, sequence, event type, data)
_Row = tuple[int, int, str, dict[str, Any]]


@dataclass(slots=True)
class _Post:
    time: int
    id: str
    author: int
    community: int
    deleted: int | None = None
    comments: list[tuple[int, str, int]] = field(default_factory=list)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class _Simulation:
    """The running state of the world; ``day(n)`` returns that day's rows in time order."""

    def __init__(self, plan: _Plan) -> None:
        self.plan = plan
        self.config = plan.config
        self.seq = 0
        self.counters: dict[str, int] = {}
        self.pending: list[_Row] = []
        #: community -> {member: joined at}; insertion-ordered so iteration is deterministic
        self.active: list[dict[int, int]] = [{} for _ in plan.communities]
        self.memberships: list[dict[int, None]] = [{} for _ in plan.members]
        self.posts: list[list[_Post]] = [[] for _ in plan.communities]
        self.ties: dict[tuple[int, int], float] = {}
        self.following: dict[tuple[int, int], None] = {}
        self.followees: list[list[int]] = [[] for _ in plan.members]
        self.left: dict[tuple[int, int], int] = {}
        self.created: list[bool] = [False] * len(plan.communities)
        cfg = self.config
        rng = _rng(cfg, 2)
        for index, member in enumerate(plan.members):
            tags = [theme.tag for theme in member.interests]
            self.schedule(
                member.signup, "member.interests.declared", {"member_id": member_id(index), "interests": tags}
            )
            if member.role != "member":
                self.schedule(
                    member.signup + SECOND, "member.role.set", {"member_id": member_id(index), "role": member.role}
                )
        for index, community in enumerate(plan.communities):
            cid = community_id(index)
            self.schedule(
                community.created,
                "community.created",
                {
                    "community_id": cid, "name": community.name, "description": community.description,
                    "topics": community.topics, "visibility": community.visibility,
                    "owner_id": member_id(community.owner),
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

    def row(self, at: int, event_type: str, payload: dict[str, Any]) -> _Row:
        self.seq += 1
        return (at, self.seq, event_type, payload)

    def schedule(self, at: int, event_type: str, payload: dict[str, Any]) -> None:
        heapq.heappush(self.pending, self.row(at, event_type, payload))

    def apply(self, row: _Row) -> None:
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

    def day(self, number: int) -> list[_Row]:
        """Simulate one day; return its rows sorted by time."""
        cfg = self.config
        rng = _rng(cfg, 3, number)
        start, end = number * DAY, (number + 1) * DAY
        rows: list[_Row] = []
        weekend = 1.25 if (cfg.start + timedelta(days=number)).weekday() >= 5 else 1.0
        rates = [
            (m.activity * (_FADED if m.fades is not None and start >= m.fades else 1.0)) if m.role != "bot" else 0.0
            for m in self.plan.members
        ]
        # Members who joined before today take part today; today's joins act from tomorrow.
        for index, community in enumerate(self.plan.communities):
            if not self.created[index] or not self.active[index]:
                continue
            self.community_day(rng, rows, index, community, rates, start, weekend * cfg.activity)
        self.bots(rng, rows, start)
        self.organic(rng, rows, start)
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
        hours = rng.choices(_HOURS, cum_weights=_HOUR_CUM, k=count)
        return sorted(start + hour * HOUR + int(rng.random() * HOUR) for hour in hours)

    def gone(self, community: int, member: int, at: int) -> bool:
        left = self.left.get((community, member))
        return left is not None and at >= left

    def pick_post(self, rng: random.Random, community: int, at: int, spread: float = 8.0) -> _Post | None:
        posts = self.posts[community]
        before = bisect.bisect_left(posts, at - MINUTE, key=lambda post: post.time)
        for _ in range(3):
            if before == 0:
                return None
            post = posts[before - 1 - min(int(rng.expovariate(1 / spread)), before - 1)]
            if post.deleted is None or post.deleted > at:
                return post
        return None

    def interact(self, rng: random.Random, rows: list[_Row], actor: int, other: int, at: int, weight: float) -> None:
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

    def community_day(
        self,
        rng: random.Random,
        rows: list[_Row],
        index: int,
        community: _Community,
        rates: list[float],
        start: int,
        scale: float,
    ) -> None:
        cid = community_id(index)
        people = [member for member, joined in self.active[index].items() if joined < start and rates[member] > 0]
        if not people:
            return
        if len(people) > 3 and rng.random() < len(people) * 0.0008:
            self.leave(rng, rows, index, community, people, start)
        weights = [rates[member] for member in people]
        cum = list(itertools.accumulate(weights))
        total = cum[-1] * community.activity * scale
        if total <= 0:
            return
        themes = (
            [community.theme]
            if community.secondary is None
            else [community.theme, community.theme, community.secondary]
        )

        todays: list[_Post] = []
        times = self.times(rng, start, _poisson(rng, total * _POSTS_PER_DAY))
        for at, author in zip(times, rng.choices(people, cum_weights=cum, k=len(times)), strict=True):
            if self.gone(index, author, at):
                continue
            theme = rng.choice(themes)
            pid = self.next_id("p")
            title, text, tags = self.post_text(rng, theme, community, people, author)
            payload: dict[str, Any] = {
                "community_id": cid, "member_id": member_id(author), "post_id": pid, "title": title,
                "text": text, "tags": tags,
            }  # fmt: skip
            rows.append(self.row(at, "post.created", payload))
            post = _Post(at, pid, author, index)
            todays.append(post)
            roll = rng.random()
            if roll < 0.05:
                edited = dict(payload)
                edited.pop("title")
                edited["text"] = text + " Edit: " + self.sentence(rng, theme, community)
                rows.append(self.row(at + int(rng.expovariate(1 / HOUR)) + MINUTE, "post.edited", edited))
            elif roll < 0.06:
                post.deleted = at + int(rng.expovariate(1 / DAY)) + MINUTE
                self.schedule(
                    post.deleted, "post.deleted", {"community_id": cid, "member_id": member_id(author), "post_id": pid}
                )
        self.posts[index].extend(todays)
        if len(self.posts[index]) > _RECENT_POSTS:
            del self.posts[index][:-_RECENT_POSTS]

        times = self.times(rng, start, _poisson(rng, total * _COMMENTS_PER_DAY))
        for at, author in zip(times, rng.choices(people, cum_weights=cum, k=len(times)), strict=True):
            if self.gone(index, author, at):
                continue
            target = self.pick_post(rng, index, at)
            if target is None:
                continue
            post = target
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
            comment_id = self.next_id("cm")
            theme = rng.choice(themes)
            text = rng.choice(_COMMENTS).format(noun=rng.choice(theme.nouns), when=rng.choice(_WHEN))
            if rng.random() < 0.04:
                text = rng.choice(_FOREIGN).format(noun=rng.choice(theme.nouns))
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
            rows.append(self.row(at, "comment.created", payload))
            post.comments.append((at, comment_id, author))
            self.interact(rng, rows, author, replied_to, at, 1.0)

        times = self.times(rng, start, _poisson(rng, total * _REACTIONS_PER_DAY))
        for at, actor in zip(times, rng.choices(people, cum_weights=cum, k=len(times)), strict=True):
            if self.gone(index, actor, at):
                continue
            target = self.pick_post(rng, index, at)
            if target is None:
                continue
            post = target
            target_id, target_member = post.id, post.author
            if post.comments and rng.random() < 0.3:
                earlier = post.comments[: bisect.bisect_left(post.comments, (at - MINUTE,))]
                if earlier:
                    _, target_id, target_member = rng.choice(earlier)
            if target_member == actor:
                continue
            reaction = rng.choices(_REACTIONS, cum_weights=_REACTION_CUM)[0]
            payload = {
                "community_id": cid, "member_id": member_id(actor), "target_id": target_id,
                "target_member_id": member_id(target_member), "reaction": reaction,
            }  # fmt: skip
            rows.append(self.row(at, "reaction.added", payload))
            if rng.random() < 0.04:
                rows.append(
                    self.row(at + int(rng.expovariate(1 / (30 * MINUTE))) + SECOND, "reaction.removed", dict(payload))
                )
            self.interact(rng, rows, actor, target_member, at, 0.5)

        count = _poisson(rng, total * _VIEWS_PER_DAY)
        if count:
            # Lurkers read far more than they write: viewing is much less skewed than posting.
            view_cum = list(itertools.accumulate(math.sqrt(w) + 0.3 for w in weights))
            times = self.times(rng, start, count)
            for at, viewer in zip(times, rng.choices(people, cum_weights=view_cum, k=count), strict=True):
                if self.gone(index, viewer, at):
                    continue
                seen = self.pick_post(rng, index, at, spread=15.0)
                if seen is None or seen.author == viewer:
                    continue
                post = seen
                seconds = round(min(900.0, max(1.0, rng.lognormvariate(2.5, 0.9))), 1)
                payload = {
                    "community_id": cid, "member_id": member_id(viewer), "post_id": post.id,
                    "author_member_id": member_id(post.author), "seconds": seconds,
                }  # fmt: skip
                rows.append(self.row(at, "post.viewed", payload))

        if rng.random() < min(0.5, 0.02 * math.sqrt(len(people)) * community.activity * scale):
            self.meetup(rng, rows, index, community, people, cum, start)
        if rng.random() < 0.002:
            self.update_profile(rng, rows, index, community, start)

    def meetup(
        self,
        rng: random.Random,
        rows: list[_Row],
        index: int,
        community: _Community,
        people: list[int],
        cum: list[float],
        start: int,
    ) -> None:
        cid = community_id(index)
        host = (
            community.owner
            if community.owner in people and rng.random() < 0.5
            else rng.choices(people, cum_weights=cum)[0]
        )
        at = start + (17 + rng.randint(0, 3)) * HOUR + rng.randint(0, 59) * MINUTE
        if self.gone(index, host, at):
            return
        event_id = self.next_id("e")
        rows.append(
            self.row(at, "event.hosted", {"community_id": cid, "member_id": member_id(host), "event_id": event_id})
        )
        wanted = min(len(people) - 1, 2 + _poisson(rng, math.sqrt(len(people))))
        attendees: dict[int, None] = {host: None}
        for _ in range(4 * wanted):
            if len(attendees) > wanted:
                break
            attendees[rng.choices(people, cum_weights=cum)[0]] = None
        for member in list(attendees)[1:]:
            when = at + 90 * MINUTE + rng.randint(0, 30) * MINUTE
            if not self.gone(index, member, when):
                payload = {"community_id": cid, "member_id": member_id(member), "event_id": event_id}
                rows.append(self.row(when, "event.attended", payload))

    def update_profile(
        self, rng: random.Random, rows: list[_Row], index: int, community: _Community, start: int
    ) -> None:
        payload: dict[str, Any] = {"community_id": community_id(index)}
        roll = rng.random()
        if roll < 0.5:
            extra = rng.choice(community.theme.related)
            community.topics = list(dict.fromkeys([*community.topics, extra]))
            payload["topics"] = community.topics
        elif roll < 0.9:
            community.description = (
                f"{community.description} New: we now {rng.choice(community.theme.doings)} {rng.choice(_WHEN)}."
            )
            payload["description"] = community.description
        else:
            community.visibility = "private" if community.visibility == "public" else "public"
            payload["visibility"] = community.visibility
        rows.append(self.row(start + int(rng.random() * DAY), "community.updated", payload))

    def leave(
        self, rng: random.Random, rows: list[_Row], index: int, community: _Community, people: list[int], start: int
    ) -> None:
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

    def bots(self, rng: random.Random, rows: list[_Row], start: int) -> None:
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
                post = _Post(at, pid, index, community)
                self.posts[community].append(post)
                self.posts[community].sort(key=lambda p: p.time)

    def organic(self, rng: random.Random, rows: list[_Row], start: int) -> None:
        """Join a few members to new communities: by interest, or where people they follow are."""
        plan = self.plan
        for _ in range(_poisson(rng, len(plan.members) * 0.003)):
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
            ):
                continue
            at = start + int(rng.random() * DAY)
            self.left.pop((community, member), None)
            rows.append(
                self.row(at, "member.joined", {"community_id": community_id(community), "member_id": member_id(member)})
            )
            self.active[community][member] = at
            self.memberships[member][community] = None

    # -- text ----------------------------------------------------------------------------------

    def sentence(self, rng: random.Random, theme: Theme, community: _Community) -> str:
        return rng.choice(_POST_SENTENCES).format(
            doing=rng.choice(theme.doings), when=rng.choice(_WHEN), adj=rng.choice(_ADJECTIVES),
            noun=rng.choice(theme.nouns), place=rng.choice((*_PLACES, community.city)),
        )  # fmt: skip

    def post_text(
        self, rng: random.Random, theme: Theme, community: _Community, people: list[int], author: int
    ) -> tuple[str, str, list[str]]:
        noun = rng.choice(theme.nouns)
        title = rng.choice(_TITLES).format(Noun=noun.capitalize(), noun=noun, when=rng.choice(_WHEN))
        if rng.random() < 0.05:
            sentences = [rng.choice(_FOREIGN).format(noun=noun)]
        else:
            sentences = [self.sentence(rng, theme, community) for _ in range(rng.randint(1, 3))]
        markup = rng.random() < 0.2
        extras: list[str] = []
        topics = community.topics
        if rng.random() < 0.5:
            extras.extend(f"#{tag}" for tag in rng.sample(topics, min(len(topics), rng.randint(1, 2))))
        if rng.random() < 0.25:
            others = self.followees[author] or people
            mentioned = rng.choice(others)
            if mentioned != author:
                extras.append(f"@{member_id(mentioned)}")
        link = None
        if rng.random() < 0.15:
            slug = f"{rng.getrandbits(40):010x}"
            link = rng.choice(_LINKS).format(slug=slug, tag=theme.tag, Tag=theme.tag.capitalize())
        if markup:
            bold = sentences[0].replace(noun, f"<b>{noun}</b>", 1)
            body = "".join(f"<p>{s}</p>" for s in [bold, *sentences[1:]])
            if link is not None:
                body += f'<p>More here: <a href="{link}">{link}</a></p>'
            if extras:
                body += f"<p>{' '.join(extras)}</p>"
            text = body.replace(" & ", " &amp; ")
        else:
            parts = [*sentences]
            if link is not None:
                parts.append(link)
            parts.extend(extras)
            text = " ".join(parts)
        tags = list(dict.fromkeys(rng.sample(topics, min(len(topics), rng.randint(1, 3)))))
        return title, text, tags


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


class _Emitter:
    def __init__(self, config: GeneratorConfig, offset: timedelta = timedelta(0)) -> None:
        self.config = config
        self.origin = config.start + offset
        self.prefix = f"g{config.seed}"
        self.count = 0

    def skip(self, rows: list[_Row]) -> None:
        self.count += len(rows)

    def __call__(self, row: _Row) -> Event:
        at, _, event_type, payload = row
        envelope_class, data_class = _DATA_CLASSES[event_type]
        self.count += 1
        event = envelope_class(
            id=f"{self.prefix}-{self.count:08d}",
            type=event_type,
            source=self.config.source,
            time=self.origin + timedelta(milliseconds=at),
            tenant=self.config.tenant,
            data=data_class(**payload),
        )
        return cast(Event, event)


def generate(config: GeneratorConfig | None = None) -> Iterator[Event]:
    """Yield the history's raw events in time order: the same config always gives the same events."""
    config = config or GeneratorConfig()
    simulation = _Simulation(_plan(config))
    emit = _Emitter(config)
    for number in range(config.days):
        for row in simulation.day(number):
            yield emit(row)


def live(config: GeneratorConfig | None = None, start: datetime | None = None) -> Iterator[Event]:
    """Yield events after the history, forever, continuing the same world and the same ids.

    The first live day follows the history's last day; with ``start``, times are shifted so that
    the live stream begins at ``start`` instead.
    """
    config = config or GeneratorConfig()
    history_end = config.start + timedelta(days=config.days)
    if start is not None and start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    simulation = _Simulation(_plan(config))
    emit = _Emitter(config, (start - history_end) if start is not None else timedelta(0))
    for number in range(config.days):
        emit.skip(simulation.day(number))
    number = config.days
    while True:
        for row in simulation.day(number):
            yield emit(row)
        number += 1


__all__ = [
    "THEMES",
    "CommunityProfile",
    "GeneratorConfig",
    "MemberProfile",
    "PlannedMembership",
    "Theme",
    "World",
    "build_world",
    "community_id",
    "generate",
    "live",
    "member_id",
]
