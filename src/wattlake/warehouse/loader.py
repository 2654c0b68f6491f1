"""Gold → the star-schema warehouse (`dw.*`), incrementally, on DuckDB or PostgreSQL.

`dim_time` is pre-populated hourly for every year with data; `dim_users` is SCD type 2
built from the profile history (`effective_date` inclusive, `expiration_date` exclusive,
9999-12-31 for the current row); facts are replaced for the dates a run touched, all in one
transaction. Fact rows before a user's first profile version attach to that first version.

The steps are written once below as set-based SQL that both engines run; the target
(`targets.py`) supplies the lake tables as relations (`stage_users`, `stage_flow_users`,
`stage_flow`) and the few dialect differences. `settings.warehouse` picks the target:
None → `<home>/warehouse.duckdb`, `postgresql://…` → that database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

from wattlake.config import Settings
from wattlake.errors import PipelineError
from wattlake.geo import WEATHER_MAX_DISTANCE_KM, haversine_sql
from wattlake.lake import catalog as cat
from wattlake.transforms.calendar import uk_holidays
from wattlake.transforms.enrich import EXTREME_COLD_C, EXTREME_HOT_C
from wattlake.warehouse import ddl
from wattlake.warehouse.targets import Target, date_literals

OPEN_END = "9999-12-31"
# Users farther than this from every weather grid point get no weather_sk.
FIRST_VERSION_FROM = "1900-01-01"
# User versions with the date a fact may attach from: a user's first version also takes the
# facts dated before its effective_date.
USER_VERSIONS = f"""(SELECT user_sk, user_id, expiration_date,
                     CASE WHEN row_number() OVER (PARTITION BY user_id
                                                  ORDER BY effective_date) = 1
                          THEN DATE '{FIRST_VERSION_FROM}' ELSE effective_date END AS join_from
              FROM dw.dim_users)"""
USER_ATTRS = (
    "meter_id",
    "pv_meter_id",
    "user_type",
    "panel_kwp",
    "panel_tilt_deg",
    "panel_azimuth_deg",
    "latitude",
    "longitude",
    "tariff",
    "acorn_group",
)
WEATHER_COLUMNS = [
    "latitude",
    "longitude",
    "ts",
    "temperature_c",
    "cloud_cover_pct",
    "ghi_w_m2",
    "direct_w_m2",
    "dhi_w_m2",
    "wind_speed_m_s",
    "source",
]
FLOW_MEASURES = (
    "production_kwh",
    "consumption_kwh",
    "self_consumption_kwh",
    "surplus_kwh",
    "grid_import_kwh",
    "grid_export_kwh",
)


@dataclass
class WarehouseResult:
    fact_rows: int
    message: str


def _day_sks(dates: list[dt.date]) -> str:
    return ", ".join(d.strftime("%Y%m%d") for d in dates)


def _days_filter(t: Target, dates: list[dt.date]) -> str:
    """Fact rows of `dates` by `time_sk`, with a range so PostgreSQL prunes partitions."""
    lo = int(min(dates).strftime("%Y%m%d")) * 100
    hi = int(max(dates).strftime("%Y%m%d")) * 100 + 100
    return f"time_sk >= {lo} AND time_sk < {hi} AND {t.idiv('time_sk', 100)} IN ({_day_sks(dates)})"


def _load_dim_time(t: Target, years: list[int]) -> None:
    """Every hour of `years` not yet in `dim_time` (UTC hours, UK holidays)."""
    for year in years:
        hol = date_literals(uk_holidays(year, year)) or f"DATE '{FIRST_VERSION_FROM}'"
        t.execute(
            f"""
            INSERT INTO dw.dim_time ({", ".join(ddl.columns("dim_time"))})
            SELECT {t.time_sk("ts")}, ts, CAST(ts AS DATE), CAST(EXTRACT(HOUR FROM ts) AS INTEGER),
                   CAST(EXTRACT(ISODOW FROM ts) AS INTEGER) - 1, {t.day_name("ts")},
                   EXTRACT(ISODOW FROM ts) >= 6,
                   CAST(ts AS DATE) IN ({hol}),
                   CAST(EXTRACT(MONTH FROM ts) AS INTEGER),
                   CAST(EXTRACT(QUARTER FROM ts) AS INTEGER),
                   CAST(EXTRACT(YEAR FROM ts) AS INTEGER),
                   CASE WHEN EXTRACT(MONTH FROM ts) IN (12, 1, 2) THEN 'WINTER'
                        WHEN EXTRACT(MONTH FROM ts) IN (3, 4, 5) THEN 'SPRING'
                        WHEN EXTRACT(MONTH FROM ts) IN (6, 7, 8) THEN 'SUMMER'
                        ELSE 'AUTUMN' END,
                   EXTRACT(HOUR FROM ts) >= 17 AND EXTRACT(HOUR FROM ts) < 21
            FROM generate_series(TIMESTAMP '{year}-01-01', TIMESTAMP '{year}-12-31 23:00:00',
                                 INTERVAL '1 hour') AS g(ts)
            WHERE NOT EXISTS (SELECT 1 FROM dw.dim_time d WHERE d.time_sk = {t.time_sk("g.ts")})
            """
        )


def _load_dim_users(t: Target) -> None:
    """SCD2 merge of the profile history; meters without a profile become their own user.

    Every distinct consecutive profile version is a row, valid [effective, expiration).
    A deletion is a profile row with user_type 'deleted': it closes the previous version
    and becomes a version with `is_deleted` (so facts of a deleted user's meter still have
    a key); a later ordinary row re-opens the user as a new version (new `user_sk`).
    Reads `stage_users` (silver profiles) and `stage_flow_users` (user ids in gold flow).
    `row_hash` is the engine's md5 of the attributes as text (float text differs between
    DuckDB and PostgreSQL, so hashes are comparable only within one target).
    """
    attrs = ", ".join(USER_ATTRS)
    hashed = (
        "md5(concat_ws('|', "
        + ", ".join(f"coalesce(CAST({a} AS VARCHAR), '')" for a in USER_ATTRS)
        + "))"
    )
    t.execute(
        f"""
        {t.create_temp_as("desired")}
        WITH src AS (
            SELECT user_id, {attrs}, effective_date, {hashed} AS row_hash
            FROM stage_users
            UNION ALL
            SELECT f.user_id, f.user_id, NULL, 'unregistered', 0.0, NULL, NULL, NULL,
                   NULL, NULL, NULL, DATE '{FIRST_VERSION_FROM}', 'unregistered'
            FROM stage_flow_users f
            WHERE f.user_id NOT IN (SELECT user_id FROM stage_users)
        ),
        marked AS (
            SELECT *, lag(row_hash) OVER (PARTITION BY user_id ORDER BY effective_date) AS prev
            FROM src
        ),
        versions AS (
            SELECT user_id, {attrs}, effective_date, row_hash
            FROM marked WHERE prev IS NULL OR prev <> row_hash
        )
        SELECT *, coalesce(lead(effective_date) OVER (PARTITION BY user_id
                                                     ORDER BY effective_date),
                           DATE '{OPEN_END}') AS expiration_date
        FROM versions
        """
    )
    t.execute(
        f"""
        UPDATE dw.dim_users AS d SET
            {", ".join(f"{a} = s.{a}" for a in USER_ATTRS)},
            row_hash = s.row_hash,
            expiration_date = s.expiration_date,
            is_current = (s.expiration_date = DATE '{OPEN_END}'),
            is_deleted = (coalesce(s.user_type, '') = '{cat.USER_DELETED}')
        FROM desired s
        WHERE d.user_id = s.user_id AND d.effective_date = s.effective_date
          AND (d.row_hash <> s.row_hash OR d.expiration_date <> s.expiration_date)
        """
    )
    t.execute(
        f"""
        INSERT INTO dw.dim_users ({", ".join(ddl.columns("dim_users"))})
        SELECT (SELECT coalesce(max(user_sk), 0) FROM dw.dim_users)
                   + row_number() OVER (ORDER BY s.user_id, s.effective_date),
               s.user_id, {", ".join("s." + a for a in USER_ATTRS)}, s.effective_date,
               s.expiration_date, (s.expiration_date = DATE '{OPEN_END}'),
               (coalesce(s.user_type, '') = '{cat.USER_DELETED}'), s.row_hash
        FROM desired s
        WHERE NOT EXISTS (SELECT 1 FROM dw.dim_users d
                          WHERE d.user_id = s.user_id AND d.effective_date = s.effective_date)
        """
    )


def _upsert(t: Target, table: str, sk: str, keys: tuple[str, ...]) -> None:
    """Merge temp table `desired` into `dw.<table>` on natural `keys`.

    Rows whose values changed are updated in place (the surrogate key `sk` stays, so facts
    keep pointing at them); new rows get the next surrogate keys; nothing is deleted.
    """
    values = [c for c in ddl.columns(table) if c != sk and c not in keys]
    on = " AND ".join(f"d.{k} = s.{k}" for k in keys)
    changed = " OR ".join(f"d.{c} IS DISTINCT FROM s.{c}" for c in values)
    t.execute(
        f"""UPDATE dw.{table} AS d SET {", ".join(f"{c} = s.{c}" for c in values)}
            FROM desired s WHERE {on} AND ({changed})"""
    )
    cols = [c for c in ddl.columns(table) if c != sk]
    t.execute(
        f"""INSERT INTO dw.{table} ({sk}, {", ".join(cols)})
            SELECT (SELECT coalesce(max({sk}), 0) FROM dw.{table})
                       + row_number() OVER (ORDER BY {", ".join("s." + k for k in keys)}),
                   {", ".join("s." + c for c in cols)}
            FROM desired s
            WHERE NOT EXISTS (SELECT 1 FROM dw.{table} d WHERE {on})"""
    )


def _load_dim_weather(t: Target) -> None:
    """Hourly weather per grid point from `stage_weather` (silver.weather), upserted."""
    hr = "date_trunc('hour', CAST(ts AS TIMESTAMP))"
    loc = "CAST(CAST({c} AS DECIMAL(9, 4)) AS VARCHAR)"
    t.execute(
        f"""
        {t.create_temp_as("desired")}
        SELECT {loc.format(c="latitude")} || ',' || {loc.format(c="longitude")} AS location_zone,
               latitude, longitude, {t.time_sk("hr")} AS time_sk, CAST(hr AS DATE) AS date,
               CAST(EXTRACT(HOUR FROM hr) AS INTEGER) AS hour,
               temperature_c, cloud_cover_pct, solar_irradiance_w_m2, direct_w_m2,
               diffuse_w_m2, wind_speed_m_s,
               coalesce(temperature_c > {EXTREME_HOT_C} OR temperature_c < {EXTREME_COLD_C},
                        FALSE) AS is_extreme,
               source
        FROM (SELECT latitude, longitude, {hr} AS hr,
                     avg(temperature_c) AS temperature_c,
                     avg(cloud_cover_pct) AS cloud_cover_pct,
                     avg(ghi_w_m2) AS solar_irradiance_w_m2, avg(direct_w_m2) AS direct_w_m2,
                     avg(dhi_w_m2) AS diffuse_w_m2, avg(wind_speed_m_s) AS wind_speed_m_s,
                     max(source) AS source
              FROM stage_weather
              WHERE latitude IS NOT NULL AND longitude IS NOT NULL AND ts IS NOT NULL
              GROUP BY latitude, longitude, {hr}) w
        """
    )
    _upsert(t, "dim_weather", "weather_sk", ("latitude", "longitude", "time_sk"))


def _load_dim_prices(t: Target, s: Settings) -> None:
    """Hourly spot prices per zone from `stage_prices` (silver.prices), upserted.

    Spot = mean of the hour's intervals (EUR/kWh, 6 dp); grid buy / sell are the configured
    tariffs; category: negative (< 0), low (< 0.8 × the zone-day mean), high (> 1.2 ×), else
    normal.
    """
    hr = "date_trunc('hour', CAST(ts AS TIMESTAMP))"
    day_mean = "avg(spot) OVER (PARTITION BY zone, CAST(hr AS DATE))"
    t.execute(
        f"""
        {t.create_temp_as("desired")}
        SELECT zone, {t.time_sk("hr")} AS time_sk, CAST(hr AS DATE) AS date,
               CAST(EXTRACT(HOUR FROM hr) AS INTEGER) AS hour,
               spot AS spot_price_eur_per_kwh, CAST(n AS INTEGER) AS price_intervals,
               CAST({s.grid_buy_eur_per_kwh} AS DOUBLE PRECISION) AS grid_buy_price_eur_per_kwh,
               CAST({s.grid_sell_eur_per_kwh} AS DOUBLE PRECISION)
                   AS grid_sell_price_eur_per_kwh,
               CASE WHEN spot < 0 THEN 'negative'
                    WHEN spot < 0.8 * {day_mean} THEN 'low'
                    WHEN spot > 1.2 * {day_mean} THEN 'high'
                    ELSE 'normal' END AS price_category
        FROM (SELECT zone, {hr} AS hr, {t.round("avg(price_eur_per_kwh)", 6)} AS spot,
                     count(*) AS n
              FROM stage_prices
              WHERE zone IS NOT NULL AND ts IS NOT NULL AND price_eur_per_kwh IS NOT NULL
              GROUP BY zone, {hr}) p
        """
    )
    _upsert(t, "dim_prices", "price_sk", ("zone", "time_sk"))


def _user_weather(t: Target) -> None:
    """Temp `user_weather`: each user version's nearest weather grid point (≤ 50 km)."""
    dist = haversine_sql("u.latitude", "u.longitude", "l.latitude", "l.longitude")
    t.execute(
        f"""
        {t.create_temp_as("user_weather")}
        SELECT user_sk, latitude, longitude FROM (
            SELECT u.user_sk, l.latitude, l.longitude, {dist} AS km,
                   row_number() OVER (PARTITION BY u.user_sk
                                      ORDER BY {dist}, l.latitude, l.longitude) AS rn
            FROM dw.dim_users u
            CROSS JOIN (SELECT DISTINCT latitude, longitude FROM dw.dim_weather) l
            WHERE u.latitude IS NOT NULL AND u.longitude IS NOT NULL) x
        WHERE rn = 1 AND km <= {WEATHER_MAX_DISTANCE_KM}
        """
    )


