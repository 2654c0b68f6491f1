"""Vectorised household consumption model (kWh per half hour)."""

from __future__ import annotations

import numpy as np

from wattlake.generate.population import Behaviour
from wattlake.generate.timegrid import INTERVAL_HOURS, TimeGrid

HEATING_BASE_C = 15.5


def _bump(hour: np.ndarray, centre: np.ndarray, width_h: float) -> np.ndarray:
    """Gaussian bump of height 1 around ``centre`` (hours), circular over 24 h."""
    d = np.abs(hour - centre)
    d = np.minimum(d, 24.0 - d)
    return np.exp(-0.5 * (d / width_h) ** 2)


def consumption_kwh(
    beh: Behaviour,
    grid: TimeGrid,
    temperature_c: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Household consumption in kWh per half hour, shape (households, T), never negative.

    Average power (kW) = scale × (base + morning peak + evening peak × season + weekend
    daytime use) + heating (kW per heating degree-day kelvin × occupancy), times
    mean-one lognormal noise; multiplied by 0.5 h to get kWh.

    Args:
        beh: behaviour parameters of the households (arrays of shape (H,)).
        grid: shared time grid.
        temperature_c: daily mean temperature in °C, shape (days,).
        rng: random generator for the noise.
    """
    hour = grid.local_hour[None, :]
    off = grid.is_offday[None, :]
    morning = _bump(hour, beh.morning_h[:, None] + 1.5 * off, 0.9)
    evening = _bump(hour, beh.evening_h[:, None], 1.6)
    daytime = off * _bump(hour, np.array([[13.5]]), 3.0)
    doy = grid.day_of_year[grid.day_index]
    season = (1.0 + 0.15 * np.cos(2.0 * np.pi * (doy - 15) / 365.25))[None, :]
    hdd = np.clip(HEATING_BASE_C - temperature_c, 0.0, None)[grid.day_index][None, :]
    occupancy = 0.4 + 0.6 * np.minimum(morning + evening + daytime, 1.0)

    kw = beh.base_kw[:, None] + beh.morning_kw[:, None] * morning
    kw += beh.evening_kw[:, None] * evening * season
    kw += beh.daytime_kw[:, None] * daytime
    kw *= beh.scale[:, None]
    kw += beh.heat_kw_per_k[:, None] * hdd * occupancy

    sigma = beh.noise_sigma[:, None]
    noise = rng.standard_normal(kw.shape)
    noise *= sigma
    noise -= 0.5 * sigma**2
    np.exp(noise, out=noise)
    kw *= noise
    kw *= INTERVAL_HOURS
    return kw
