"""Clean member-written text and extract what it is about: pure functions, no I/O.

Cleaning turns whatever a client sends (HTML, entities, odd unicode, runs of whitespace) into plain
text: unicode-normalized, markup stripped by a real HTML sanitizer (nh3, the bindings of ammonia),
``<script>``/``<style>`` contents dropped, entities decoded, control characters removed, whitespace
collapsed. The result is a fixed point: cleaning it again changes nothing, and it holds no markup.
"""

from __future__ import annotations

import html
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit, urlunsplit

import nh3
import py3langid
import snowballstemmer  # type: ignore[import-untyped]

from kith_shared.words import stopwords_for

UnicodeForm = Literal["NFC", "NFKC"]

#: Stripping runs until nothing changes; each pass removes one layer of markup or entity encoding.
#: Input nested deeper than this is adversarial, and loses its markup characters outright.
_MAX_PASSES: Final = 6
#: Raw text may be at most this many times longer than the clean text it is allowed to become. Every
#: character escaped as a numeric character reference takes at most 10 (``&#x10FFFF;``), so even a text
#: escaped throughout, with as much markup again around it, fits; anything longer could only clean down
#: to the limit by being mostly markup, and sanitizing it would cost time in proportion to its size.
RAW_FACTOR: Final = 16
#: Most markup start tags in a text, at every cleaning pass (entities may decode into tags). The
#: sanitizer's cost grows with the square of unclosed nested elements (about 45 ms for 5,000 nested
#: ``<div>``, 0.7 s for 20,000); 5,000 tags is far more than a post of 10,000 characters carries.
MAX_TAGS: Final = 5_000
#: Unicode normalization is checked on pieces this long first, so that a text that would grow far
#: past the bound (NFKC writes U+FDFA as 18 characters) is refused before it is normalized whole.
_NORMALIZE_PROBE_CHARS: Final = 8_192
#: Most hashtags, mentions and links kept per text; keywords per text.
MAX_ITEMS: Final = 50
MAX_KEYWORDS: Final = 5
#: Texts shorter than this (in letters) carry too little signal to guess a language.
_MIN_LETTERS_FOR_LANGUAGE: Final = 12
#: The language is guessed from the first characters of prose: enough for a reliable guess, and the
#: identifier walks its input byte by byte in Python.
_LANGUAGE_SAMPLE_CHARS: Final = 300

_STRIP_ALL: Final = nh3.Cleaner(
    tags=set(), clean_content_tags={"script", "style"}, attributes={}, url_schemes=set(), strip_comments=True
)
# Block-level tags separate words: "<p>a</p><p>b</p>" is "a b", not "ab". This only inserts spaces;
# the sanitizer does the stripping.
_BLOCK_TAG: Final = re.compile(
    r"<(/?)(p|div|br|hr|li|ul|ol|dl|dt|dd|h[1-6]|tr|td|th|table|thead|tbody|blockquote|pre|section|article"
    r"|header|footer|nav|aside|main|figure|figcaption|details|summary)(?=[\s/>])",
    re.IGNORECASE,
)
_START_TAG: Final = re.compile(r"<[A-Za-z]")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MARKUP_CHARS: Final = re.compile(r"[<>&]")
_HREF_HINT: Final = re.compile(r"href", re.IGNORECASE)
_URL: Final = re.compile(r"https?://[^\s<>\"'`{}|\\^]+", re.IGNORECASE)
_URL_TRAILING: Final = ".,;:!?)]}'\"*"
_HASHTAG: Final = re.compile(r"(?<![\w#&])#(\w[\w\-]*)")
_MENTION: Final = re.compile(r"(?<![\w@.])@([A-Za-z0-9_][A-Za-z0-9_\-]*)")
_WORD: Final = re.compile(r"[^\W\d_][\w'’\-]*[^\W_]|[^\W\d_]")


class CostlyText(ValueError):
    """A text too long or too full of markup to be worth sanitizing; the message says which."""