def _load_facts(t: Target, dates: list[dt.date], full: bool, zone: str) -> int:
    """Replace `fact_energy_flow` for `dates` (everything when `full`) from `stage_flow`.

    Each fact points at its user version, hour, the weather of the user's nearest grid
    point that hour and the spot price of `zone` that hour (null keys when there is none).
    """
    if full:
        t.execute(t.delete_all("dw.fact_energy_flow"))
    else:
        t.execute(f"DELETE FROM dw.fact_energy_flow WHERE {_days_filter(t, dates)}")
    _user_weather(t)
    measures = ", ".join(f"f.{m}" for m in FLOW_MEASURES)
    zone_sql = zone.replace("'", "''")
    t.execute(
        f"""
        INSERT INTO dw.fact_energy_flow ({", ".join(ddl.columns("fact_energy_flow"))})
        SELECT u.user_sk, f.time_sk, {measures},
               f.p2p_import_kwh, f.p2p_export_kwh, f.intervals, w.weather_sk, p.price_sk
        FROM (SELECT *, {t.time_sk("hour_ts")} AS time_sk FROM stage_flow) f
        JOIN {USER_VERSIONS} u
          ON u.user_id = f.user_id AND f.date >= u.join_from AND f.date < u.expiration_date
        LEFT JOIN user_weather uw ON uw.user_sk = u.user_sk
        LEFT JOIN dw.dim_weather w
          ON w.latitude = uw.latitude AND w.longitude = uw.longitude AND w.time_sk = f.time_sk
        LEFT JOIN dw.dim_prices p ON p.zone = '{zone_sql}' AND p.time_sk = f.time_sk
        """
    )
    expected = int(t.scalar("SELECT count(*) FROM stage_flow"))
    loaded = int(
        t.scalar(
            "SELECT count(*) FROM dw.fact_energy_flow"
            + ("" if full else f" WHERE {_days_filter(t, dates)}")
        )
    )
    if loaded != expected:
        raise PipelineError(
            f"warehouse load lost rows: {expected} gold flow rows, {loaded} fact rows loaded"
        )
    return loaded


