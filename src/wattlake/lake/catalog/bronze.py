"""Bronze tables: raw input as text plus lineage, append-only (MERGE on the record id)."""

from __future__ import annotations

import pyarrow as pa

from wattlake.lake.spec import LINEAGE, UTC_TS, table_spec

BRONZE_READINGS = table_spec(
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
    merge_keys=("_record_id",),
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

BRONZE_USERS = table_spec(
    "bronze.user_profiles",
    [(c, pa.string()) for c in USER_PROFILE_COLUMNS] + [*LINEAGE, ("ingest_date", pa.string())],
    partition_by=("ingest_date",),
    description="raw user-profile history rows as text",
    merge_keys=("_record_id",),
)

BRONZE_API_RESPONSES = table_spec(
    "bronze.api_responses",
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
    merge_keys=("checksum",),
)
