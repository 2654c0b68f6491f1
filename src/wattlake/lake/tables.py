"""The lake's tables: names, Arrow schemas and Delta I/O (the only place that writes them).

Every table lives at `<home>/lake/<schema>/<name>` as a Delta table. Timestamps are stored
as UTC (`timestamp[us, tz=UTC]`); energy in kWh per interval, power in kW.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from deltalake import DeltaTable, WriterProperties, write_deltalake
from deltalake import Field as DeltaField
from deltalake.exceptions import TableNotFoundError

UTC_TS = pa.timestamp("us", tz="UTC")
# Row-group size of clustered tables (rows); DuckDB scans a row group per thread task.
CLUSTERED_ROW_GROUP_ROWS = 100_000
# DuckDB's working memory for sorting a clustered table's rows before a write (spills beyond).
CLUSTER_SORT_MEMORY = "1GB"

LINEAGE = [
    ("_batch_id", pa.string()),
    ("_source_file", pa.string()),
    ("_row_number", pa.int64()),
    ("_ingested_at", UTC_TS),
    ("_record_id", pa.string()),
]


@dataclass(frozen=True)
class TableSpec:
    """One lake table: qualified name, Arrow schema, Delta partition columns."""

    schema: str
    name: str
    columns: tuple[tuple[str, pa.DataType], ...]
    partition_by: tuple[str, ...] = ()
    description: str = ""
    # A write of a table sorts its rows by these columns (`Lake._source`) and stores them in
    # row groups of `CLUSTERED_ROW_GROUP_ROWS`, so a reader filtering on them skips the
    # other row groups by their min/max statistics (the silver VEE reads bronze meter chunk
    # by meter chunk).
    cluster_by: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(n, t) for n, t in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [n for n, _ in self.columns]


def _spec(qualified: str, cols: Iterable[tuple[str, pa.DataType]], **kw: object) -> TableSpec:
    schema, name = qualified.split(".")
    return TableSpec(schema, name, tuple(cols), **kw)  # type: ignore[arg-type]


BRONZE_READINGS = _spec(
    "bronze.meter_readings",
    [
        ("meter_id", pa.string()),
        ("timestamp", pa.string()),
        ("value", pa.string()),
        ("unit", pa.string()),
        ("_format", pa.string()),
        *LINEAGE,
        ("ingest_date", pa.string()),
    ],
    partition_by=("ingest_date",),
    description="raw meter readings as text, one row per distinct input line",
    cluster_by=("meter_id",),
)

# The user-profile history layout (`users.csv`, written by `wattlake generate`).
USER_PROFILE_COLUMNS = (
    "user_id",
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
    "effective_date",
)

# user_type of a deletion row: the user is gone from its effective_date on (a later ordinary
# row makes it re-appear); `dw.dim_users` keeps it as a version with `is_deleted`.
USER_DELETED = "deleted"

BRONZE_USERS = _spec(
    "bronze.user_profiles",
    [(c, pa.string()) for c in USER_PROFILE_COLUMNS] + [*LINEAGE, ("ingest_date", pa.string())],
    partition_by=("ingest_date",),
    description="raw user-profile history rows as text",
)

SILVER_READINGS = _spec(
    "silver.meter_readings",
    [
        ("meter_id", pa.string()),
        ("ts", UTC_TS),
        ("date", pa.date32()),
        ("interval_minutes", pa.int32()),
        ("kwh", pa.float64()),
        ("kw", pa.float64()),
        ("unit_raw", pa.string()),
        ("value_raw", pa.string()),
        ("quality_score", pa.int32()),
        ("quality_grade", pa.string()),
        ("quality_tier", pa.string()),
        ("flags", pa.string()),
        ("is_estimated", pa.bool_()),
        ("provenance", pa.string()),
        ("estimation_method", pa.string()),
        ("hour", pa.int32()),
        ("day_of_week", pa.int32()),
        ("is_weekend", pa.bool_()),
        ("is_holiday", pa.bool_()),
        ("season", pa.string()),
        ("is_peak", pa.bool_()),
        ("_record_id", pa.string()),
        ("_batch_id", pa.string()),
        ("_ingested_at", UTC_TS),
        ("_run_id", pa.string()),
    ],
    description="validated readings, one row per (meter_id, ts)",
)

SILVER_QUARANTINE = _spec(
    "silver.quarantine",
    [
        ("meter_id", pa.string()),
        ("ts", UTC_TS),
        ("timestamp_raw", pa.string()),
        ("value_raw", pa.string()),
        ("unit_raw", pa.string()),
        ("kwh", pa.float64()),
        ("kw", pa.float64()),
        ("quality_score", pa.int32()),
        ("rules", pa.string()),
        ("_record_id", pa.string()),
        ("_batch_id", pa.string()),
        ("_source_file", pa.string()),
        ("_row_number", pa.int64()),
        ("_ingested_at", UTC_TS),
        ("_run_id", pa.string()),
    ],
    description="readings held back by a rejecting rule or a score below 70",
)

SILVER_GAPS = _spec(
    "silver.gaps",
    [
        ("meter_id", pa.string()),
        ("gap_start", UTC_TS),
        ("date", pa.date32()),
        ("prev_ts", UTC_TS),
        ("next_ts", UTC_TS),
        ("interval_minutes", pa.int32()),
        ("missing_intervals", pa.int64()),
        ("gap_hours", pa.float64()),
        ("gap_class", pa.string()),
        ("_run_id", pa.string()),
    ],
    description="missing intervals between accepted readings, one row per gap",
)

SILVER_REGISTRY = _spec(
    "silver.meter_registry",
    [
        ("meter_id", pa.string()),
        ("vacant", pa.bool_()),
        ("_source_file", pa.string()),
        ("_loaded_at", UTC_TS),
    ],
    description="known meters (`wattlake registry load`); vacant meters skip the zero fault",
)

OPS_RELEASES = _spec(
    "ops.quarantine_releases",
    [
        ("_record_id", pa.string()),
        ("meter_id", pa.string()),
        ("ts", UTC_TS),
        ("rules", pa.string()),
        ("reason", pa.string()),
        ("released_by", pa.string()),
        ("released_at", UTC_TS),
    ],
    description="manual overrides: quarantined readings an operator released into silver",
)

SILVER_USERS = _spec(
    "silver.user_profiles",
    [
        ("user_id", pa.string()),
        ("meter_id", pa.string()),
        ("pv_meter_id", pa.string()),
        ("user_type", pa.string()),
        ("panel_kwp", pa.float64()),
        ("panel_tilt_deg", pa.float64()),
        ("panel_azimuth_deg", pa.float64()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("tariff", pa.string()),
        ("acorn_group", pa.string()),
        ("effective_date", pa.date32()),
        ("_batch_id", pa.string()),
        ("_record_id", pa.string()),
    ],
    description="typed user-profile history, one row per (user_id, effective_date)",
)

GOLD_HOURLY_METER = _spec(
    "gold.hourly_meter_stats",
    [
        ("meter_id", pa.string()),
        ("hour_ts", UTC_TS),
        ("date", pa.date32()),
        ("readings", pa.int64()),
        ("kwh", pa.float64()),
        ("kw_avg", pa.float64()),
        ("kw_min", pa.float64()),
        ("kw_max", pa.float64()),
        ("kw_stddev", pa.float64()),
    ],
    description="per meter and hour: AVG/MIN/MAX/STDDEV of power, energy sum",
)

GOLD_FLOW_HOURLY = _spec(
    "gold.energy_flow_hourly",
    [
        ("user_id", pa.string()),
        ("hour_ts", UTC_TS),
        ("date", pa.date32()),
        ("production_kwh", pa.float64()),
        ("consumption_kwh", pa.float64()),
        ("self_consumption_kwh", pa.float64()),
        ("surplus_kwh", pa.float64()),
        ("grid_import_kwh", pa.float64()),
        ("grid_export_kwh", pa.float64()),
        ("p2p_import_kwh", pa.float64()),
        ("p2p_export_kwh", pa.float64()),
        ("intervals", pa.int64()),
        ("community_id", pa.int64()),  # the user's market community in this clearing
    ],
    description="per user and hour: production, consumption, P2P trades and the grid balance",
)

GOLD_DAILY_BALANCE = _spec(
    "gold.daily_energy_balance",
    [
        ("user_id", pa.string()),
        ("date", pa.date32()),
        ("production_kwh", pa.float64()),
        ("consumption_kwh", pa.float64()),
        ("self_consumption_kwh", pa.float64()),
        ("surplus_kwh", pa.float64()),
        ("grid_import_kwh", pa.float64()),
        ("grid_export_kwh", pa.float64()),
        ("p2p_import_kwh", pa.float64()),
        ("p2p_export_kwh", pa.float64()),
        ("intervals", pa.int64()),
    ],
    description="per user and day: the energy balance (sum of the hourly flow)",
)

GOLD_PEAK_HOURS = _spec(
    "gold.peak_hours",
    [
        ("date", pa.date32()),
        ("hour_ts", UTC_TS),
        ("hour", pa.int32()),
        ("peak_rank", pa.int32()),
        ("total_kwh", pa.float64()),
        ("meters", pa.int64()),
        ("season", pa.string()),
        ("is_holiday", pa.bool_()),
    ],
    description="top-3 consumption hours per day over all consumption meters",
)

OPS_RUNS = _spec(
    "ops.runs",
    [
        ("run_id", pa.string()),
        ("batch_id", pa.string()),
        ("step", pa.string()),
        ("source", pa.string()),
        ("engine", pa.string()),
        ("profile", pa.string()),
        ("rows_in", pa.int64()),
        ("rows_out", pa.int64()),
        ("rows_quarantined", pa.int64()),
        ("rows_dead_letter", pa.int64()),
        ("rows_duplicate", pa.int64()),
        ("checksum", pa.string()),
        ("started_at", UTC_TS),
        ("duration_s", pa.float64()),
        ("status", pa.string()),
        ("message", pa.string()),
    ],
    description="one row per ingested file or pipeline step",
)

OPS_DEAD_LETTER = _spec(
    "ops.dead_letter",
    [
        ("batch_id", pa.string()),
        ("source_file", pa.string()),
        ("line_number", pa.int64()),
        ("raw_text", pa.string()),
        ("reason", pa.string()),
        ("recorded_at", UTC_TS),
    ],
    description="input lines that could not be parsed, with the reason",
)

OPS_MANIFEST = _spec(
    "ops.manifest",
    [
        ("checksum", pa.string()),
        ("source_file", pa.string()),
        ("format", pa.string()),
        ("batch_id", pa.string()),
        ("rows", pa.int64()),
        ("ingested_at", UTC_TS),
    ],
    description="SHA-256 of every ingested file: the same bytes are never landed twice",
)

OPS_CHECKPOINTS = _spec(
    "ops.checkpoints",
    [
        ("step", pa.string()),
        ("batch_id", pa.string()),
        ("run_id", pa.string()),
        ("processed_at", UTC_TS),
    ],
    description="which bronze batches each pipeline step has processed",
)

OPS_ALERTS = _spec(
    "ops.alerts",
    [
        ("alert_ts", UTC_TS),
        ("severity", pa.string()),
        ("rule", pa.string()),
        ("meter_id", pa.string()),
        ("message", pa.string()),
        ("run_id", pa.string()),
    ],
    description="alerts raised by rules and steps",
)

BRONZE_API_RESPONSES = TableSpec(
    "bronze",
    "api_responses",
    (
        ("source", pa.string()),  # energy-charts | open-meteo | pvgis
        ("url", pa.string()),  # full URL including the query string
        ("params", pa.string()),  # request parameters as JSON (sorted keys)
        ("status", pa.int32()),
        ("fetched_at", UTC_TS),
        ("checksum", pa.string()),  # SHA-256 of the body, hex
        ("content_length", pa.int64()),  # bytes
        ("body", pa.string()),  # the response text, unchanged
        *LINEAGE,
        ("ingest_date", pa.string()),
    ),
    partition_by=("ingest_date",),
    description="raw API responses, one row per distinct body (SHA-256)",
)

SILVER_WEATHER = TableSpec(
    "silver",
    "weather",
    (
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("ts", UTC_TS),
        ("temperature_c", pa.float64()),
        ("cloud_cover_pct", pa.float64()),
        ("ghi_w_m2", pa.float64()),
        ("direct_w_m2", pa.float64()),  # beam on the horizontal plane
        ("dni_w_m2", pa.float64()),  # beam normal to the sun
        ("dhi_w_m2", pa.float64()),
        ("wind_speed_m_s", pa.float64()),
        ("source", pa.string()),
        ("_batch_id", pa.string()),
    ),
    description="hourly weather per location, one row per (latitude, longitude, ts)",
)

SILVER_PRICES = TableSpec(
    "silver",
    "prices",
    (
        ("zone", pa.string()),
        ("ts", UTC_TS),
        ("price_eur_per_kwh", pa.float64()),
        ("price_eur_per_mwh", pa.float64()),
        ("resolution_minutes", pa.int32()),
        ("source", pa.string()),
        ("_batch_id", pa.string()),
    ),
    description="day-ahead spot prices, one row per (zone, ts); ts = interval start (UTC)",
)

SILVER_PV_POTENTIAL = TableSpec(
    "silver",
    "pv_potential",
    (
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("ts", UTC_TS),
        ("p_w", pa.float64()),
        ("poa_global_w_m2", pa.float64()),
        ("poa_direct_w_m2", pa.float64()),
        ("poa_sky_diffuse_w_m2", pa.float64()),
        ("poa_ground_diffuse_w_m2", pa.float64()),
        ("solar_elevation_deg", pa.float64()),
        ("temp_air_c", pa.float64()),
        ("wind_speed_m_s", pa.float64()),
        ("reconstructed", pa.bool_()),
        ("peak_power_kwp", pa.float64()),
        ("tilt_deg", pa.float64()),
        ("azimuth_deg", pa.float64()),
        ("source", pa.string()),
        ("_batch_id", pa.string()),
    ),
    description="PVGIS hourly PV power/irradiance per (latitude, longitude, ts)",
)

OPS_QUALITY_RESULTS = _spec(
    "ops.quality_results",
    [
        ("run_id", pa.string()),
        ("checked_at", UTC_TS),
        ("check_id", pa.string()),
        ("layer", pa.string()),  # bronze | silver | gold | warehouse
        ("severity", pa.string()),  # error | warn
        ("description", pa.string()),
        ("status", pa.string()),  # passed | failed | skipped | error
        ("passed", pa.bool_()),  # NULL when skipped
        ("observed", pa.string()),
        ("failing_rows", pa.int64()),
        ("sample", pa.string()),  # JSON array, <= 10 failing keys
        ("duration_s", pa.float64()),
    ],
    description="one row per data-quality check evaluation (wattlake.quality)",
)

OPS_METRICS = _spec(
    "ops.metrics",
    [
        ("run_id", pa.string()),
        ("metric", pa.string()),
        ("labels", pa.string()),  # JSON object, sorted keys
        ("value", pa.float64()),
        ("recorded_at", UTC_TS),
    ],
    description="metric samples recorded per run (wattlake.observability.metrics)",
)

GOLD_P2P_TRADES = TableSpec(
    "gold",
    "p2p_trades",
    (
        ("ts", UTC_TS),  # interval start (UTC)
        ("date", pa.date32()),
        ("seller_id", pa.string()),
        ("buyer_id", pa.string()),
        ("energy_kwh", pa.float64()),
        ("price_eur_per_kwh", pa.float64()),
        ("amount_eur", pa.float64()),  # energy × price, paid to the seller
        ("grid_fee_eur", pa.float64()),  # energy × network fee, paid by the buyer
        ("distance_km", pa.float64()),
        ("co2_saved_kg", pa.float64()),
        ("buyer_savings_eur", pa.float64()),
        ("seller_premium_eur", pa.float64()),
        ("community_id", pa.int64()),
        ("mechanism", pa.string()),
    ),
    description="P2P trades, one row per (interval, seller, buyer)",
)

_KPI_ENERGY = (
    ("production_kwh", pa.float64()),
    ("consumption_kwh", pa.float64()),
    ("self_consumption_kwh", pa.float64()),
    ("grid_import_kwh", pa.float64()),
    ("grid_export_kwh", pa.float64()),
    ("p2p_import_kwh", pa.float64()),
    ("p2p_export_kwh", pa.float64()),
    ("p2p_revenue_eur", pa.float64()),
    ("p2p_cost_eur", pa.float64()),
    ("grid_revenue_eur", pa.float64()),
    ("revenue_eur", pa.float64()),
    ("savings_eur", pa.float64()),
    ("co2_saved_kg", pa.float64()),
    ("self_sufficiency", pa.float64()),
    ("self_consumption_rate", pa.float64()),
)
ROLLING_KPIS = (
    "revenue_eur",
    "savings_eur",
    "co2_saved_kg",
    "self_sufficiency",
    "self_consumption_rate",
)
ROLLING_DAYS = (7, 30)
_KPI_ROLLING = tuple((f"{k}_avg_{n}d", pa.float64()) for n in ROLLING_DAYS for k in ROLLING_KPIS)

GOLD_USER_KPIS = _spec(
    "gold.p2p_user_kpis_daily",
    [
        ("user_id", pa.string()),
        ("date", pa.date32()),
        ("community_id", pa.int64()),
        *_KPI_ENERGY,
        *_KPI_ROLLING,
    ],
    description="per user and day: energy, P2P/grid EUR, savings, CO2, rates + rolling means",
)

GOLD_USER_PROFILES = _spec(
    "gold.p2p_user_profiles",
    [
        ("user_id", pa.string()),
        ("community_id", pa.int64()),  # on the user's last day
        ("first_date", pa.date32()),
        ("last_date", pa.date32()),
        ("days", pa.int64()),
        ("avg_daily_consumption_kwh", pa.float64()),
        ("avg_daily_production_kwh", pa.float64()),
        ("peak_consumption_share", pa.float64()),  # 17:00-21:00 UTC share of consumption
        *_KPI_ENERGY,  # totals over all days; rates over the totals
        ("market_role", pa.string()),  # seller | buyer | none
    ],
    description="per user over all days: averages, totals, rates and P2P market role",
)

GOLD_COMMUNITY_KPIS = _spec(
    "gold.p2p_community_kpis_daily",
    [
        ("community_id", pa.int64()),
        ("date", pa.date32()),
        ("members", pa.int64()),
        *_KPI_ENERGY,
        *_KPI_ROLLING,
    ],
    description="per market community and day: the user KPIs summed, rates over the sums",
)

# -- smart-meter-etl case (seeds/smart-meter-etl.md; wattlake.sources.smart_meter_etl) ------
# Bronze: every SQLite row as text + lineage (`_row_number` = record number in the database,
# `_rowid` = the SQLite rowid). Silver: typed and validated, one row per id (the last
# ingested database wins). Gold: the three reports, replaced per reference date.
_SME_SILVER_LINEAGE = (
    ("_batch_id", pa.string()),
    ("_source_file", pa.string()),
    ("_row_number", pa.int64()),
    ("_record_id", pa.string()),
    ("_loaded_at", UTC_TS),
)


def _sme_bronze(name: str, cols: tuple[str, ...], what: str) -> TableSpec:
    return _spec(
        f"bronze.{name}",
        [(c, pa.string()) for c in cols] + [*LINEAGE, ("_rowid", pa.int64())],
        description=f"raw {what} rows from SQLite databases, as text",
    )


BRONZE_SME_METERPOINTS = _sme_bronze("sme_meterpoints", ("meterpoint_id", "region"), "meterpoint")
BRONZE_SME_PRODUCTS = _sme_bronze(
    "sme_products", ("product_id", "display_name", "is_variable"), "product"
)
BRONZE_SME_AGREEMENTS = _sme_bronze(
    "sme_agreements",
    (
        "agreement_id",
        "meterpoint_id",
        "product_id",
        "agreement_valid_from",
        "agreement_valid_to",
    ),
    "agreement",
)
SILVER_METERPOINTS = _spec(
    "silver.meterpoints",
    [("meterpoint_id", pa.string()), ("region", pa.string()), *_SME_SILVER_LINEAGE],
    description="meterpoints, one row per meterpoint_id",
)
SILVER_PRODUCTS = _spec(
    "silver.products",
    [
        ("product_id", pa.string()),
        ("display_name", pa.string()),
        ("is_variable", pa.bool_()),
        *_SME_SILVER_LINEAGE,
    ],
    description="products (tariffs), one row per product_id",
)
SILVER_AGREEMENTS = _spec(
    "silver.agreements",
    [
        ("agreement_id", pa.string()),
        ("meterpoint_id", pa.string()),
        ("product_id", pa.string()),
        ("agreement_valid_from", pa.date32()),  # first day active
        ("agreement_valid_to", pa.date32()),  # first day no longer active; NULL = open
        *_SME_SILVER_LINEAGE,
    ],
    description="agreements (meterpoint on a product), active valid_from <= D < valid_to",
)
_REPORT_RUN = (("_run_id", pa.string()), ("computed_at", UTC_TS))
GOLD_REPORT_ACTIVE_AGREEMENTS = _spec(
    "gold.report_active_agreements",
    [
        ("reference_date", pa.date32()),
        ("agreement_id", pa.string()),
        ("meterpoint_id", pa.string()),
        ("region", pa.string()),
        ("product_id", pa.string()),
        ("display_name", pa.string()),
        ("is_variable", pa.bool_()),
        ("agreement_valid_from", pa.date32()),
        ("agreement_valid_to", pa.date32()),
        *_REPORT_RUN,
    ],
    description="agreements active on each reference date (report active-agreements)",
)
GOLD_REPORT_HALF_HOURLY = _spec(
    "gold.report_half_hourly",
    [
        ("reference_date", pa.date32()),  # UTC day of interval_start
        ("scope", pa.string()),  # meterpoints | all
        ("interval_start", UTC_TS),
        ("meterpoint_count", pa.int64()),
        ("reading_count", pa.int64()),
        ("estimated_count", pa.int64()),
        ("total_consumption_kwh", pa.float64()),
        *_REPORT_RUN,
    ],
    description="consumption per half hour over meters (report half-hourly)",
)
GOLD_REPORT_DAILY_PRODUCT = _spec(
    "gold.report_daily_product",
    [
        ("reference_date", pa.date32()),  # UTC day
        ("scope", pa.string()),  # meterpoints | all
        ("product_id", pa.string()),  # NULL = no active agreement
        ("display_name", pa.string()),
        ("is_variable", pa.bool_()),
        ("meterpoint_count", pa.int64()),
        ("reading_count", pa.int64()),
        ("estimated_count", pa.int64()),
        ("total_consumption_kwh", pa.float64()),
        *_REPORT_RUN,
    ],
    description="consumption per day and product of the active agreement (report daily-product)",
)
SMART_METER_ETL_TABLES: tuple[TableSpec, ...] = (
    BRONZE_SME_METERPOINTS,
    BRONZE_SME_PRODUCTS,
    BRONZE_SME_AGREEMENTS,
    SILVER_METERPOINTS,
    SILVER_PRODUCTS,
    SILVER_AGREEMENTS,
    GOLD_REPORT_ACTIVE_AGREEMENTS,
    GOLD_REPORT_HALF_HOURLY,
    GOLD_REPORT_DAILY_PRODUCT,
)

GOLD_READINGS_ENRICHED = _spec(
    "gold.readings_enriched",
    [
        ("meter_id", pa.string()),
        ("ts", UTC_TS),  # interval start (UTC)
        ("date", pa.date32()),
        ("interval_minutes", pa.int32()),
        ("kwh", pa.float64()),
        ("kw", pa.float64()),
        ("quality_score", pa.int32()),
        ("quality_grade", pa.string()),
        ("is_estimated", pa.bool_()),
        ("hour", pa.int32()),
        ("day_of_week", pa.int32()),
        ("is_weekend", pa.bool_()),
        ("is_holiday", pa.bool_()),
        ("season", pa.string()),
        ("is_peak", pa.bool_()),
        ("weather_latitude", pa.float64()),  # nearest silver.weather grid point (degrees)
        ("weather_longitude", pa.float64()),
        ("temperature_c", pa.float64()),
        ("cloud_cover_pct", pa.float64()),
        ("ghi_w_m2", pa.float64()),  # mean over the reading's hour
        ("price_zone", pa.string()),
        ("price_eur_per_kwh", pa.float64()),
        ("cost_eur", pa.float64()),  # kwh × price_eur_per_kwh
        ("is_extreme_weather", pa.bool_()),  # > 35 °C or < −10 °C; NULL without weather
    ],
    description="silver readings with their hour's weather, interval spot price, calendar",
)

GOLD_PV_MODELLED = _spec(
    "gold.pv_modelled_hourly",
    [
        ("user_id", pa.string()),
        ("hour_ts", UTC_TS),
        ("date", pa.date32()),
        ("modelled_kwh", pa.float64()),  # pvlib ModelChain, the user's kWp/tilt/azimuth
        ("metered_kwh", pa.float64()),  # gold.energy_flow_hourly production_kwh
        ("difference_kwh", pa.float64()),  # metered − modelled
        ("performance_ratio", pa.float64()),  # metered / modelled (NULL below 0.01 kWh)
        ("model_input", pa.string()),  # weather (silver.weather) | pv_potential (PVGIS)
    ],
    description="per prosumer and hour: pvlib-modelled PV next to the metered production",
)

ALL_TABLES: tuple[TableSpec, ...] = (
    BRONZE_READINGS,
    BRONZE_USERS,
    BRONZE_API_RESPONSES,
    SILVER_READINGS,
    SILVER_QUARANTINE,
    SILVER_GAPS,
    SILVER_REGISTRY,
    SILVER_USERS,
    SILVER_WEATHER,
    SILVER_PRICES,
    SILVER_PV_POTENTIAL,
    GOLD_HOURLY_METER,
    GOLD_FLOW_HOURLY,
    GOLD_DAILY_BALANCE,
    GOLD_PEAK_HOURS,
    GOLD_P2P_TRADES,
    GOLD_USER_KPIS,
    GOLD_COMMUNITY_KPIS,
    GOLD_USER_PROFILES,
    GOLD_READINGS_ENRICHED,
    GOLD_PV_MODELLED,
    OPS_RUNS,
    OPS_DEAD_LETTER,
    OPS_MANIFEST,
    OPS_CHECKPOINTS,
    OPS_ALERTS,
    OPS_RELEASES,
    OPS_QUALITY_RESULTS,
    OPS_METRICS,
    *SMART_METER_ETL_TABLES,
)


def conform(data: pa.Table, spec: TableSpec) -> pa.Table:
    """Select and cast `data` to the table's schema (missing nullable columns become null);
    `data` itself when it already has that schema."""
    if data.schema == spec.arrow_schema:
        return data
    cols = []
    for name, typ in spec.columns:
        if name in data.column_names:
            col = data.column(name)
            if (
                pa.types.is_timestamp(typ)
                and pa.types.is_timestamp(col.type)
                and col.type.tz is None
            ):
                col = col.cast(pa.timestamp("us")).cast(typ)  # naive values are UTC
            cols.append(col.cast(typ))
        else:
            cols.append(pa.nulls(data.num_rows, typ))
    return pa.Table.from_arrays(cols, schema=spec.arrow_schema)


def conformed_stream(source: pa.RecordBatchReader, spec: TableSpec) -> pa.RecordBatchReader:
    """`source`'s batches, each conformed to `spec` as it is read."""
    return pa.RecordBatchReader.from_batches(
        spec.arrow_schema,
        (b for batch in source for b in conform(pa.Table.from_batches([batch]), spec).to_batches()),
    )


