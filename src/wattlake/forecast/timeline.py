"""The regular time grid of a forecast problem, with its calendar and issue times.

A forecast is *issued* at `issue_ts` and covers the `horizon` after it. Issue times are
the starts of consecutive horizon blocks counted from midnight UTC of the first day
(day-ahead: every day at 00:00 UTC, covering 00:00–23:xx). Every time `ts` of the grid
belongs to exactly one block; `lead_steps` = steps from its issue time (0 … steps − 1).

The calendar is computed here in Python for the grid's few thousand distinct times (not
per row) and joined by `ts` in the engine: UTC hour, Europe/London local hour and weekday
(the DST change days have 23 or 25 local hours but always 24 UTC hours), month, day of
year, season, weekend, UK (England) public holidays and `is_offday` (weekend or holiday:
holidays are rare, so a model learns them with the weekends).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from wattlake.errors import InputError
from wattlake.lake.spec import UTC_TS
from wattlake.transforms.calendar import uk_holidays

LOCAL_TZ = "Europe/London"
STEPS_ALLOWED_MINUTES = (5, 10, 15, 30, 60)


@dataclass(frozen=True)
class Grid:
    """Step (minutes) and horizon (minutes) of a forecast problem.

    `horizon_minutes` must be a whole number of steps; day-ahead is 1440."""

    step_minutes: int = 60
    horizon_minutes: int = 1440

    def __post_init__(self) -> None:
        if self.step_minutes not in STEPS_ALLOWED_MINUTES:
            raise InputError(
                f"unsupported interval {self.step_minutes} min "
                f"(supported: {', '.join(map(str, STEPS_ALLOWED_MINUTES))})"
            )
        if self.horizon_minutes <= 0 or self.horizon_minutes % self.step_minutes:
            raise InputError(
                f"horizon {self.horizon_minutes} min is not a positive multiple of the "
                f"{self.step_minutes}-min interval"
            )
        if self.horizon_minutes > 7 * 1440:
            raise InputError("horizon longer than 7 days is not supported")

    @property
    def steps_per_day(self) -> int:
        return 1440 // self.step_minutes

    @property
    def horizon_steps(self) -> int:
        return self.horizon_minutes // self.step_minutes

    @property
    def step(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.step_minutes)


def as_utc(ts: dt.datetime) -> dt.datetime:
    """`ts` as an aware UTC datetime (a naive one is taken as UTC, as the lake stores)."""
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


def day_start(ts: dt.datetime) -> dt.datetime:
    """Midnight UTC of `ts`'s day (a UTC datetime)."""
    ts = as_utc(ts)
    return dt.datetime(ts.year, ts.month, ts.day, tzinfo=dt.UTC)


def season_code(month: np.ndarray) -> np.ndarray:
    """0 winter (DJF), 1 spring, 2 summer, 3 autumn."""
    return np.asarray((month % 12) // 3, dtype=np.int32)


def timeline(start: dt.datetime, end: dt.datetime, grid: Grid) -> pa.Table:
    """Every grid time in `[start, end)` with its calendar and issue block (module doc).

    `start` is moved back to its day's midnight UTC (the origin of the issue blocks)."""
    origin, end = day_start(start), as_utc(end)
    if end <= origin:
        return pa.table({"ts": pa.array([], UTC_TS)})
    ts = pd.date_range(origin, end, freq=f"{grid.step_minutes}min", inclusive="left", tz="UTC")
    local = ts.tz_convert(LOCAL_TZ)
    since = ((ts - pd.Timestamp(origin)) // pd.Timedelta(minutes=grid.step_minutes)).to_numpy()
    block = since // grid.horizon_steps
    issue = pd.Timestamp(origin) + pd.to_timedelta(
        block * grid.horizon_minutes, unit="m"
    )  # the block's start
    dates = local.date
    hol = set(uk_holidays(int(local.year.min()), int(local.year.max())))
    is_hol = np.fromiter((d in hol for d in dates), dtype=bool, count=len(dates))
    month = local.month.to_numpy()
    dst = np.array([bool(x.dst()) for x in local], dtype=bool) if len(local) else np.array([])
    return pa.table(
        {
            "ts": pa.array(ts.to_pydatetime(), UTC_TS),
            "issue_ts": pa.array(issue.to_pydatetime(), UTC_TS),
            "lead_steps": pa.array((since % grid.horizon_steps).astype(np.int32)),
            "day_index": pa.array((since // grid.steps_per_day).astype(np.int32)),
            "issue_day_index": pa.array(
                ((block * grid.horizon_steps) // grid.steps_per_day).astype(np.int32)
            ),
            "slot": pa.array((since % grid.steps_per_day).astype(np.int32)),
            "hour_utc": pa.array(ts.hour.to_numpy().astype(np.int32)),
            "hour_local": pa.array(
                (local.hour.to_numpy() + local.minute.to_numpy() / 60.0).astype(np.float64)
            ),
            "day_of_week": pa.array(local.dayofweek.to_numpy().astype(np.int32)),
            "month": pa.array(month.astype(np.int32)),
            "day_of_year": pa.array(local.dayofyear.to_numpy().astype(np.int32)),
            "season": pa.array(season_code(month)),
            "is_weekend": pa.array(local.dayofweek.to_numpy() >= 5),
            "is_holiday": pa.array(is_hol),
            "is_offday": pa.array(is_hol | (local.dayofweek.to_numpy() >= 5)),
            "is_dst": pa.array(dst),
        }
    )
