"""Forecast features as engine-agnostic Ibis expressions (DuckDB and Spark alike).

`build_features(series, keys, timeline, grid, ...)` returns one row per key and grid time
with the target `y`, its training `weight` and every feature. Nothing in a row depends on
an actual value at or after the row's issue time (`issue_ts`, see `timeline`):

- `lag_{k}d` (k = 1 … 7): the value k days before `ts`, NULL unless that time is before the
  issue time (for day-ahead all seven are always valid; for a 48-h horizon `lag_1d` is NULL
  on the second day). `lag_1d`, `lag_2d`, `lag_7d` are the issue's 24 h, 48 h and 168 h lags.
- `last_value`: the last value before the issue time (one step before `issue_ts`).
- `roll7_mean`, `roll7_std`, `roll7_max`, `roll7_mean_abs`, `roll7_count`: over the seven
  whole days before the issue time's day (`issue_day_index − 7 … − 1`).
- `slot7_mean`: the mean at the same time of day over those seven days.
- `roll7_ghi_mean` (with irradiance): the mean GHI (W/m²) of those days' hours that have an
  actual, so `roll7_mean / roll7_ghi_mean` is the series' recent yield per W/m².
- calendar (`timeline`): `hour_utc`, `hour_local`, `day_of_week`, `month`, `day_of_year`,
  `season`, `is_weekend`, `is_holiday`, `is_offday`, `is_dst`, `lead_steps`.
- covariates known in advance, joined by (`key`, `ts`) or by `ts`: weather
  (`temperature_c`, `cloud_cover_pct`, `ghi_w_m2`), spot price, modelled PV … and, where
  the weather is there, `temperature_sq` (°C²), `ghi_x_temperature` (W/m²·°C) and a one-hot
  weather condition from the cloud cover (`cond_clear` < 30 %, `cond_partly`,
  `cond_overcast` ≥ 80 %).

The grid is complete (keys × timeline), so window lags count steps exactly across gaps,
and a key with no history gets rows whose lag features are all NULL.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from wattlake.forecast.timeline import Grid

LAG_DAYS = tuple(range(1, 8))
CALENDAR = (
    "hour_utc",
    "hour_local",
    "day_of_week",
    "month",
    "day_of_year",
    "season",
    "is_weekend",
    "is_holiday",
    "is_offday",
    "is_dst",
    "lead_steps",
)
HISTORY = (
    *(f"lag_{k}d" for k in LAG_DAYS),
    "last_value",
    "roll7_mean",
    "roll7_std",
    "roll7_max",
    "roll7_mean_abs",
    "roll7_count",
    "slot7_mean",
    "roll7_ghi_mean",
)
# Derived from the weather covariates when present.
CLEAR_BELOW_PCT = 30.0
OVERCAST_FROM_PCT = 80.0
HISTORY_DAYS = 8  # days of actuals before the first issue that the features read


def _complete_grid(series: ir.Table, keys: ir.Table, tl: ir.Table) -> ir.Table:
    """keys × timeline, with `y` and `weight` where the series has them (NULL elsewhere)."""
    s = series.select(
        _k=series.key,
        _t=series.ts,
        y=series.y.cast("float64"),
        weight=series.weight.cast("float64"),
    )
    g = keys.select("key").distinct().cross_join(tl)
    g = g.left_join(s, [g.key == s._k, g.ts == s._t]).drop("_k", "_t")
    return g


def _lags(g: ir.Table, grid: Grid) -> ir.Table:
    w = ibis.window(group_by=g.key, order_by=g.ts)
    spd = grid.steps_per_day
    cols = {}
    for k in LAG_DAYS:
        n = k * spd
        # valid only when ts − n steps is before the issue time: n > lead_steps
        cols[f"lag_{k}d"] = ibis.ifelse(g.lead_steps < n, g.y.lag(n).over(w), ibis.null("float64"))
    return g.mutate(**cols)


def _rolling(g: ir.Table) -> ir.Table:
    """Per key and day: statistics of the seven days before it (and, with irradiance, the
    mean GHI of the hours that have an actual: `roll7_ghi_mean`, W/m²)."""
    has_ghi = "ghi_w_m2" in g.columns
    extra = {}
    if has_ghi:
        extra["_gh"] = ibis.ifelse(g.y.notnull(), g.ghi_w_m2, ibis.null("float64")).sum()
    d = g.group_by(["key", "day_index"]).aggregate(
        _s=g.y.sum(),
        _sa=g.y.abs().sum(),
        _sq=(g.y * g.y).sum(),
        _n=g.y.count(),
        _mx=g.y.max(),
        **extra,
    )
    w = ibis.window(group_by=d.key, order_by=d.day_index, rows=(-7, -1))
    r = d.mutate(
        _gh7=d._gh.sum().over(w) if has_ghi else ibis.null("float64"),
        _s7=d._s.sum().over(w),
        _sa7=d._sa.sum().over(w),
        _sq7=d._sq.sum().over(w),
        roll7_count=d._n.sum().over(w).fill_null(0).cast("int64"),
        roll7_max=d._mx.max().over(w),
    )
    n = r.roll7_count.cast("float64")
    mean = ibis.ifelse(r.roll7_count > 0, r._s7 / n, ibis.null("float64"))
    var = r._sq7 / n - mean * mean
    return r.select(
        _rk=r.key,
        _rd=r.day_index,
        roll7_mean=mean,
        roll7_std=ibis.ifelse(var > 0, var.sqrt(), 0.0),
        roll7_max=r.roll7_max,
        roll7_mean_abs=ibis.ifelse(r.roll7_count > 0, r._sa7 / n, ibis.null("float64")),
        roll7_count=r.roll7_count,
        roll7_ghi_mean=ibis.ifelse(r.roll7_count > 0, r._gh7 / n, ibis.null("float64")),
    )


def _slot_means(g: ir.Table) -> ir.Table:
    """Per key, time of day and day: the mean at that time of day over the 7 days before."""
    w = ibis.window(group_by=[g.key, g.slot], order_by=g.day_index, rows=(-7, -1))
    s = g.select("key", "slot", "day_index", slot7_mean=g.y.mean().over(w))
    return s.rename(_sk="key", _ss="slot", _sd="day_index")


def _last_value(g: ir.Table, grid: Grid) -> ir.Table:
    p = g.select(_lk=g.key, _lt=g.ts + ibis.interval(minutes=grid.step_minutes), last_value=g.y)
    return p


def _weather_derived(t: ir.Table) -> ir.Table:
    cols = set(t.columns)
    extra: dict[str, ir.Value] = {}
    if "temperature_c" in cols:
        extra["temperature_sq"] = t.temperature_c * t.temperature_c
    if "temperature_c" in cols and "ghi_w_m2" in cols:
        extra["ghi_x_temperature"] = t.ghi_w_m2 * t.temperature_c
    if "cloud_cover_pct" in cols:
        c = t.cloud_cover_pct
        extra["cond_clear"] = (c < CLEAR_BELOW_PCT).cast("int8")
        extra["cond_partly"] = ((c >= CLEAR_BELOW_PCT) & (c < OVERCAST_FROM_PCT)).cast("int8")
        extra["cond_overcast"] = (c >= OVERCAST_FROM_PCT).cast("int8")
    return t.mutate(**extra) if extra else t


def build_features(
    series: ir.Table,
    keys: ir.Table,
    tl: ir.Table,
    grid: Grid,
    *,
    key_covariates: ir.Table | None = None,
    time_covariates: ir.Table | None = None,
) -> ir.Table:
    """The feature table (module doc).

    Args:
        series: `key` (string), `ts` (UTC, a grid time), `y` (the target, e.g. kWh per
            step), `weight` (training weight, 0–1); one row per key and time at most.
        keys: a table with a `key` column: the series to produce rows for (a key without
            any rows in `series` gets rows with NULL history).
        tl: the timeline (`timeline.timeline` as an Ibis table) covering the history and
            the forecast hours.
        grid: step and horizon.
        key_covariates: `key`, `ts` and covariates known in advance (per series).
        time_covariates: `ts` and covariates known in advance (the same for every series).
    """
    g = _complete_grid(series, keys, tl)
    if key_covariates is not None:
        kc = key_covariates.rename(_ck="key", _ct="ts")
        g = g.left_join(kc, [g.key == kc._ck, g.ts == kc._ct]).drop("_ck", "_ct")
    if time_covariates is not None:
        tc = time_covariates.rename(_tt="ts")
        g = g.left_join(tc, g.ts == tc._tt).drop("_tt")
    g = _lags(g, grid)
    r = _rolling(g)
    g = g.left_join(r, [g.key == r._rk, g.issue_day_index == r._rd]).drop("_rk", "_rd")
    s = _slot_means(g.select("key", "slot", "day_index", "y"))
    g = g.left_join(s, [g.key == s._sk, g.slot == s._ss, g.issue_day_index == s._sd]).drop(
        "_sk", "_ss", "_sd"
    )
    lv = _last_value(g, grid)
    g = g.left_join(lv, [g.key == lv._lk, g.issue_ts == lv._lt]).drop("_lk", "_lt")
    return _weather_derived(g)


def feature_columns(table_columns: list[str]) -> list[str]:
    """The model inputs among a feature table's columns: everything except identifiers,
    the target and bookkeeping."""
    skip = {"key", "level", "ts", "issue_ts", "y", "weight", "day_index", "issue_day_index", "slot"}
    return [c for c in table_columns if c not in skip]