def _load_transactions(t: Target, dates: list[dt.date], full: bool) -> None:
    """Replace `fact_energy_transactions` for `dates` from the gold P2P trades (kWh, EUR)."""
    if full:
        t.execute(t.delete_all("dw.fact_energy_transactions"))
    else:
        t.execute(f"DELETE FROM dw.fact_energy_transactions WHERE {_days_filter(t, dates)}")
    t.execute(
        f"""
        INSERT INTO dw.fact_energy_transactions
            ({", ".join(ddl.columns("fact_energy_transactions"))})
        SELECT s.user_sk, b.user_sk, {t.time_sk("x.ts")}, sum(x.energy_kwh),
               {t.round4("sum(x.amount_eur)")}, min(x.distance_km), sum(x.co2_saved_kg),
               {t.round4("sum(x.grid_fee_eur)")}, {t.round4("sum(x.buyer_savings_eur)")}
        FROM stage_trades x
        JOIN {USER_VERSIONS} s ON s.user_id = x.seller_id AND x.date >= s.join_from
                      AND x.date < s.expiration_date
        JOIN {USER_VERSIONS} b ON b.user_id = x.buyer_id AND x.date >= b.join_from
                      AND x.date < b.expiration_date
        GROUP BY s.user_sk, b.user_sk, {t.time_sk("x.ts")}
        """
    )


