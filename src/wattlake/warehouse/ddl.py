"""The `dw.*` star schema: one column list per table, rendered for DuckDB and PostgreSQL.

Both targets get the same columns and types (`DOUBLE PRECISION`, `VARCHAR`, `TIMESTAMP` …
mean the same in both). The differences are written out here:

- DuckDB: no keys on the fact tables (as before), no partitions, no extra indexes.
- PostgreSQL: `fact_energy_flow` is range-partitioned on `time_sk` (yyyymmddhh) and
  `fact_monthly_summary` on `month_sk` (yyyymm), one partition per calendar month created on
  load (`partition_ddl`); primary keys that include the partition key; foreign keys from the
  facts to `dim_users` / `dim_time`; indexes for the dashboard queries (join on `time_sk`,
  filter on `dim_time.date`, per-user lookups through the primary keys).
"""

from __future__ import annotations

from typing import Literal

DialectName = Literal["duckdb", "postgres"]

DIM_TIME = (
    ("time_sk", "BIGINT PRIMARY KEY", "yyyymmddhh of the hour start (UTC)"),
    ("ts", "TIMESTAMP NOT NULL", "hour start, UTC"),
    ("date", "DATE NOT NULL", ""),
    ("hour", "INTEGER NOT NULL", ""),
    ("day_of_week", "INTEGER NOT NULL", "0 = Monday"),
    ("day_name", "VARCHAR NOT NULL", ""),
    ("is_weekend", "BOOLEAN NOT NULL", ""),
    ("is_holiday", "BOOLEAN NOT NULL", "UK (England) public holiday"),
    ("month", "INTEGER NOT NULL", ""),
    ("quarter", "INTEGER NOT NULL", ""),
    ("year", "INTEGER NOT NULL", ""),
    ("season", "VARCHAR NOT NULL", ""),
    ("is_peak", "BOOLEAN NOT NULL", "17:00-21:00"),
)

DIM_USERS = (
    ("user_sk", "BIGINT PRIMARY KEY", ""),
    ("user_id", "VARCHAR NOT NULL", ""),
    ("meter_id", "VARCHAR", ""),
    ("pv_meter_id", "VARCHAR", ""),
    ("user_type", "VARCHAR", ""),
    ("panel_kwp", "DOUBLE PRECISION", "kWp"),
    ("panel_tilt_deg", "DOUBLE PRECISION", ""),
    ("panel_azimuth_deg", "DOUBLE PRECISION", ""),
    ("latitude", "DOUBLE PRECISION", ""),
    ("longitude", "DOUBLE PRECISION", ""),
    ("tariff", "VARCHAR", ""),
    ("acorn_group", "VARCHAR", ""),
    ("effective_date", "DATE NOT NULL", "inclusive"),
    ("expiration_date", "DATE NOT NULL", "exclusive; 9999-12-31 when current"),
    ("is_current", "BOOLEAN NOT NULL", ""),
    ("is_deleted", "BOOLEAN NOT NULL", "a deletion version (profile row with user_type 'deleted')"),
    ("row_hash", "VARCHAR NOT NULL", "md5 of the attributes (engine-specific text)"),
)

DIM_WEATHER = (
    ("weather_sk", "BIGINT PRIMARY KEY", ""),
    ("location_zone", "VARCHAR NOT NULL", "'lat,lon' of the weather grid point"),
    ("latitude", "DOUBLE PRECISION NOT NULL", "degrees"),
    ("longitude", "DOUBLE PRECISION NOT NULL", "degrees"),
    ("time_sk", "BIGINT NOT NULL", "yyyymmddhh of the hour start (UTC)"),
    ("date", "DATE NOT NULL", ""),
    ("hour", "INTEGER NOT NULL", ""),
    ("temperature_c", "DOUBLE PRECISION", "°C, hourly mean"),
    ("cloud_cover_pct", "DOUBLE PRECISION", "%"),
    ("solar_irradiance_w_m2", "DOUBLE PRECISION", "GHI, W/m²"),
    ("direct_w_m2", "DOUBLE PRECISION", "beam on the horizontal plane, W/m²"),
    ("diffuse_w_m2", "DOUBLE PRECISION", "DHI, W/m²"),
    ("wind_speed_m_s", "DOUBLE PRECISION", "m/s"),
    ("is_extreme", "BOOLEAN NOT NULL", "temperature > 35 °C or < -10 °C"),
    ("source", "VARCHAR", "API or 'generated'"),
)

