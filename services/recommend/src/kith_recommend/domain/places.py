"""What places do to ranking: a radius filter and a distance decay, per member.

When the member's place is known (declared, or inferred from the events they attend), a ``local``
community farther than ``radius_km`` is never suggested and a nearer one counts
``0.5^(distance / distance_half_km)``; a ``hybrid`` one is never filtered and decays towards
``hybrid_floor`` only (it can be joined online); ``online`` ones, and any community whose place is
unknown, are unaffected. A member whose place is unknown is shown no ``local`` community (unless
``local_without_place``): a club that meets in person somewhere is most likely in another city.
With ``use_places`` off, places play no part in the ranking at all (every community ranks as if
online; reasons still say where a community meets).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kith_recommend.domain.compiled import MODES, CompiledModel, Vector
from kith_recommend.domain.model import MemberProfile
from kith_recommend.domain.params import RankingParams

EARTH_RADIUS_KM = 6371.0088
_LOCAL = MODES.index("local")
_HYBRID = MODES.index("hybrid")


def distances_km(model: CompiledModel, lat: float, lon: float) -> Vector:
    """Return the great-circle distance from a point to every community's place (NaN where unknown)."""
    phi1, phi2 = math.radians(lat), np.radians(model.lat)
    dphi = phi2 - phi1
    dlambda = np.radians(model.lon) - math.radians(lon)
    h = np.sin(dphi / 2) ** 2 + math.cos(phi1) * np.cos(phi2) * np.sin(dlambda / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class PlaceEffect:
    """What places do to one member's ranking: a factor per community, the ones too far, distances."""

    factor: Vector
    too_far: npt.NDArray[np.bool_]
    distance: Vector  # km; NaN where either place is unknown


def place_effect(model: CompiledModel, profile: MemberProfile, params: RankingParams) -> PlaceEffect | None:
    """Return the distance decay and radius filter for a member; None when places play no part for them.

    A member whose place is unknown is shown no local community that meets somewhere (it could be
    anywhere: one of them is a club in another city) unless ``local_without_place`` is on.
    """
    where = profile.location
    if model.n == 0 or not params.use_places:
        return None
    if where is None:
        placed_local = (model.mode == _LOCAL) & ~np.isnan(model.lat)
        if params.local_without_place or not placed_local.any():
            return None
        return PlaceEffect(factor=np.ones(model.n), too_far=placed_local, distance=np.full(model.n, np.nan))
    distance = distances_km(model, where.lat, where.lon)
    known = ~np.isnan(distance)
    near = np.where(known, distance, 0.0)
    decay = np.power(0.5, near / params.distance_half_km)
    local = known & (model.mode == _LOCAL)
    hybrid = known & (model.mode == _HYBRID)
    factor = np.ones(model.n)
    factor[local] = decay[local]
    factor[hybrid] = params.hybrid_floor + (1.0 - params.hybrid_floor) * decay[hybrid]
    too_far = local & (near > params.radius_km)
    return PlaceEffect(factor=factor, too_far=too_far, distance=distance)
