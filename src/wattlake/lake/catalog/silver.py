"""Silver tables: validated, typed, one row per key; quarantine, gaps, registry, users and
external data (weather, prices, PV potential)."""

from __future__ import annotations

import pyarrow as pa

from wattlake.lake.spec import UTC_TS, table_spec

SILVER_READINGS = table_spec(
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

SILVER_QUARANTINE = table_spec(
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

SILVER_GAPS = table_spec(
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

SILVER_REGISTRY = table_spec(
    "silver.meter_registry",
    [
        ("meter_id", pa.string()),
        ("vacant", pa.bool_()),
        ("_source_file", pa.string()),
        ("_loaded_at", UTC_TS),
    ],
    description="known meters (`wattlake registry load`); vacant meters skip the zero fault",
)

SILVER_USERS = table_spec(
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

SILVER_WEATHER = table_spec(
    "silver.weather",
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

SILVER_PRICES = table_spec(
    "silver.prices",
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

SILVER_PV_POTENTIAL = table_spec(
    "silver.pv_potential",
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
