"""Feature frames of the lake's forecast problems, read through `ctx.engine` (I/O edge).

A *family* is one model: its series (`series`), the covariates known in advance and
whether the target is non-negative. `frame(ctx, family, start, end)` builds the Ibis
features for the grid `[start, end)` (history included) on the context's engine (DuckDB
or Spark) and returns them as pandas for the model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from wattlake.context import Context
from wattlake.errors import InputError
from wattlake.forecast import series as ser
from wattlake.forecast.features import HISTORY_DAYS, build_features
from wattlake.forecast.timeline import Grid, as_utc, day_start, timeline
from wattlake.geo import WEATHER_MAX_DISTANCE_KM
from wattlake.lake import catalog as cat
from wattlake.transforms.users import CHANNEL_CONSUMPTION, CHANNEL_PRODUCTION

DAY_AHEAD = Grid(60, 1440)


@dataclass(frozen=True)
class Inputs:
    series: ir.Table
    key_covariates: ir.Table | None
    time_covariates: ir.Table | None


@dataclass(frozen=True)
class Family:
    """One model: name (`wattlake-<name>` in the registry), target and levels."""

    name: str
    target: str
    levels: tuple[str, ...]
    unit: str
    nonnegative: bool
    inputs: Callable[[Context, ser.QualityWeights], Inputs]
    scale_mode: str = "level"  # models.QuantileModel.scale_mode
    source: cat.TableSpec = cat.SILVER_READINGS  # whose `ts` range bounds the actuals

    def level_of(self, key: str) -> str:
        if self.levels == ("community", "portfolio"):
            return "portfolio" if key == ser.PORTFOLIO_KEY else "community"
        return self.levels[0]


def _t(ctx: Context, spec: cat.TableSpec) -> ir.Table:
    return ctx.tables.read(spec)


def _households(ctx: Context, weights: ser.QualityWeights) -> ir.Table:
    hours = ser.meter_hours(_t(ctx, cat.SILVER_READINGS), weights)
    return ser.user_series(hours, _t(ctx, cat.SILVER_USERS), CHANNEL_CONSUMPTION)


def _price(ctx: Context) -> ir.Table:
    return ser.hourly_price(_t(ctx, cat.SILVER_PRICES), ctx.settings.price_zone)


def _household_inputs(ctx: Context, weights: ser.QualityWeights) -> Inputs:
    users, weather = _t(ctx, cat.SILVER_USERS), _t(ctx, cat.SILVER_WEATHER)
    return Inputs(
        _households(ctx, weights),
        ser.user_weather(users, weather, WEATHER_MAX_DISTANCE_KM),
        _price(ctx),
    )


def _aggregate_inputs(ctx: Context, weights: ser.QualityWeights) -> Inputs:
    hh = _households(ctx, weights)
    groups = ser.community_groups(hh, _t(ctx, cat.GOLD_USER_PROFILES)).union(
        ser.portfolio_groups(hh)
    )
    weather = ser.city_weather(_t(ctx, cat.SILVER_WEATHER))
    price = _price(ctx)
    cov = weather.outer_join(price, weather.ts == price.ts)
    cov = cov.select(
        ts=cov.ts.fill_null(cov.ts_right),
        **{c: cov[c] for c in (*ser.WEATHER_COLUMNS, "price_eur_per_kwh")},
    )
    return Inputs(ser.aggregate_series(hh, groups), None, cov)


def _solar_inputs(ctx: Context, weights: ser.QualityWeights) -> Inputs:
    users, weather = _t(ctx, cat.SILVER_USERS), _t(ctx, cat.SILVER_WEATHER)
    hours = ser.meter_hours(_t(ctx, cat.SILVER_READINGS), weights)
    pv = ser.user_series(hours, users, CHANNEL_PRODUCTION)
    uw = ser.user_weather(users, weather, WEATHER_MAX_DISTANCE_KM)
    mod = ser.pv_modelled(_t(ctx, cat.GOLD_PV_MODELLED)).rename(_k="key", _ts="ts")
    cov = uw.left_join(mod, [uw.key == mod._k, uw.ts == mod._ts]).drop("_k", "_ts")
    return Inputs(pv, cov, None)


def _price_inputs(ctx: Context, weights: ser.QualityWeights) -> Inputs:
    s = ser.price_series(_t(ctx, cat.SILVER_PRICES), ctx.settings.price_zone)
    return Inputs(s, None, ser.city_weather(_t(ctx, cat.SILVER_WEATHER)))


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "consumption-household", "consumption", ("household",), "kWh", True, _household_inputs
        ),
        Family(
            "consumption-aggregate",
            "consumption",
            ("community", "portfolio"),
            "kWh",
            True,
            _aggregate_inputs,
        ),
        Family(
            "solar-prosumer", "solar", ("prosumer",), "kWh", True, _solar_inputs, scale_mode="yield"
        ),
        Family(
            "price-zone",
            "price",
            ("zone",),
            "EUR/kWh",
            False,
            _price_inputs,
            source=cat.SILVER_PRICES,
        ),
    )
}


def family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise InputError(f"unknown model '{name}' (known: {', '.join(FAMILIES)})") from None


def span(ctx: Context, fam: Family, weights: ser.QualityWeights) -> tuple[dt.datetime, dt.datetime]:
    """First and last hour of the family's source table (a cheap bound of its actuals);
    `InputError` when it is empty."""
    t = _t(ctx, fam.source)
    row = ctx.engine.to_arrow(t.aggregate(lo=t.ts.min(), hi=t.ts.max())).to_pylist()[0]
    if row["lo"] is None:
        raise InputError(f"no data for {fam.name}: run the pipeline first (wattlake run)")
    lo, hi = as_utc(row["lo"]), as_utc(row["hi"])
    return lo.replace(minute=0, second=0, microsecond=0), hi.replace(
        minute=0, second=0, microsecond=0
    )


def frame(
    ctx: Context,
    fam: Family,
    start: dt.datetime,
    end: dt.datetime,
    weights: ser.QualityWeights,
    *,
    grid: Grid = DAY_AHEAD,
    keys: list[str] | None = None,
    actuals_before: dt.datetime | None = None,
) -> pd.DataFrame:
    """Features for every key and hour in `[start, end)`, reading history from
    `HISTORY_DAYS` before `start` (rows before `start` are dropped).

    `keys`: restrict to these series (default: every key with data in the window).
    `actuals_before`: ignore actuals at or after this time (an issue time: what was known).
    """
    inp = fam.inputs(ctx, weights)
    start, end = as_utc(start), as_utc(end)
    lo = day_start(start) - dt.timedelta(days=HISTORY_DAYS)
    s = inp.series.filter((inp.series.ts >= lo) & (inp.series.ts < end))
    if actuals_before is not None:
        s = s.filter(s.ts < actuals_before)
    if keys is None:
        key_t = s.select("key").distinct()
    else:
        key_t = ibis.memtable(pa.table({"key": pa.array(keys, pa.string())}))
    tl = ibis.memtable(timeline(lo, end, grid))
    f = build_features(
        s,
        key_t,
        tl,
        grid,
        key_covariates=_window(inp.key_covariates, lo, end),
        time_covariates=_window(inp.time_covariates, lo, end),
    )
    f = f.filter(f.ts >= start)
    out = ctx.engine.to_arrow(f.order_by(["key", "ts"])).to_pandas()
    out["level"] = [fam.level_of(k) for k in out["key"]] if len(out) else []
    return out


def _window(t: ir.Table | None, lo: dt.datetime, hi: dt.datetime) -> ir.Table | None:
    if t is None:
        return None
    return t.filter((t.ts >= lo) & (t.ts < hi))
