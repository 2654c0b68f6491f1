"""The smart-meter-etl case (seeds/smart-meter-etl.md; `wattlake.sources.smart_meter_etl`).

Bronze: every SQLite row as text + lineage (`_row_number` = record number in the database,
`_rowid` = the SQLite rowid). Silver: typed and validated, one row per id (the last
ingested database wins). Gold: the three reports, replaced per reference date.
"""

from __future__ import annotations

import pyarrow as pa

from wattlake.lake.spec import LINEAGE, UTC_TS, TableSpec, table_spec

_SME_SILVER_LINEAGE = (
    ("_batch_id", pa.string()),
    ("_source_file", pa.string()),
    ("_row_number", pa.int64()),
    ("_record_id", pa.string()),
    ("_loaded_at", UTC_TS),
)


def _sme_bronze(name: str, cols: tuple[str, ...], what: str) -> TableSpec:
    return table_spec(
        f"bronze.{name}",
        [(c, pa.string()) for c in cols] + [*LINEAGE, ("_rowid", pa.int64())],
        description=f"raw {what} rows from SQLite databases, as text",
        merge_keys=("_record_id",),
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
SILVER_METERPOINTS = table_spec(
    "silver.meterpoints",
    [("meterpoint_id", pa.string()), ("region", pa.string()), *_SME_SILVER_LINEAGE],
    description="meterpoints, one row per meterpoint_id",
)
SILVER_PRODUCTS = table_spec(
    "silver.products",
    [
        ("product_id", pa.string()),
        ("display_name", pa.string()),
        ("is_variable", pa.bool_()),
        *_SME_SILVER_LINEAGE,
    ],
    description="products (tariffs), one row per product_id",
)
SILVER_AGREEMENTS = table_spec(
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
GOLD_REPORT_ACTIVE_AGREEMENTS = table_spec(
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
GOLD_REPORT_HALF_HOURLY = table_spec(
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
GOLD_REPORT_DAILY_PRODUCT = table_spec(
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
