"""Enrich readings with weather and spot prices; flag and drop extreme-weather hours.

Pure Ibis (DuckDB and Spark): joins are equi-joins on small keyed tables, distances use
plain trigonometry, intervals are compared in epoch seconds.

Alignment choices (`enrich_readings`):

- **Location**: meter → user (`meter_channels`: consumption and PV meters) → the user's
  latitude/longitude (latest profile version) → the nearest `silver.weather` grid point
  (haversine). Meters without a profile location get NULL weather.
- **Weather**: a reading whose interval starts at `ts` belongs to the hour
  `h = truncate(ts, hour)`. Open-Meteo's instantaneous values (`temperature_c`,
  `cloud_cover_pct`) come from the row labelled `h`; its radiation (`ghi_w_m2`) is the
  mean over the *preceding* hour of the label, so it comes from the row labelled `h + 1 h`
  (mean over `[h, h + 1 h)`, the hour that contains the interval). Both 15- and 30-minute
  readings thus get their hour's values.
- **Prices**: the price row of the reading's zone with
  `price.ts ≤ ts < price.ts + resolution_minutes` (hourly, 30- or 15-minute prices, also
  mixed; resolutions must divide the hour). If several rows cover `ts`, the finest
  resolution wins.
- **Extreme weather** (GreenStream peak rules): `temperature_c > 35` or `< −10` °C;
  NULL when the temperature is unknown.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from wattlake.geo import WEATHER_MAX_DISTANCE_KM, haversine_expr
from wattlake.transforms.gold import hour_start
from wattlake.transforms.parse import round_half_up
from wattlake.transforms.users import latest_user_location, meter_channels

# GreenStream's extreme-weather hours (°C), left out of the peak analysis.
EXTREME_HOT_C = 35.0
EXTREME_COLD_C = -10.0
DEFAULT_PRICE_RESOLUTION_MINUTES = 60


def nearest_weather_location(
    users: ir.Table, weather_locations: ir.Table, *, max_distance_km: float | None = None
) -> ir.Table:
    """Each user's nearest weather grid point.

    Args:
        users: `user_id`, `latitude`, `longitude` (degrees), optionally `effective_date`
            (profile history: the latest version with a location counts).
        weather_locations: any table with `latitude`, `longitude` (e.g. `silver.weather`;
            distinct points are taken).
        max_distance_km: users farther than this from every grid point are dropped.

    Returns:
        `user_id`, `weather_latitude`, `weather_longitude`, `distance_km` — one row per user
        with a location (ties broken by the smaller latitude, then longitude).
    """
    u = latest_user_location(users)
    locs = weather_locations.select(
        weather_latitude=weather_locations.latitude, weather_longitude=weather_locations.longitude
    ).distinct()
    locs = locs.filter(locs.weather_latitude.notnull() & locs.weather_longitude.notnull())
    j = u.cross_join(locs)
    j = j.mutate(
        distance_km=haversine_expr(j.latitude, j.longitude, j.weather_latitude, j.weather_longitude)
    )
    w = ibis.window(
        group_by=j.user_id, order_by=[j.distance_km, j.weather_latitude, j.weather_longitude]
    )
    j = j.mutate(_rank=ibis.row_number().over(w))
    j = j.filter(j._rank == 0)
    if max_distance_km is not None:
        j = j.filter(j.distance_km <= max_distance_km)
    return j.select("user_id", "weather_latitude", "weather_longitude", "distance_km")


def meter_weather_location(
    users: ir.Table, weather_locations: ir.Table, *, max_distance_km: float | None = None
) -> ir.Table:
    """`meter_id → (weather_latitude, weather_longitude)` through the meter's user.

    Consumption and PV meters (`meter_channels`) both map; a meter shared by several users
    takes the first user_id (sorted).
    """
    ch = meter_channels(users).select("meter_id", "user_id").distinct()
    near = nearest_weather_location(users, weather_locations, max_distance_km=max_distance_km)
    near = near.rename(_uid="user_id")
    j = ch.join(near, ch.user_id == near._uid)
    w = ibis.window(group_by=j.meter_id, order_by=j.user_id)
    j = j.mutate(_rank=ibis.row_number().over(w))
    return j.filter(j._rank == 0).select("meter_id", "weather_latitude", "weather_longitude")


def interval_prices(keys: ir.Table, prices: ir.Table, zone: str) -> ir.Table:
    """`ts → price_eur_per_kwh` for the distinct interval starts in `keys.ts`.

    A price row covers `[price.ts, price.ts + resolution_minutes)` (NULL resolution = 60);
    the equi-join is on the hour, so every resolution must divide 60 minutes.
    """
    k = keys.select(_ts=keys.ts).distinct()
    k = k.mutate(_hour=hour_start(k._ts))
    p = prices.filter(prices.zone == zone)
    p = p.select(
        _pts=p.ts,
        _hour=hour_start(p.ts),
        _res=p.resolution_minutes.cast("int64").fill_null(DEFAULT_PRICE_RESOLUTION_MINUTES),
        price_eur_per_kwh=p.price_eur_per_kwh,
    ).rename(_phour="_hour")
    j = k.join(
        p,
        [
            k._hour == p._phour,
            p._pts <= k._ts,
            k._ts.epoch_seconds() < p._pts.epoch_seconds() + p._res * 60,
        ],
    )
    w = ibis.window(group_by=j._ts, order_by=[j._res, ibis.desc(j._pts)])
    j = j.mutate(_rank=ibis.row_number().over(w))
    return j.filter(j._rank == 0).select(ts=j._ts, price_eur_per_kwh=j.price_eur_per_kwh)


def is_extreme_weather(
    temperature_c: ir.FloatingValue,
    hot_c: float = EXTREME_HOT_C,
    cold_c: float = EXTREME_COLD_C,
) -> ir.BooleanValue:
    """`temperature_c > hot_c or < cold_c` (°C); NULL when the temperature is NULL."""
    return (temperature_c > hot_c) | (temperature_c < cold_c)


def enrich_readings(
    silver: ir.Table,
    users: ir.Table,
    weather: ir.Table,
    prices: ir.Table,
    zone: str,
    *,
    max_distance_km: float | None = None,
    hot_c: float = EXTREME_HOT_C,
    cold_c: float = EXTREME_COLD_C,
) -> ir.Table:
    """Readings with their hour's weather, their interval's spot price and a weather flag.

    Args:
        silver: `silver.meter_readings` (`meter_id`, `ts` = interval start UTC, `kwh`, ...).
        users: `silver.user_profiles` (meter ids and locations).
        weather: `silver.weather` (hourly, Open-Meteo labels; module doc for alignment).
        prices: `silver.prices` (`zone`, `ts`, `price_eur_per_kwh`, `resolution_minutes`).
        zone: bidding zone of the readings, e.g. `DE-LU`.
        max_distance_km: no weather for users farther from every grid point.
        hot_c / cold_c: extreme-weather thresholds (°C).

    Returns:
        Every silver column plus `weather_latitude`, `weather_longitude`, `temperature_c`,
        `cloud_cover_pct`, `ghi_w_m2` (W/m², mean over the reading's hour),
        `price_eur_per_kwh`, `cost_eur` (= kwh × price, EUR, 6 decimals) and
        `is_extreme_weather`. Left
        joins: one output row per input row; missing weather or prices stay NULL.
    """
    base_cols = list(silver.columns)
    loc = meter_weather_location(users, weather, max_distance_km=max_distance_km).rename(
        _mid="meter_id"
    )
    r = silver.left_join(loc, silver.meter_id == loc._mid).drop("_mid")
    r = r.mutate(_hour=hour_start(r.ts))

    inst = weather.select(
        _ilat=weather.latitude,
        _ilon=weather.longitude,
        _its=weather.ts,
        temperature_c=weather.temperature_c,
        cloud_cover_pct=weather.cloud_cover_pct,
    )
    r = r.left_join(
        inst,
        [
            r.weather_latitude == inst._ilat,
            r.weather_longitude == inst._ilon,
            r._hour == inst._its,
        ],
    ).drop("_ilat", "_ilon", "_its")

    rad = weather.select(
        _rlat=weather.latitude,
        _rlon=weather.longitude,
        _rts=weather.ts,
        ghi_w_m2=weather.ghi_w_m2,
    )
    # The radiation labelled h + 1 h is the mean over [h, h + 1 h).
    rad = rad.mutate(_rhour=rad._rts - ibis.interval(hours=1)).drop("_rts")
    r = r.left_join(
        rad,
        [
            r.weather_latitude == rad._rlat,
            r.weather_longitude == rad._rlon,
            r._hour == rad._rhour,
        ],
    ).drop("_rlat", "_rlon", "_rhour")

    px = interval_prices(silver, prices, zone).rename(_pts="ts")
    r = r.left_join(px, r.ts == px._pts).drop("_pts")
    r = r.mutate(
        cost_eur=round_half_up(r.kwh * r.price_eur_per_kwh, 6),
        is_extreme_weather=is_extreme_weather(r.temperature_c, hot_c, cold_c),
    )
    return r.select(
        *base_cols,
        "weather_latitude",
        "weather_longitude",
        "temperature_c",
        "cloud_cover_pct",
        "ghi_w_m2",
        "price_eur_per_kwh",
        "cost_eur",
        "is_extreme_weather",
    )


def extreme_weather_hours(enriched: ir.Table) -> ir.Table:
    """Distinct `hour_ts` (UTC hour start) in which any enriched reading had extreme weather."""
    e = enriched.filter(enriched.is_extreme_weather.fill_null(False))
    return e.select(hour_ts=hour_start(e.ts)).distinct()


def exclude_extreme_weather(table: ir.Table, enriched: ir.Table, ts_col: str = "ts") -> ir.Table:
    """Rows of `table` whose hour is not an extreme-weather hour (GreenStream peak rules).

    `table[ts_col]` may be readings' `ts` or an hourly `hour_ts`; the whole hour is dropped
    for every meter, so peak rankings over the remaining hours stay comparable.
    """
    bad = extreme_weather_hours(enriched).rename(_xh="hour_ts")
    t = table.mutate(_h=hour_start(table[ts_col]))
    return t.anti_join(bad, t._h == bad._xh).drop("_h")


def modelled_vs_metered_pv(modelled: ir.Table, flow_hourly: ir.Table) -> ir.Table:
    """Per prosumer and hour: modelled PV energy next to the metered production (kWh).

    Args:
        modelled: `user_id`, `ts` (UTC period start), `modelled_kwh` — the output of
            `wattlake.pv.modelled_production_for_users` loaded into the engine.
        flow_hourly: `gold.energy_flow_hourly` (`user_id`, `hour_ts`, `production_kwh`).

    Returns:
        `user_id`, `hour_ts`, `date` (UTC), `modelled_kwh`, `metered_kwh` (the flow's
        `production_kwh`: 0 when the user had readings but no PV reading that hour, NULL
        when the user had no reading at all), `difference_kwh` (metered − modelled, 4
        decimals), `performance_ratio` (metered / modelled, 4 decimals; NULL when modelled
        < 0.01 kWh).
    """
    m = modelled.mutate(hour_ts=hour_start(modelled.ts))
    m = m.group_by(["user_id", "hour_ts"]).aggregate(modelled_kwh=m.modelled_kwh.sum())
    f = flow_hourly.select(
        _uid=flow_hourly.user_id, _h=flow_hourly.hour_ts, metered_kwh=flow_hourly.production_kwh
    )
    j = m.left_join(f, [m.user_id == f._uid, m.hour_ts == f._h]).drop("_uid", "_h")
    return j.select(
        "user_id",
        "hour_ts",
        date=j.hour_ts.date(),
        modelled_kwh=j.modelled_kwh,
        metered_kwh=j.metered_kwh,
        difference_kwh=round_half_up(j.metered_kwh - j.modelled_kwh, 4),
        performance_ratio=ibis.ifelse(
            j.modelled_kwh >= 0.01,
            round_half_up(j.metered_kwh / j.modelled_kwh, 4),
            ibis.null("float64"),
        ),
    )


__all__ = [
    "WEATHER_MAX_DISTANCE_KM",
    "enrich_readings",
    "exclude_extreme_weather",
    "extreme_weather_hours",
    "interval_prices",
    "is_extreme_weather",
    "meter_weather_location",
    "modelled_vs_metered_pv",
    "nearest_weather_location",
]