DIM_PRICES = (
    ("price_sk", "BIGINT PRIMARY KEY", ""),
    ("zone", "VARCHAR NOT NULL", "bidding zone, e.g. DE-LU"),
    ("time_sk", "BIGINT NOT NULL", "yyyymmddhh of the hour start (UTC)"),
    ("date", "DATE NOT NULL", ""),
    ("hour", "INTEGER NOT NULL", ""),
    ("spot_price_eur_per_kwh", "DOUBLE PRECISION NOT NULL", "EUR/kWh, mean of the hour"),
    ("price_intervals", "INTEGER NOT NULL", "spot intervals in the hour (1 hourly, 4 for 15 min)"),
    ("grid_buy_price_eur_per_kwh", "DOUBLE PRECISION NOT NULL", "EUR/kWh retail"),
    ("grid_sell_price_eur_per_kwh", "DOUBLE PRECISION NOT NULL", "EUR/kWh feed-in"),
    ("price_category", "VARCHAR NOT NULL", "negative / low / normal / high vs the day's mean"),
)

FACT_ENERGY_FLOW = (
    ("user_sk", "BIGINT NOT NULL", ""),
    ("time_sk", "BIGINT NOT NULL", ""),
    ("production_kwh", "DOUBLE PRECISION NOT NULL", ""),
    ("consumption_kwh", "DOUBLE PRECISION NOT NULL", ""),
    ("self_consumption_kwh", "DOUBLE PRECISION NOT NULL", ""),
    ("surplus_kwh", "DOUBLE PRECISION NOT NULL", ""),
    ("grid_import_kwh", "DOUBLE PRECISION NOT NULL", ""),
    ("grid_export_kwh", "DOUBLE PRECISION NOT NULL", ""),
    ("p2p_import_kwh", "DOUBLE PRECISION NOT NULL", ""),
    ("p2p_export_kwh", "DOUBLE PRECISION NOT NULL", ""),
    ("intervals", "BIGINT NOT NULL", "meter intervals in the hour"),
    ("weather_sk", "BIGINT", "weather of the user's nearest grid point that hour"),
    ("price_sk", "BIGINT", "spot price of the configured zone that hour"),
)

FACT_MONTHLY_SUMMARY = (
    ("user_sk", "BIGINT NOT NULL", ""),
    ("month_sk", "INTEGER NOT NULL", "yyyymm"),
    ("month_start", "DATE NOT NULL", ""),
    ("total_production", "DOUBLE PRECISION NOT NULL", "kWh"),
    ("total_consumption", "DOUBLE PRECISION NOT NULL", "kWh"),
    ("total_self_consumption", "DOUBLE PRECISION NOT NULL", "kWh"),
    ("total_grid_import", "DOUBLE PRECISION NOT NULL", "kWh"),
    ("total_grid_export", "DOUBLE PRECISION NOT NULL", "kWh"),
    ("total_p2p_import", "DOUBLE PRECISION NOT NULL", "kWh bought from peers"),
    ("total_p2p_export", "DOUBLE PRECISION NOT NULL", "kWh sold to peers"),
    ("total_p2p_revenue", "DOUBLE PRECISION NOT NULL", "EUR from P2P sales"),
    ("total_revenue", "DOUBLE PRECISION NOT NULL", "EUR: grid export x feed-in + P2P sales"),
    ("total_savings", "DOUBLE PRECISION NOT NULL", "EUR vs grid-only: self-use + P2P buys"),
    ("total_co2_saved", "DOUBLE PRECISION NOT NULL", "kg CO2"),
)

