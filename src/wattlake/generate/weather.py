"""Synthetic city weather: daily temperature, daily cloudiness, clear-sky irradiance."""

from __future__ import annotations

import numpy as np
import pvlib
from scipy.signal import lfilter

from wattlake.generate.timegrid import TimeGrid

LONDON_LAT = 51.5
LONDON_LON = -0.12


def ar1(n: int, phi: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) series, length ``n``, coefficient ``phi``, marginal std ``sigma``."""
    eps = rng.standard_normal(n) * sigma * np.sqrt(1.0 - phi**2)
    eps[0] = rng.standard_normal() * sigma
    return lfilter([1.0], [1.0, -phi], eps)


def daily_temperature(day_of_year: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Daily mean temperature in °C: London climatology (~5 °C Jan, ~18 °C Jul) + AR(1) noise."""
    clim = 11.5 - 6.5 * np.cos(2.0 * np.pi * (day_of_year - 15) / 365.25)
    return clim + ar1(len(day_of_year), phi=0.75, sigma=2.0, rng=rng)


def daily_cloud_factor(days: int, rng: np.random.Generator) -> np.ndarray:
    """Daily clear-sky fraction (dimensionless, 0.2–1.0) from a persistent AR(1) latent."""
    z = ar1(days, phi=0.6, sigma=1.3, rng=rng)
    return 0.2 + 0.8 / (1.0 + np.exp(-(z + 0.3)))


def clearsky_ghi(grid: TimeGrid) -> np.ndarray:
    """Clear-sky global horizontal irradiance in W/m² at interval midpoints, shape (T,).

    Uses pvlib's Haurwitz model for London; computed once for the shared index.
    """
    import pandas as pd

    mid = pd.DatetimeIndex(grid.times + np.timedelta64(15, "m"), tz="UTC")
    loc = pvlib.location.Location(LONDON_LAT, LONDON_LON, tz="UTC")
    cs = loc.get_clearsky(mid, model="haurwitz")
    ghi = cs["ghi"].to_numpy(dtype=np.float64)
    return np.where(np.isfinite(ghi), np.clip(ghi, 0.0, None), 0.0)
