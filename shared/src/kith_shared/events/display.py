"""Free text shown to people (names, titles, descriptions, tags): no invisible or direction-changing characters.

A community name made of zero-width spaces looks blank; one holding a right-to-left override shows
its characters in another order than they are stored (``"gro.elpmaxe"`` reads as ``"example.org"``).
:data:`DisplayText` removes such characters where the contract decodes them, so every service
stores and serves the same visible text; a name that is blank afterwards fails its length check
like any empty name.

Removed: bidirectional controls (marks, embeddings, overrides, isolates), zero-width space, word
joiner and invisible operators, the byte order mark, soft hyphen, the combining grapheme joiner,
Mongolian vowel and free variation selectors, Khmer inherent vowels, the Hangul fillers (which draw
as blank letters) and lone surrogates (which no UTF-8 text can carry). Zero-width (non-)joiners are
kept only between two visible characters, where they shape emoji sequences and Persian or Indic words.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import BeforeValidator

_INVISIBLE: Final = re.compile(
    "["
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
    "\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\u3164\ufeff\uffa0"
    # Lone surrogates: JSON may spell them (\\ud800), but no text holds them and UTF-8 cannot carry them.
    "\ud800-\udfff"
    "]"
)
#: A zero-width joiner or non-joiner not between two visible characters.
_LOOSE_JOINER: Final = re.compile(r"(?<![^\s\u200c\u200d])[\u200c\u200d]+|[\u200c\u200d]+(?![^\s\u200c\u200d])")


def visible(text: str) -> str:
    """Return ``text`` without invisible and direction-changing characters."""
    return _LOOSE_JOINER.sub("", _INVISIBLE.sub("", text))


def _visible(value: object) -> object:
    return visible(value) if isinstance(value, str) else value


def not_blank(value: str) -> str:
    """Return ``value`` when something visible is left of it; raise otherwise."""
    if not value.strip():
        raise ValueError("blank once invisible characters and surrounding spaces are removed")
    return value


#: Put after a string's constraints: ``Annotated[str, StringConstraints(max_length=64), VISIBLE]``. The
#: characters go first, then the constraints (strip, lengths) apply to what is left.
VISIBLE: Final = BeforeValidator(_visible)

DisplayText = Annotated[str, VISIBLE]
"""A string shown to people, with invisible and direction-changing characters removed before its checks."""