def writer_properties(spec: TableSpec) -> WriterProperties | None:
    """Parquet writer settings for `spec` (None: delta-rs defaults)."""
    if not spec.cluster_by:
        return None
    return WriterProperties(max_row_group_size=CLUSTERED_ROW_GROUP_ROWS)


class Lake:
    """Delta tables under `<home>/lake`: create, read, append, replace and merge."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.root = self.home / "lake"

    def path(self, spec: TableSpec) -> Path:
        return self.root / spec.schema / spec.name

    def exists(self, spec: TableSpec) -> bool:
        return (self.path(spec) / "_delta_log").is_dir()

    def ensure(self, spec: TableSpec) -> DeltaTable:
        """Create the table empty if it does not exist yet; add the columns a newer
        version of `spec` has and the stored table lacks (NULL in existing rows)."""
        if not self.exists(spec):
            self.path(spec).mkdir(parents=True, exist_ok=True)
            write_deltalake(
                str(self.path(spec)),
                spec.arrow_schema.empty_table(),
                partition_by=list(spec.partition_by) or None,
                mode="ignore",
            )
        dt = DeltaTable(str(self.path(spec)))
        have = {f.name for f in dt.schema().fields}
        missing = [f for f in spec.arrow_schema if f.name not in have]
        if missing:
            dt.alter.add_columns([DeltaField.from_arrow(f.with_nullable(True)) for f in missing])
            dt = DeltaTable(str(self.path(spec)))
        return dt

    def table(self, spec: TableSpec) -> DeltaTable | None:
        try:
            return DeltaTable(str(self.path(spec)))
        except TableNotFoundError:
            return None

    def read(self, spec: TableSpec, columns: list[str] | None = None) -> pa.Table:
        """The whole current version as Arrow (small ops tables only)."""
        dt = self.table(spec)
        if dt is None:
            return (
                spec.arrow_schema.empty_table()
                if columns is None
                else conform(spec.arrow_schema.empty_table(), spec).select(columns)
            )
        return dt.to_pyarrow_table(columns=columns)

    def append(self, spec: TableSpec, data: pa.Table) -> None:
        if data.num_rows == 0:
            self.ensure(spec)
            return
        self.ensure(spec)
        with self._source(data, spec) as source:
            write_deltalake(
                str(self.path(spec)),
                source,
                mode="append",
                partition_by=list(spec.partition_by) or None,
                writer_properties=writer_properties(spec),
            )

    def replace_where(
        self, spec: TableSpec, data: pa.Table | pa.RecordBatchReader, predicate: str | None
    ) -> None:
        """Atomically delete the rows matching `predicate` and write `data` (one commit).

        With `predicate=None` the whole table is overwritten. Every row of `data` must
        satisfy the predicate. A `RecordBatchReader` is streamed (conformed batch by batch),
        so the rows never need to fit in memory at once.
        """
        self.ensure(spec)
        with self._source(data, spec) as source:
            write_deltalake(
                str(self.path(spec)),
                source,
                mode="overwrite",
                predicate=predicate,
                partition_by=list(spec.partition_by) or None,
                writer_properties=writer_properties(spec),
            )

    @contextmanager
    def _source(
        self, data: pa.Table | pa.RecordBatchReader, spec: TableSpec
    ) -> Iterator[pa.Table | pa.RecordBatchReader]:
        """`data` to write to `spec`, conformed; a table of a clustered spec sorted by its
        `cluster_by` columns (stable), streamed in row-group-sized batches.

        DuckDB sorts: within `CLUSTER_SORT_MEMORY`, spilling to `<home>/tmp/duckdb`, where
        an Arrow `take` of millions of wide rows in sorted order costs a cache miss per
        value (40 s for the 10 M readings of one ingest) and a second copy of the rows.
        A `RecordBatchReader` is written as it comes (conformed batch by batch)."""
        if isinstance(data, pa.RecordBatchReader):
            yield conformed_stream(data, spec)
            return
        data = conform(data, spec)
        if not spec.cluster_by or data.num_rows < 2:
            yield data
            return
        spill = self.home / "tmp" / "duckdb"
        spill.mkdir(parents=True, exist_ok=True)
        rows = data.append_column("_wl_ord", pa.array(np.arange(data.num_rows, dtype=np.int64)))
        order = ", ".join([*(f'"{c}"' for c in spec.cluster_by), "_wl_ord"])
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET memory_limit = '{CLUSTER_SORT_MEMORY}'")
            con.execute("SET temp_directory = ?", [str(spill)])
            con.register("wl_rows", rows)
            sorted_rows = con.execute(
                f"SELECT * EXCLUDE (_wl_ord) FROM wl_rows ORDER BY {order}"
            ).to_arrow_reader(CLUSTERED_ROW_GROUP_ROWS)
            yield conformed_stream(sorted_rows, spec)

    def delete(self, spec: TableSpec, predicate: str) -> None:
        """Delete the rows matching `predicate` (SQL); nothing when the table does not exist."""
        dt = self.table(spec)
        if dt is not None:
            dt.delete(predicate)

    def insert_new(self, spec: TableSpec, data: pa.Table, keys: list[str]) -> int:
        """MERGE: insert rows whose key is not in the table yet; returns rows inserted."""
        dt = self.ensure(spec)
        if data.num_rows == 0:
            return 0
        on = " AND ".join(f"t.{k} = s.{k}" for k in keys)
        with self._source(data, spec) as source:
            metrics = (
                dt.merge(
                    source,
                    predicate=on,
                    source_alias="s",
                    target_alias="t",
                    writer_properties=writer_properties(spec),
                )
                .when_not_matched_insert_all()
                .execute()
            )
        return int(metrics.get("num_target_rows_inserted", 0))

    def last_modified(self, spec: TableSpec) -> int | None:
        """Milliseconds since the epoch of the table's last commit."""
        dt = self.table(spec)
        if dt is None:
            return None
        hist = dt.history(1)
        return int(hist[0]["timestamp"]) if hist else None

    def size_bytes(self, spec: TableSpec) -> int:
        p = self.path(spec)
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.exists() else 0


def sql_in(values: Iterable[str]) -> str:
    """A SQL IN-list of string literals (single quotes escaped)."""
    quoted = ["'" + v.replace("'", "''") + "'" for v in values]
    return "(" + ", ".join(quoted) + ")" if quoted else "(NULL)"
