"""Check and clean the places events carry: assigned country codes, a clean place name; pure, no I/O.

The contract already bounds latitude and longitude and asks for two letters; only ingest knows
which two-letter codes ISO 3166-1 assigns (from ``iso3166``, MIT-licensed, a table kept with it).
"""

from __future__ import annotations

from iso3166 import countries_by_alpha2

from kith_shared.events import DecodeError
from kith_shared.events.data import Location


def is_country(code: str) -> bool:
    """Tell whether ``code`` is an assigned ISO 3166-1 alpha-2 country code (upper case)."""
    return code in countries_by_alpha2


def check_location(location: Location, field: str, clean_name: str | None) -> Location:
    """Return ``location`` with its name cleaned; raise :class:`DecodeError` on an unassigned country code."""
    if location.country is not None and not is_country(location.country):
        raise DecodeError.single(
            f"{field}.country", f"{location.country!r} is not an ISO 3166-1 alpha-2 country code (e.g. US, DE)"
        )
    if location.name is not None and clean_name != location.name:
        if not clean_name:
            raise DecodeError.single(f"{field}.name", "empty once markup and whitespace are removed")
        return location.model_copy(update={"name": clean_name})
    return location