FACT_ENERGY_TRANSACTIONS = (
    ("seller_sk", "BIGINT NOT NULL", ""),
    ("buyer_sk", "BIGINT NOT NULL", ""),
    ("time_sk", "BIGINT NOT NULL", ""),
    ("energy_kwh", "DOUBLE PRECISION NOT NULL", "kWh"),
    ("transaction_amount_eur", "DOUBLE PRECISION NOT NULL", "EUR"),
    ("distance_km", "DOUBLE PRECISION", "km"),
    ("co2_saved_kg", "DOUBLE PRECISION", "kg CO2"),
    ("grid_fee_eur", "DOUBLE PRECISION NOT NULL", "EUR network fee paid by the buyer"),
    ("buyer_savings_eur", "DOUBLE PRECISION NOT NULL", "EUR: energy x (retail - price - fee)"),
)

FACT_FORECASTS = (
    ("model", "VARCHAR NOT NULL", "forecast model family (registry name wattlake-<model>)"),
    ("model_version", "BIGINT NOT NULL", "registry version"),
    ("target", "VARCHAR NOT NULL", "consumption | solar | price"),
    ("level", "VARCHAR NOT NULL", "household | community | portfolio | prosumer | zone"),
    ("series_key", "VARCHAR NOT NULL", "user id, community-<id>, portfolio or price zone"),
    ("user_sk", "BIGINT", "the user's current version for household/prosumer series"),
    ("time_sk", "BIGINT NOT NULL", "yyyymmddhh of the forecast hour (UTC)"),
    ("issued_at", "TIMESTAMP NOT NULL", "issue time, UTC"),
    ("ts", "TIMESTAMP NOT NULL", "forecast hour start, UTC"),
    ("lead_hours", "INTEGER NOT NULL", "hours after the issue time"),
    ("p10", "DOUBLE PRECISION NOT NULL", "10 % quantile, unit per hour"),
    ("p50", "DOUBLE PRECISION NOT NULL", "median"),
    ("p90", "DOUBLE PRECISION NOT NULL", "90 % quantile"),
    ("unit", "VARCHAR NOT NULL", "kWh or EUR/kWh"),
)

TABLES = {
    "dim_time": DIM_TIME,
    "dim_users": DIM_USERS,
    "dim_weather": DIM_WEATHER,
    "dim_prices": DIM_PRICES,
    "fact_energy_flow": FACT_ENERGY_FLOW,
    "fact_monthly_summary": FACT_MONTHLY_SUMMARY,
    "fact_energy_transactions": FACT_ENERGY_TRANSACTIONS,
    "fact_forecasts": FACT_FORECASTS,  # the seed's ml_predictions (forecast/service.py)
}

# Table constraints, then the clause after the closing parenthesis, per dialect.
_EXTRA: dict[DialectName, dict[str, tuple[list[str], str]]] = {
    "duckdb": {
        "dim_users": (["UNIQUE (user_id, effective_date)"], ""),
        "dim_weather": (["UNIQUE (latitude, longitude, time_sk)"], ""),
        "dim_prices": (["UNIQUE (zone, time_sk)"], ""),
        "fact_forecasts": (["UNIQUE (model, series_key, issued_at, time_sk)"], ""),
    },
    "postgres": {
        "dim_users": (["UNIQUE (user_id, effective_date)"], ""),
        "dim_weather": (["UNIQUE (latitude, longitude, time_sk)"], ""),
        "dim_prices": (["UNIQUE (zone, time_sk)"], ""),
        "fact_energy_flow": (
            [
                "PRIMARY KEY (user_sk, time_sk)",
                "FOREIGN KEY (user_sk) REFERENCES dw.dim_users (user_sk)",
                "FOREIGN KEY (time_sk) REFERENCES dw.dim_time (time_sk)",
                "FOREIGN KEY (weather_sk) REFERENCES dw.dim_weather (weather_sk)",
                "FOREIGN KEY (price_sk) REFERENCES dw.dim_prices (price_sk)",
            ],
            " PARTITION BY RANGE (time_sk)",
        ),
        "fact_monthly_summary": (
            [
                "PRIMARY KEY (user_sk, month_sk)",
                "FOREIGN KEY (user_sk) REFERENCES dw.dim_users (user_sk)",
            ],
            " PARTITION BY RANGE (month_sk)",
        ),
        "fact_forecasts": (["PRIMARY KEY (model, series_key, issued_at, time_sk)"], ""),
        "fact_energy_transactions": (
            [
                "FOREIGN KEY (seller_sk) REFERENCES dw.dim_users (user_sk)",
                "FOREIGN KEY (buyer_sk) REFERENCES dw.dim_users (user_sk)",
                "FOREIGN KEY (time_sk) REFERENCES dw.dim_time (time_sk)",
            ],
            "",
        ),
    },
}

