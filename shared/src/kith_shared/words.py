"""Words too common to say what a text is about, by language: one list for ingest's keywords and recommend's reasons.

The lists are the maintained ``stopwords-iso`` collection (``stopwordsiso``, MIT; 58 languages keyed
by ISO 639-1, the codes ingest's language identifier answers), plus :data:`CHATTER`: calendar and
chat words that those lists keep (they are meaningful words, but never what a community is about:
"see you this week" is not about weeks).
"""

from __future__ import annotations

from functools import cache
from typing import Final

import stopwordsiso

_CHATTER_WORDS: Final = (
    "week weeks weekend weekends day days daily tonight tomorrow yesterday morning mornings evening "
    "evenings night nights afternoon noon month months year years hour hours minute minutes time times "
    "monday tuesday wednesday thursday friday saturday sunday january february march april june july "
    "august september october november december lol haha hahaha omg btw thx pls yay wow hey hello hi "
    "guys folks everybody anyone someone stuff thing things lot lots bit kind sort "
    "woche wochen wochenende tage heute morgen abend nacht jahr jahre stunde zeit montag dienstag "
    "mittwoch donnerstag freitag samstag sonntag "
    "semaine semaines jour jours aujourd'hui demain hier matin soir nuit année heure temps lundi mardi "
    "mercredi jeudi vendredi samedi dimanche "
    "semana semanas día días hoy mañana ayer tarde noche año años hora tiempo lunes martes miércoles "
    "jueves viernes sábado domingo"
)
#: Calendar and chat words in the languages the product meets most, that general lists miss.
CHATTER: Final[frozenset[str]] = frozenset(_CHATTER_WORDS.split())

#: Languages whose lists apply when a text's language is unknown (too short to tell, or not listed).
FALLBACK_LANGUAGES: Final = ("en", "de", "fr", "es")


@cache
def stopwords_for(language: str | None) -> frozenset[str]:
    """Return the stopwords for texts in ``language`` (ISO 639-1): its list, English's, and the chatter.

    English is always included because member writing mixes it into every language; an unknown or
    unlisted language gets the lists of :data:`FALLBACK_LANGUAGES`.
    """
    if language is not None and stopwordsiso.has_lang(language):
        languages = sorted({language, "en"})
    else:
        languages = list(FALLBACK_LANGUAGES)
    return frozenset(stopwordsiso.stopwords(languages)) | CHATTER


@cache
def any_language_stopwords() -> frozenset[str]:
    """Return the words that are stopwords in any listed language (for checks that do not know the language)."""
    return frozenset(stopwordsiso.stopwords(sorted(stopwordsiso.langs()))) | CHATTER


def is_stopword(word: str, language: str | None = None) -> bool:
    """Tell whether ``word`` (any case) is a stopword of ``language``, or of any language when it is None."""
    words = any_language_stopwords() if language is None else stopwords_for(language)
    return word.lower() in words