def _load_monthly(t: Target, months: list[int], s: Settings) -> None:
    """Recompute `fact_monthly_summary` for `months` (yyyymm) from the facts (kWh, EUR, kg).

    total_revenue = grid export × feed-in + P2P sales; total_savings = self-consumption ×
    retail + the P2P buyer savings (what grid-only would have cost more).
    """
    month_list = ", ".join(str(m) for m in months)
    lo, hi = min(months) * 10000, (max(months) + 1) * 10000
    in_months = (
        f"time_sk >= {lo} AND time_sk < {hi} AND {t.idiv('time_sk', 10000)} IN ({month_list})"
    )
    month_of = f"CAST({t.idiv('time_sk', 10000)} AS INTEGER)"
    r = t.round4
    sold, bought = "coalesce(max(sold.eur), 0)", "coalesce(max(bought.eur), 0)"
    t.execute(f"DELETE FROM dw.fact_monthly_summary WHERE month_sk IN ({month_list})")
    t.execute(
        f"""
        INSERT INTO dw.fact_monthly_summary ({", ".join(ddl.columns("fact_monthly_summary"))})
        SELECT x.user_sk, x.month_sk,
               make_date(CAST({t.idiv("x.month_sk", 100)} AS INTEGER),
                         CAST(x.month_sk % 100 AS INTEGER), 1),
               {r("sum(production_kwh)")}, {r("sum(consumption_kwh)")},
               {r("sum(self_consumption_kwh)")}, {r("sum(grid_import_kwh)")},
               {r("sum(grid_export_kwh)")}, {r("sum(p2p_import_kwh)")},
               {r("sum(p2p_export_kwh)")}, {r(sold)},
               {r(f"sum(grid_export_kwh) * {s.grid_sell_eur_per_kwh} + {sold}")},
               {r(f"sum(self_consumption_kwh) * {s.grid_buy_eur_per_kwh} + {bought}")},
               {r(f"sum(production_kwh) * {s.grid_co2_kg_per_kwh}")}
        FROM (SELECT user_sk, {month_of} AS month_sk, production_kwh, consumption_kwh,
                     self_consumption_kwh, grid_import_kwh, grid_export_kwh,
                     p2p_import_kwh, p2p_export_kwh
              FROM dw.fact_energy_flow WHERE {in_months}) x
        LEFT JOIN (SELECT seller_sk AS user_sk, {month_of} AS month_sk,
                          sum(transaction_amount_eur) AS eur
                   FROM dw.fact_energy_transactions WHERE {in_months}
                   GROUP BY seller_sk, {month_of}) sold
          ON sold.user_sk = x.user_sk AND sold.month_sk = x.month_sk
        LEFT JOIN (SELECT buyer_sk AS user_sk, {month_of} AS month_sk,
                          sum(buyer_savings_eur) AS eur
                   FROM dw.fact_energy_transactions WHERE {in_months}
                   GROUP BY buyer_sk, {month_of}) bought
          ON bought.user_sk = x.user_sk AND bought.month_sk = x.month_sk
        GROUP BY x.user_sk, x.month_sk
        """
    )


