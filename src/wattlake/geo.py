"""Distances on the Earth and the weather-matching radius, in one place.

The great-circle (haversine) distance is needed in three forms: numpy (the P2P market's
communities, the PV model's grid points), Ibis (enrichment, on any engine) and SQL text (the
warehouse loader, on DuckDB and PostgreSQL). All three are here, in the same arithmetic as
before they were gathered (so results are bit-for-bit unchanged), and
`tests/test_geo.py` checks that they agree.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG), km
WEATHER_MAX_DISTANCE_KM = 50.0
"""Readings and users farther than this (km) from every weather grid point get no weather."""


def haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Great-circle distance (km) between points in degrees (numpy; broadcasts; NaN → NaN)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def _num(x: ir.NumericValue | float) -> ir.NumericValue:
    return x if isinstance(x, ir.Expr) else ibis.literal(float(x), "float64")


def haversine_expr(
    lat1: ir.NumericValue | float,
    lon1: ir.NumericValue | float,
    lat2: ir.NumericValue | float,
    lon2: ir.NumericValue | float,
) -> ir.FloatingValue:
    """Great-circle distance in km between points in degrees (Ibis columns or numbers)."""
    lat1, lon1, lat2, lon2 = _num(lat1), _num(lon1), _num(lat2), _num(lon2)
    p1, p2 = lat1.radians(), lat2.radians()
    dp = p2 - p1
    dl = (lon2 - lon1).radians()
    a = (dp / 2).sin() ** 2 + p1.cos() * p2.cos() * (dl / 2).sin() ** 2
    a = ibis.least(ibis.greatest(a, 0.0), 1.0)
    return 2 * EARTH_RADIUS_KM * a.sqrt().asin()


def haversine_sql(lat1: str, lon1: str, lat2: str, lon2: str) -> str:
    """Great-circle distance in km between points in degrees, as SQL (DuckDB and
    PostgreSQL) over the given column expressions."""
    return (
        f"2 * {EARTH_RADIUS_KM} * asin(sqrt(power(sin(radians({lat2} - {lat1}) / 2), 2) + "
        f"cos(radians({lat1})) * cos(radians({lat2})) * "
        f"power(sin(radians({lon2} - {lon1}) / 2), 2)))"
    )


def nearest_point(
    lat: float, lon: float, grid_lat: np.ndarray, grid_lon: np.ndarray
) -> tuple[int, float]:
    """Index of the grid point nearest to (`lat`, `lon`) (the first on ties) and its
    distance in km."""
    dist = haversine_km(lat, lon, grid_lat, grid_lon)
    j = int(np.argmin(dist))
    return j, float(dist[j])