@dataclass(frozen=True, slots=True)
class TextBounds:
    """How much raw text cleaning reads for a clean ``limit``: more could not clean down to it cheaply.

    Every character of clean text comes from at most one ``&`` (an entity, or a stray ``&``) or one
    stray ``<``/``>``; every tag adds a ``<`` and a ``>``, or two ``&`` once escaped. So a text that
    cleans down to ``limit`` characters holds at most ``limit + 4 * MAX_TAGS`` of the markup
    characters ``<>&``: each of them costs the sanitizer and the entity decoder far more than a letter.
    """

    limit: int

    @property
    def chars(self) -> int:
        """Return the most characters read, as received and once unicode-normalized."""
        return RAW_FACTOR * self.limit

    @property
    def markup(self) -> int:
        """Return the most markup characters (``<``, ``>``, ``&``) read."""
        return self.limit + 4 * MAX_TAGS

    def check(self, text: str) -> None:
        """Raise :class:`CostlyText` naming the bound ``text`` exceeds."""
        if len(text) > self.chars:
            raise CostlyText(
                f"{len(text)} characters as received (or once unicode-normalized); at most {self.chars} are read, "
                f"{RAW_FACTOR} times the longest clean text"
            )
        markup = len(_MARKUP_CHARS.findall(text))
        if markup > self.markup:
            raise CostlyText(f"{markup} markup characters (<, >, &); at most {self.markup} are read in one text")
        tags = len(_START_TAG.findall(text))
        if tags > MAX_TAGS:
            raise CostlyText(f"{tags} markup tags; at most {MAX_TAGS} are read in one text")

    def check_normalized(self, text: str, form: UnicodeForm) -> None:
        """Raise :class:`CostlyText` when unicode normalization would lengthen ``text`` past the bound."""
        if text.isascii() or unicodedata.is_normalized(form, text):
            return
        grown = 0
        for start in range(0, len(text), _NORMALIZE_PROBE_CHARS):
            grown += len(unicodedata.normalize(form, text[start : start + _NORMALIZE_PROBE_CHARS]))
            if grown > self.chars:
                raise CostlyText(
                    f"over {self.chars} characters once unicode-normalized; at most {self.chars} are read, "
                    f"{RAW_FACTOR} times the longest clean text"
                )


def _drop_lone_surrogates(text: str) -> str:
    # JSON may carry "\ud800" escapes: not encodable, so not publishable. Nothing of value is lost.
    return text.encode("utf-8", "ignore").decode("utf-8")


def _strip_once(text: str, form: UnicodeForm, bounds: TextBounds | None) -> str:
    if bounds is not None:
        bounds.check_normalized(text, form)
    text = unicodedata.normalize(form, text)
    if bounds is not None:
        bounds.check(text)
    text = _BLOCK_TAG.sub(r" <\1\2", text)
    text = html.unescape(_STRIP_ALL.clean(text))
    text = _CONTROL.sub(" ", text)
    return " ".join(text.split())


def _is_plain(text: str, form: UnicodeForm) -> bool:
    """Tell cheaply whether a pass would leave ``text`` as it is: nothing for the sanitizer to strip or decode."""
    return (
        "<" not in text
        and "&" not in text
        and unicodedata.is_normalized(form, text)
        and _CONTROL.search(text) is None
        and " ".join(text.split()) == text
    )


def _settle(text: str, form: UnicodeForm, bounds: TextBounds | None = None) -> str:
    for _ in range(_MAX_PASSES):
        if _is_plain(text, form):
            return text
        cleaner = _strip_once(text, form, bounds)
        if cleaner == text:
            return text
        text = cleaner
    return " ".join(unicodedata.normalize(form, _MARKUP_CHARS.sub(" ", text)).split())


def _hrefs(text: str) -> list[str]:
    found: list[str] = []

    def collect(tag: str, attribute: str, value: str) -> str | None:
        if tag == "a" and attribute == "href":
            candidate = value.strip()
            if _URL.fullmatch(candidate):
                found.append(candidate)
        return None

    nh3.clean(text, tags={"a"}, attributes={"a": {"href"}}, attribute_filter=collect, link_rel=None)
    return found


def clean_text(raw: str, form: UnicodeForm = "NFKC", limit: int | None = None) -> str:
    """Return ``raw`` as clean plain text; link targets hidden in markup are kept, appended if not visible.

    With ``limit`` (the longest clean text the caller keeps), raise :class:`CostlyText` rather than
    read text beyond its :class:`TextBounds`, as received or at any pass (unicode normalization can
    lengthen a text up to 18 times, and decoded entities can become tags): the work stays bounded.
    """
    bounds = TextBounds(limit) if limit is not None else None
    if bounds is not None:
        bounds.check(raw)
    if not raw.isascii():
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            raw = _drop_lone_surrogates(raw)
    hrefs = _hrefs(raw) if _HREF_HINT.search(raw) else []
    text = _settle(raw, form, bounds)
    missing = [href for href in dict.fromkeys(_settle(href, form) for href in hrefs) if href not in text]
    if missing:
        text = _settle(" ".join([text, *missing]), form, bounds)
    return text