def load_into(
    t: Target, settings: Settings, dates: list[dt.date], full_users: bool
) -> WarehouseResult:
    """The load steps on an open target, in one transaction (rolled back on any error)."""
    t.begin()
    try:
        t.create_schema()
        if full_users:
            dates = t.distinct_dates(cat.GOLD_FLOW_HOURLY)
        dates = sorted(set(dates))
        years = sorted({d.year for d in dates})
        months = sorted({d.year * 100 + d.month for d in dates})
        _load_dim_time(t, years)
        t.stage("stage_users", cat.SILVER_USERS, ["user_id", *USER_ATTRS, "effective_date"])
        t.stage("stage_flow_users", cat.GOLD_FLOW_HOURLY, ["user_id"], distinct=True)
        _load_dim_users(t)
        t.stage("stage_weather", cat.SILVER_WEATHER, WEATHER_COLUMNS)
        _load_dim_weather(t)
        t.stage("stage_prices", cat.SILVER_PRICES, ["zone", "ts", "price_eur_per_kwh"])
        _load_dim_prices(t, settings)
        rows = 0
        if dates:
            t.ensure_partitions(months)
            t.stage(
                "stage_flow",
                cat.GOLD_FLOW_HOURLY,
                [
                    "user_id",
                    "hour_ts",
                    "date",
                    *FLOW_MEASURES,
                    "p2p_import_kwh",
                    "p2p_export_kwh",
                    "intervals",
                ],
                None if full_users else dates,
            )
            rows = _load_facts(t, dates, full_users, settings.price_zone)
            t.stage(
                "stage_trades",
                cat.GOLD_P2P_TRADES,
                [
                    "ts",
                    "date",
                    "seller_id",
                    "buyer_id",
                    "energy_kwh",
                    "amount_eur",
                    "distance_km",
                    "co2_saved_kg",
                    "grid_fee_eur",
                    "buyer_savings_eur",
                ],
                None if full_users else dates,
            )
            _load_transactions(t, dates, full_users)
            _load_monthly(t, months, settings)
        t.commit()
    except BaseException:
        with contextlib.suppress(Exception):  # keep the original error if rollback fails
            t.rollback()
        raise
    what = "all dates (profiles changed)" if full_users else f"{len(dates)} date(s)"
    return WarehouseResult(rows, f"loaded {rows} fact_energy_flow rows for {what}")
