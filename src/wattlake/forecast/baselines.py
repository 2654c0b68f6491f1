"""Baselines computed beside every model, from the feature table's lags (so they respect
the issue time exactly as the model does):

- `persistence_1d`: the value at the same time yesterday (`lag_1d`);
- `persistence_7d`: the value at the same time last week (`lag_7d`);
- `like_day`: the mean at the same time of day over the most recent `LIKE_DAYS` of the
  previous seven days of the same kind (working day vs weekend/holiday), falling back to
  all seven days when none is of the same kind.

Each is NULL (NaN) where its inputs are missing.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

BASELINES = ("persistence_1d", "persistence_7d", "like_day")
LIKE_DAYS = 3


def _day_kind(ts: pd.Series, holidays: set[dt.date]) -> np.ndarray:
    """True for weekend or holiday days (UTC date of `ts`)."""
    t = pd.DatetimeIndex(ts)
    off = t.dayofweek >= 5
    if holidays:
        off = off | np.isin(t.date, np.array(sorted(holidays), dtype=object))
    return np.asarray(off)


def like_day(frame: pd.DataFrame, holidays: set[dt.date] | None = None) -> np.ndarray:
    """Like-day forecast per row of a feature frame (`ts`, `lag_1d` … `lag_7d`)."""
    holidays = holidays or set()
    kind = _day_kind(frame["ts"], holidays)
    vals = np.full(len(frame), 0.0)
    cnt = np.zeros(len(frame))
    allv = np.zeros(len(frame))
    alln = np.zeros(len(frame))
    for k in range(1, 8):
        lag = frame[f"lag_{k}d"].to_numpy(dtype=np.float64)
        prev_kind = _day_kind(frame["ts"] - pd.Timedelta(days=k), holidays)
        ok = np.isfinite(lag)
        allv += np.where(ok, lag, 0.0)
        alln += ok
        take = ok & (prev_kind == kind) & (cnt < LIKE_DAYS)
        vals += np.where(take, lag, 0.0)
        cnt += take
    with np.errstate(invalid="ignore", divide="ignore"):
        same = np.where(cnt > 0, vals / np.maximum(cnt, 1), np.nan)
        fallback = np.where(alln > 0, allv / np.maximum(alln, 1), np.nan)
    return np.where(np.isfinite(same), same, fallback)


def baseline_forecasts(frame: pd.DataFrame, holidays: set[dt.date] | None = None) -> pd.DataFrame:
    """The three baselines for every row of a feature frame (columns `BASELINES`)."""
    return pd.DataFrame(
        {
            "persistence_1d": frame["lag_1d"].to_numpy(dtype=np.float64),
            "persistence_7d": frame["lag_7d"].to_numpy(dtype=np.float64),
            "like_day": like_day(frame, holidays),
        },
        index=frame.index,
    )