_PG_INDEXES = (
    "CREATE INDEX IF NOT EXISTS dim_time_date_idx ON dw.dim_time (date)",
    "CREATE INDEX IF NOT EXISTS dim_users_current_idx ON dw.dim_users (user_id) WHERE is_current",
    "CREATE INDEX IF NOT EXISTS dim_weather_time_sk_idx ON dw.dim_weather (time_sk)",
    "CREATE INDEX IF NOT EXISTS dim_prices_time_sk_idx ON dw.dim_prices (time_sk)",
    "CREATE INDEX IF NOT EXISTS fact_energy_flow_time_sk_idx ON dw.fact_energy_flow (time_sk)",
    "CREATE INDEX IF NOT EXISTS fact_monthly_summary_month_sk_idx "
    "ON dw.fact_monthly_summary (month_sk)",
    "CREATE INDEX IF NOT EXISTS fact_energy_transactions_time_sk_idx "
    "ON dw.fact_energy_transactions (time_sk)",
    "CREATE INDEX IF NOT EXISTS fact_energy_transactions_seller_idx "
    "ON dw.fact_energy_transactions (seller_sk)",
    "CREATE INDEX IF NOT EXISTS fact_energy_transactions_buyer_idx "
    "ON dw.fact_energy_transactions (buyer_sk)",
    "CREATE INDEX IF NOT EXISTS fact_forecasts_time_sk_idx ON dw.fact_forecasts (time_sk)",
)


def columns(table: str) -> list[str]:
    """Column names of a `dw` table in declaration order."""
    return [c for c, _, _ in TABLES[table]]


def create_table(table: str, dialect: DialectName) -> str:
    """`CREATE TABLE IF NOT EXISTS dw.<table>` for `dialect`."""
    cons, suffix = _EXTRA[dialect].get(table, ([], ""))
    lines = [f"    {c} {t}" for c, t, _ in TABLES[table]] + [f"    {c}" for c in cons]
    return f"CREATE TABLE IF NOT EXISTS dw.{table} (\n" + ",\n".join(lines) + f"\n){suffix}"


def schema_ddl(dialect: DialectName) -> list[str]:
    """Every statement that creates the schema, its tables and (PostgreSQL) indexes."""
    out = ["CREATE SCHEMA IF NOT EXISTS dw"] + [create_table(t, dialect) for t in TABLES]
    if dialect == "postgres":
        out += list(_PG_INDEXES)
    return out


def _next_month(month_sk: int) -> int:
    y, m = divmod(month_sk, 100)
    return (y + 1) * 100 + 1 if m == 12 else month_sk + 1


def partition_ddl(month_sk: int) -> list[str]:
    """PostgreSQL: the monthly partitions of both fact tables for `month_sk` (yyyymm)."""
    nxt = _next_month(month_sk)
    y, m = divmod(month_sk, 100)
    return [
        f"CREATE TABLE IF NOT EXISTS dw.fact_energy_flow_y{y}m{m:02d} "
        f"PARTITION OF dw.fact_energy_flow "
        f"FOR VALUES FROM ({month_sk * 10000}) TO ({nxt * 10000})",
        f"CREATE TABLE IF NOT EXISTS dw.fact_monthly_summary_y{y}m{m:02d} "
        f"PARTITION OF dw.fact_monthly_summary FOR VALUES FROM ({month_sk}) TO ({nxt})",
    ]
