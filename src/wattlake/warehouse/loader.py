"""Gold → the star-schema warehouse (`dw.*`) in a DuckDB file, incrementally.

`dim_time` is pre-populated hourly for every year with data; `dim_users` is SCD type 2
built from the profile history (`effective_date` inclusive, `expiration_date` exclusive,
9999-12-31 for the current row); facts are replaced for the dates a run touched, all in one
transaction. Fact rows before a user's first profile version attach to that first version.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from wattlake.config import Settings
from wattlake.engine import delta_extension_path
from wattlake.errors import PipelineError
from wattlake.lake import tables as tbl
from wattlake.lake.tables import Lake
from wattlake.transforms.calendar import uk_holidays

OPEN_END = "9999-12-31"
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

DDL = """
CREATE SCHEMA IF NOT EXISTS dw;
CREATE TABLE IF NOT EXISTS dw.dim_time (
    time_sk BIGINT PRIMARY KEY,          -- yyyymmddhh of the hour start (UTC)
    ts TIMESTAMP NOT NULL,               -- hour start, UTC
    date DATE NOT NULL,
    hour INTEGER NOT NULL,
    day_of_week INTEGER NOT NULL,        -- 0 = Monday
    day_name VARCHAR NOT NULL,
    is_weekend BOOLEAN NOT NULL,
    is_holiday BOOLEAN NOT NULL,         -- UK (England) public holiday
    month INTEGER NOT NULL,
    quarter INTEGER NOT NULL,
    year INTEGER NOT NULL,
    season VARCHAR NOT NULL,
    is_peak BOOLEAN NOT NULL             -- 17:00-21:00
);
CREATE TABLE IF NOT EXISTS dw.dim_users (
    user_sk BIGINT PRIMARY KEY,
    user_id VARCHAR NOT NULL,
    meter_id VARCHAR,
    pv_meter_id VARCHAR,
    user_type VARCHAR,
    panel_kwp DOUBLE,
    panel_tilt_deg DOUBLE,
    panel_azimuth_deg DOUBLE,
    latitude DOUBLE,
    longitude DOUBLE,
    tariff VARCHAR,
    acorn_group VARCHAR,
    effective_date DATE NOT NULL,
    expiration_date DATE NOT NULL,
    is_current BOOLEAN NOT NULL,
    row_hash VARCHAR NOT NULL,
    UNIQUE (user_id, effective_date)
);
CREATE TABLE IF NOT EXISTS dw.fact_energy_flow (
    user_sk BIGINT NOT NULL,
    time_sk BIGINT NOT NULL,
    production_kwh DOUBLE NOT NULL,
    consumption_kwh DOUBLE NOT NULL,
    self_consumption_kwh DOUBLE NOT NULL,
    surplus_kwh DOUBLE NOT NULL,
    grid_import_kwh DOUBLE NOT NULL,
    grid_export_kwh DOUBLE NOT NULL,
    p2p_import_kwh DOUBLE NOT NULL,
    p2p_export_kwh DOUBLE NOT NULL,
    intervals BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS dw.fact_monthly_summary (
    user_sk BIGINT NOT NULL,
    month_sk INTEGER NOT NULL,           -- yyyymm
    month_start DATE NOT NULL,
    total_production DOUBLE NOT NULL,    -- kWh
    total_consumption DOUBLE NOT NULL,   -- kWh
    total_self_consumption DOUBLE NOT NULL,
    total_grid_import DOUBLE NOT NULL,
    total_grid_export DOUBLE NOT NULL,
    total_revenue DOUBLE NOT NULL,       -- EUR
    total_savings DOUBLE NOT NULL,       -- EUR
    total_co2_saved DOUBLE NOT NULL      -- kg CO2
);
"""


@dataclass
class WarehouseResult:
    fact_rows: int
    message: str


def warehouse_path(home: Path) -> Path:
    return Path(home) / "warehouse.duckdb"


def connect(home: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the warehouse file with the delta extension loaded (UTC session)."""
    con = duckdb.connect(str(warehouse_path(home)), read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"INSTALL '{delta_extension_path()}'; LOAD delta;")
    return con


def _scan(lake: Lake, spec: tbl.TableSpec) -> str:
    lake.ensure(spec)
    return f"delta_scan('{lake.path(spec)}')"


def _load_dim_time(con: duckdb.DuckDBPyConnection, years: list[int]) -> None:
    for year in years:
        hol = [d.isoformat() for d in uk_holidays(year, year)]
        con.execute(
            f"""
            INSERT INTO dw.dim_time
            SELECT CAST(strftime(ts, '%Y%m%d%H') AS BIGINT), ts, CAST(ts AS DATE), hour(ts),
                   isodow(ts) - 1, dayname(ts), isodow(ts) >= 6,
                   CAST(ts AS DATE) IN (SELECT CAST(unnest(?::VARCHAR[]) AS DATE)),
                   month(ts), quarter(ts), year(ts),
                   CASE WHEN month(ts) IN (12, 1, 2) THEN 'WINTER'
                        WHEN month(ts) IN (3, 4, 5) THEN 'SPRING'
                        WHEN month(ts) IN (6, 7, 8) THEN 'SUMMER' ELSE 'AUTUMN' END,
                   hour(ts) >= 17 AND hour(ts) < 21
            FROM generate_series(TIMESTAMP '{year}-01-01', TIMESTAMP '{year}-12-31 23:00:00',
                                 INTERVAL 1 HOUR) AS g(ts)
            WHERE CAST(strftime(ts, '%Y%m%d%H') AS BIGINT) NOT IN (SELECT time_sk FROM dw.dim_time)
            """,
            [hol],
        )


def _load_dim_users(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    """SCD2 merge of the profile history; meters without a profile become their own user."""
    attrs = ", ".join(USER_ATTRS)
    hashed = (
        "md5(concat_ws('|', "
        + ", ".join(f"coalesce(CAST({a} AS VARCHAR), '')" for a in USER_ATTRS)
        + "))"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE desired AS
        WITH src AS (
            SELECT user_id, {attrs}, effective_date, {hashed} AS row_hash
            FROM {_scan(lake, tbl.SILVER_USERS)}
            UNION ALL
            SELECT DISTINCT f.user_id, f.user_id, NULL, 'unregistered', 0.0, NULL, NULL, NULL,
                   NULL, NULL, NULL, DATE '1900-01-01', 'unregistered'
            FROM {_scan(lake, tbl.GOLD_FLOW_HOURLY)} f
            WHERE f.user_id NOT IN (SELECT user_id FROM {_scan(lake, tbl.SILVER_USERS)})
        ),
        marked AS (
            SELECT *, lag(row_hash) OVER (PARTITION BY user_id ORDER BY effective_date) AS prev
            FROM src
        ),
        versions AS (SELECT * EXCLUDE (prev) FROM marked WHERE prev IS NULL OR prev <> row_hash)
        SELECT *, coalesce(lead(effective_date) OVER (PARTITION BY user_id
                                                     ORDER BY effective_date),
                           DATE '{OPEN_END}') AS expiration_date
        FROM versions
        """
    )
    con.execute(
        f"""
        UPDATE dw.dim_users AS d SET
            {", ".join(f"{a} = s.{a}" for a in USER_ATTRS)},
            row_hash = s.row_hash,
            expiration_date = s.expiration_date,
            is_current = s.expiration_date = DATE '{OPEN_END}'
        FROM desired s
        WHERE d.user_id = s.user_id AND d.effective_date = s.effective_date
          AND (d.row_hash <> s.row_hash OR d.expiration_date <> s.expiration_date)
        """
    )
    con.execute(
        f"""
        INSERT INTO dw.dim_users
        SELECT (SELECT coalesce(max(user_sk), 0) FROM dw.dim_users)
                   + row_number() OVER (ORDER BY s.user_id, s.effective_date),
               s.user_id, {", ".join("s." + a for a in USER_ATTRS)}, s.effective_date,
               s.expiration_date, s.expiration_date = DATE '{OPEN_END}', s.row_hash
        FROM desired s
        WHERE NOT EXISTS (SELECT 1 FROM dw.dim_users d
                          WHERE d.user_id = s.user_id AND d.effective_date = s.effective_date)
        """
    )


def _load_facts(
    con: duckdb.DuckDBPyConnection, lake: Lake, dates: list[dt.date], full: bool
) -> int:
    date_list = [d.isoformat() for d in dates]
    where = "TRUE" if full else "f.date IN (SELECT CAST(unnest(?::VARCHAR[]) AS DATE))"
    params = [] if full else [date_list]
    if full:
        con.execute("DELETE FROM dw.fact_energy_flow")
    else:
        con.execute(
            "DELETE FROM dw.fact_energy_flow WHERE time_sk // 100 IN "
            "(SELECT CAST(strftime(CAST(unnest(?::VARCHAR[]) AS DATE), '%Y%m%d') AS BIGINT))",
            [date_list],
        )
    con.execute(
        f"""
        INSERT INTO dw.fact_energy_flow
        SELECT u.user_sk, CAST(strftime(f.hour_ts, '%Y%m%d%H') AS BIGINT),
               f.production_kwh, f.consumption_kwh, f.self_consumption_kwh, f.surplus_kwh,
               f.grid_import_kwh, f.grid_export_kwh, 0.0, 0.0, f.intervals
        FROM {_scan(lake, tbl.GOLD_FLOW_HOURLY)} f
        JOIN (SELECT *, CASE WHEN row_number() OVER (PARTITION BY user_id
                                                     ORDER BY effective_date) = 1
                             THEN DATE '1900-01-01' ELSE effective_date END AS join_from
              FROM dw.dim_users) u
          ON u.user_id = f.user_id AND f.date >= u.join_from AND f.date < u.expiration_date
        WHERE {where}
        """,
        params,
    )
    expected = con.execute(
        f"SELECT count(*) FROM {_scan(lake, tbl.GOLD_FLOW_HOURLY)} f WHERE {where}", params
    ).fetchone()[0]
    loaded = con.execute(
        "SELECT count(*) FROM dw.fact_energy_flow"
        + (
            ""
            if full
            else " WHERE time_sk // 100 IN (SELECT CAST(strftime(CAST(unnest("
            "?::VARCHAR[]) AS DATE), '%Y%m%d') AS BIGINT))"
        ),
        [] if full else [date_list],
    ).fetchone()[0]
    if loaded != expected:
        raise PipelineError(
            f"warehouse load lost rows: {expected} gold flow rows, {loaded} fact rows loaded"
        )
    return int(loaded)


def _load_monthly(con: duckdb.DuckDBPyConnection, months: list[int], s: Settings) -> None:
    con.execute(
        "DELETE FROM dw.fact_monthly_summary WHERE month_sk IN (SELECT unnest(?::INTEGER[]))",
        [months],
    )
    con.execute(
        f"""
        INSERT INTO dw.fact_monthly_summary
        SELECT user_sk, CAST(time_sk // 10000 AS INTEGER) AS month_sk,
               make_date(CAST(time_sk // 1000000 AS INTEGER),
                         CAST(time_sk // 10000 % 100 AS INTEGER), 1),
               round(sum(production_kwh), 4), round(sum(consumption_kwh), 4),
               round(sum(self_consumption_kwh), 4), round(sum(grid_import_kwh), 4),
               round(sum(grid_export_kwh), 4),
               round(sum(grid_export_kwh) * {s.grid_sell_eur_per_kwh}, 4),
               round(sum(self_consumption_kwh) * {s.grid_buy_eur_per_kwh}, 4),
               round(sum(production_kwh) * {s.grid_co2_kg_per_kwh}, 4)
        FROM dw.fact_energy_flow
        WHERE time_sk // 10000 IN (SELECT unnest(?::INTEGER[]))
        GROUP BY ALL
        """,
        [months],
    )


def load_warehouse(settings: Settings, dates: list[dt.date], full_users: bool) -> WarehouseResult:
    """Load dims and facts for `dates` (all facts when `full_users`) in one transaction."""
    lake = Lake(settings.home)
    con = connect(settings.home)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(DDL)
        if full_users:
            dates = sorted(
                d
                for (d,) in con.execute(
                    f"SELECT DISTINCT date FROM {_scan(lake, tbl.GOLD_FLOW_HOURLY)}"
                ).fetchall()
            )
        years = sorted({d.year for d in dates})
        _load_dim_time(con, years)
        _load_dim_users(con, lake)
        rows = _load_facts(con, lake, dates, full_users) if dates else 0
        months = sorted({d.year * 100 + d.month for d in dates})
        if months:
            _load_monthly(con, months, settings)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    what = "all dates (profiles changed)" if full_users else f"{len(dates)} date(s)"
    return WarehouseResult(rows, f"loaded {rows} fact_energy_flow rows for {what}")
