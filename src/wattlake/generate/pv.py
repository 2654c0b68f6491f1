"""Vectorised PV production model (kWh per half hour)."""

from __future__ import annotations

import numpy as np

from wattlake.generate.timegrid import INTERVAL_HOURS, TimeGrid

PERFORMANCE_RATIO = 0.8
STC_IRRADIANCE_W_M2 = 1000.0


def pv_kwh(
    kwp_by_day: np.ndarray,
    orientation: np.ndarray,
    ghi_w_m2: np.ndarray,
    cloud_by_day: np.ndarray,
    grid: TimeGrid,
    rng: np.random.Generator,
) -> np.ndarray:
    """PV production in kWh per half hour, shape (n, T), 0 at night and before installation.

    kWh = clear-sky GHI (W/m²) × daily cloud factor × small per-interval noise
    × kWp (valid that day) × orientation factor × performance ratio / 1000 W/m² × 0.5 h.

    Args:
        kwp_by_day: installed peak power in kWp per day, shape (n, days); 0 = not installed.
        orientation: dimensionless yield factor per system, shape (n,).
        ghi_w_m2: clear-sky GHI in W/m² at interval midpoints, shape (T,).
        cloud_by_day: clear-sky fraction per day (0.2–1.0), shape (days,).
        grid: shared time grid.
        rng: random generator for the per-interval noise.
    """
    irr = ghi_w_m2 * cloud_by_day[grid.day_index]
    noise = rng.standard_normal((kwp_by_day.shape[0], grid.n_intervals))
    noise *= 0.08
    noise += 1.0
    np.clip(noise, 0.6, 1.4, out=noise)
    noise *= irr[None, :]
    noise *= kwp_by_day[:, grid.day_index]
    noise *= (orientation * PERFORMANCE_RATIO * INTERVAL_HOURS / STC_IRRADIANCE_W_M2)[:, None]
    return noise
