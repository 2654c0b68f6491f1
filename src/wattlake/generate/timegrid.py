"""Shared half-hourly time index (UTC interval starts) and calendar features."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import holidays
import numpy as np
import pandas as pd

INTERVALS_PER_DAY = 48
INTERVAL_HOURS = 0.5
LOCAL_TZ = "Europe/London"


@dataclass(frozen=True)
class TimeGrid:
    """Half-hourly grid of ``days * 48`` intervals.

    Attributes:
        start: first day (UTC date); interval 0 starts at 00:00 UTC.
        days: number of days.
        times: interval start timestamps, ``datetime64[s]`` UTC, shape (T,).
        day_index: day number (0-based) of each interval, shape (T,).
        local_hour: Europe/London local clock hour of the interval midpoint, in hours
            (0–24, fractional), shape (T,).
        is_offday: True on local weekends and English bank holidays, shape (T,).
        day_of_year: day of year (1–366) of each day, shape (days,).
    """

    start: datetime.date
    days: int
    times: np.ndarray
    day_index: np.ndarray
    local_hour: np.ndarray
    is_offday: np.ndarray
    day_of_year: np.ndarray

    @property
    def n_intervals(self) -> int:
        """Number of half-hour intervals T."""
        return self.days * INTERVALS_PER_DAY


def make_time_grid(start: datetime.date, days: int) -> TimeGrid:
    """Build the shared time grid starting at ``start`` 00:00 UTC for ``days`` days."""
    n = days * INTERVALS_PER_DAY
    idx = pd.date_range(pd.Timestamp(start), periods=n, freq="30min", tz="UTC")
    local = (idx + pd.Timedelta(minutes=15)).tz_convert(LOCAL_TZ)
    local_hour = (local.hour + local.minute / 60.0).to_numpy(dtype=np.float64)
    local_day = local.tz_localize(None).normalize().to_numpy().astype("datetime64[D]")
    years = range(start.year, (start + datetime.timedelta(days=days)).year + 1)
    bank = holidays.country_holidays("GB", subdiv="ENG", years=years)
    bank_days = np.array(sorted(bank.keys()), dtype="datetime64[D]")
    is_offday = (local.dayofweek.to_numpy() >= 5) | np.isin(local_day, bank_days)
    day_dates = pd.date_range(pd.Timestamp(start), periods=days, freq="D")
    return TimeGrid(
        start=start,
        days=days,
        times=idx.tz_localize(None).to_numpy().astype("datetime64[s]"),
        day_index=np.repeat(np.arange(days, dtype=np.int64), INTERVALS_PER_DAY),
        local_hour=local_hour,
        is_offday=np.asarray(is_offday, dtype=bool),
        day_of_year=day_dates.dayofyear.to_numpy(dtype=np.int64),
    )


def iso_strings(times: np.ndarray) -> np.ndarray:
    """Format UTC ``datetime64`` values as ISO 8601 ``2024-03-15T14:00:00Z`` strings."""
    if len(times) == 0:
        return np.array([], dtype=str)
    return np.char.add(np.datetime_as_string(times.astype("datetime64[s]"), unit="s"), "Z")


def lcl_strings(times: np.ndarray) -> np.ndarray:
    """Format UTC ``datetime64`` values LCL style: ``2012-10-12 00:30:00.0000000``."""
    if len(times) == 0:
        return np.array([], dtype=str)
    iso = np.datetime_as_string(times.astype("datetime64[s]"), unit="s")
    return np.char.add(np.char.replace(iso, "T", " "), ".0000000")
