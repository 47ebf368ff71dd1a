"""What generated members talk about: hobbies with their tags, words for names and posts, cities.

Declarative tables; the order of :data:`THEMES` is rough popularity (earlier themes draw more members).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class Theme:
    """A hobby or interest: its tag, related tags, words for names and for posts."""

    tag: str
    related: tuple[str, ...]
    """Neighbouring tags, some of which communities about the theme carry beside its own."""
    stems: tuple[str, ...]
    """Community names, used alone or after a city ("Run Club", "Berlin Run Club")."""
    nouns: tuple[str, ...]
    """Things its members talk about, for posts and comments."""
    doings: tuple[str, ...]
    """What its members do together ("run the river loop"), for descriptions and posts."""


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
CITY_TAGS: Final = {"Kraków": "krakow"}
#: Where each city is: ISO 3166-1 country code, latitude, longitude (city centres, WGS 84).
CITY_PLACES: Final[dict[str, tuple[str, float, float]]] = {
    "Berlin": ("DE", 52.5200, 13.4050), "Lisbon": ("PT", 38.7223, -9.1393), "Leeds": ("GB", 53.8008, -1.5491),
    "Austin": ("US", 30.2672, -97.7431), "Lyon": ("FR", 45.7640, 4.8357), "Porto": ("PT", 41.1579, -8.6291),
    "Kraków": ("PL", 50.0647, 19.9450), "Osaka": ("JP", 34.6937, 135.5023), "Montreal": ("CA", 45.5019, -73.5674),
    "Melbourne": ("AU", -37.8136, 144.9631), "Seattle": ("US", 47.6062, -122.3321), "Ghent": ("BE", 51.0543, 3.7174),
    "Bristol": ("GB", 51.4545, -2.5879), "Valencia": ("ES", 39.4699, -0.3763), "Tartu": ("EE", 58.3776, 26.7290),
    "Bologna": ("IT", 44.4949, 11.3426), "Denver": ("US", 39.7392, -104.9903), "Utrecht": ("NL", 52.0907, 5.1214),
    "Wellington": ("NZ", -41.2866, 174.7756), "Graz": ("AT", 47.0707, 15.4395),
}  # fmt: skip

WHEN: Final = ("this Saturday", "on Sunday morning", "Tuesday evening", "this weekend", "on Friday night", "next week")
ADJECTIVES: Final = (
    "amazing", "harder than expected", "surprisingly relaxing", "a bit of a mess", "so much fun", "totally worth it",
)  # fmt: skip
PLACES: Final = ("the community centre", "the old library", "Café Central", "the park", "the usual spot", "my place")
TITLES: Final = (
    "{Noun} question", "Weekend plans?", "My first {noun}", "Tips for a {noun}?", "Show and tell: my {noun}",
    "Anyone free {when}?", "Thoughts on the {noun}", "Small win today", "Looking for advice", "Meet-up recap",
)  # fmt: skip
POST_SENTENCES: Final = (
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
COMMENTS: Final = (
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
FOREIGN: Final = (
    "Hat jemand Lust, am Wochenende zusammen zu üben? Ich bringe meinen {noun} mit.",
    "Danke für die Tipps, das hat mir sehr geholfen!",
    "¿Alguien se apunta este fin de semana? Me encanta este grupo.",
    "Gracias por compartir, qué buena idea.",
    "Quelqu'un a déjà essayé ? C'était génial la dernière fois.",
    "Merci à tous pour la séance de samedi, à la prochaine !",
)
LINKS: Final = (
    "https://www.youtube.com/watch?v={slug}", "https://blog.example.com/{tag}/{slug}", "https://www.meetup.com/{tag}-{slug}",
    "https://github.com/{tag}-club/{slug}", "https://en.wikipedia.org/wiki/{Tag}", "https://photos.example.org/album/{slug}",
)  # fmt: skip
DESCRIPTIONS: Final = (
    "{name}: a small group for people who love {tag} and {tag2}. We meet {when} to {doing}.",
    "Friendly {tag} community in {city}. Beginners welcome; we {doing} and share tips about the {noun}.",
    "For everyone into {tag2} and {tag}. Monthly meet-ups, a reading list and lots of {noun} talk.",
    "We {doing} {when} and talk about {tag} the rest of the week. Be kind, share what you learn.",
)
REACTIONS: Final = ("like", "love", "laugh", "wow", "clap", "insightful")
REACTION_CUM: Final = tuple(itertools.accumulate((60, 18, 8, 5, 6, 3)))
#: Relative activity per hour of the day: quiet nights, busy evenings.
HOUR_CUM: Final = tuple(
    itertools.accumulate((1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 3, 3, 3.5, 4, 3.5, 3, 3, 3.5, 4.5, 5.5, 6, 6, 5, 3.5, 2))
)
HOURS: Final = tuple(range(24))