def _canonical_link(url: str) -> str:
    url = url.rstrip(_URL_TRAILING)
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path, parts.query, parts.fragment))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))[:MAX_ITEMS]


def extract_links(text: str) -> list[str]:
    """Return the http(s) links in ``text``, canonical (lower-case scheme and host), in order, once each."""
    return _unique([_canonical_link(match) for match in _URL.findall(text)])


def extract_hashtags(text: str) -> list[str]:
    """Return the hashtags (lower-case, without ``#``), in order, once each; links are not searched."""
    prose = _URL.sub(" ", text)
    return _unique([tag.strip("-").lower()[:64] for tag in _HASHTAG.findall(prose) if not tag.isdigit()])


def extract_mentions(text: str) -> list[str]:
    """Return the member ids mentioned with ``@``, in order, once each; e-mail addresses are not mentions."""
    prose = _URL.sub(" ", text)
    return _unique([name.rstrip("-")[:128] for name in _MENTION.findall(prose)])


def _prose(text: str) -> str:
    return _MENTION.sub(" ", _URL.sub(" ", text))


def detect_language(text: str) -> str | None:
    """Return the ISO 639-1 code of the text's language, or None when the text is too short to tell."""
    prose = _prose(text)
    if sum(char.isalpha() for char in prose[:200]) < _MIN_LETTERS_FOR_LANGUAGE:
        return None
    language, _score = py3langid.classify(prose[:_LANGUAGE_SAMPLE_CHARS])
    return str(language)


#: Snowball stemmers by the ISO 639-1 code the language identifier answers.
STEMMERS: Final[dict[str, str]] = {
    "ar": "arabic", "ca": "catalan", "cs": "czech", "da": "danish", "de": "german", "el": "greek",
    "en": "english", "eo": "esperanto", "es": "spanish", "et": "estonian", "eu": "basque", "fa": "persian",
    "fi": "finnish", "fr": "french", "ga": "irish", "hi": "hindi", "hu": "hungarian", "hy": "armenian",
    "id": "indonesian", "it": "italian", "lt": "lithuanian", "nb": "norwegian", "ne": "nepali", "nl": "dutch",
    "no": "norwegian", "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}  # fmt: skip
#: Elided articles and prepositions before an apostrophe (French, Italian, Catalan): "l'escalade" is "escalade".
_ELISION: Final = re.compile(r"^(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu|dell|dall|nell|sull|all)['’]")
# A Snowball stemmer keeps the word it works on in itself: one per thread and language.
_stemmers = threading.local()


def stem(word: str, language: str | None) -> str:
    """Return the Snowball stem of a lower-case ``word`` in ``language`` (the word itself when none applies)."""
    algorithm = STEMMERS.get(language or "")
    if algorithm is None:
        return word
    cache: dict[str, object] | None = getattr(_stemmers, "by_algorithm", None)
    if cache is None:
        cache = _stemmers.by_algorithm = {}
    stemmer = cache.get(algorithm)
    if stemmer is None:
        stemmer = cache[algorithm] = snowballstemmer.stemmer(algorithm)
    return str(stemmer.stemWord(word))  # type: ignore[attr-defined]


def extract_keywords(text: str, limit: int = MAX_KEYWORDS, language: str | None = None) -> list[str]:
    """Return the words the text is most about, most frequent first, as words a person would write.

    Stopwords of the text's language (ISO 639-1; unknown: the lists of a few common ones), numbers
    and words under three letters are left out; the rest are counted by their Snowball stem, so
    "run", "runs" and "running" count together, and each stem is shown as its most frequent form in
    the text (a stopword itself is never shown, even when another form of it counts: "run" is an
    English stopword, "running" is not). Ties are broken by first appearance, so the answer is
    deterministic.
    """
    stopwords = stopwords_for(language)
    counts: dict[str, int] = {}
    forms: dict[str, dict[str, int]] = {}
    for found in _WORD.findall(_prose(text).lower()):
        word = _ELISION.sub("", found)
        if len(word) < 3 or word in stopwords:
            continue
        root = stem(word, language)
        counts[root] = counts.get(root, 0) + 1
        seen = forms.setdefault(root, {})
        seen[word] = seen.get(word, 0) + 1
    # dicts keep insertion order, i.e. first appearance; sorted() and max() keep the first of equals.
    ranked = sorted(counts, key=lambda root: -counts[root])[:limit]
    return [max(forms[root], key=lambda form: forms[root][form]) for root in ranked]


def warm_up() -> None:
    """Load the language model now rather than on the first event (it takes about a second)."""
    detect_language("warming up the language identifier with a sentence")
