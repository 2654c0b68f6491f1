"""The catalogue of lake tables: every table's `TableSpec`, by layer.

    from wattlake.lake import catalog as cat
    cat.SILVER_READINGS.qualified   # 'silver.meter_readings'

Declared in `bronze`, `silver`, `gold`, `ops`, `stream` (the stream runner) and `sme` (the
smart-meter-etl case);
`ALL_TABLES` lists them in the order `wattlake tables` shows them.
"""

from wattlake.lake.catalog.bronze import (
    BRONZE_API_RESPONSES,
    BRONZE_READINGS,
    BRONZE_USERS,
    USER_DELETED,
    USER_PROFILE_COLUMNS,
)
from wattlake.lake.catalog.forecast import (
    FORECAST_TABLES,
    GOLD_FORECAST_ACCURACY,
    GOLD_FORECAST_DRIFT,
    GOLD_FORECASTS,
    GOLD_TRADING_ADVICE,
)
from wattlake.lake.catalog.gold import (
    GOLD_COMMUNITY_KPIS,
    GOLD_DAILY_BALANCE,
    GOLD_FLOW_HOURLY,
    GOLD_HOURLY_METER,
    GOLD_P2P_TRADES,
    GOLD_PEAK_HOURS,
    GOLD_PV_MODELLED,
    GOLD_READINGS_ENRICHED,
    GOLD_USER_KPIS,
    GOLD_USER_PROFILES,
    ROLLING_DAYS,
    ROLLING_KPIS,
)
from wattlake.lake.catalog.ops import (
    OPS_ALERTS,
    OPS_CHECKPOINTS,
    OPS_DEAD_LETTER,
    OPS_MANIFEST,
    OPS_METRICS,
    OPS_QUALITY_RESULTS,
    OPS_RELEASES,
    OPS_RUNS,
    OPS_STREAM_OFFSETS,
)
from wattlake.lake.catalog.silver import (
    SILVER_GAPS,
    SILVER_PRICES,
    SILVER_PV_POTENTIAL,
    SILVER_QUARANTINE,
    SILVER_READINGS,
    SILVER_REGISTRY,
    SILVER_USERS,
    SILVER_WEATHER,
)
from wattlake.lake.catalog.sme import (
    BRONZE_SME_AGREEMENTS,
    BRONZE_SME_METERPOINTS,
    BRONZE_SME_PRODUCTS,
    GOLD_REPORT_ACTIVE_AGREEMENTS,
    GOLD_REPORT_DAILY_PRODUCT,
    GOLD_REPORT_HALF_HOURLY,
    SILVER_AGREEMENTS,
    SILVER_METERPOINTS,
    SILVER_PRODUCTS,
    SMART_METER_ETL_TABLES,
)
from wattlake.lake.catalog.stream import STREAM_AGGREGATES, STREAM_LATE_READINGS
from wattlake.lake.spec import TableSpec

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
    *FORECAST_TABLES,
    OPS_RUNS,
    OPS_DEAD_LETTER,
    OPS_MANIFEST,
    OPS_CHECKPOINTS,
    OPS_ALERTS,
    OPS_RELEASES,
    OPS_QUALITY_RESULTS,
    OPS_METRICS,
    OPS_STREAM_OFFSETS,
    STREAM_AGGREGATES,
    STREAM_LATE_READINGS,
    *SMART_METER_ETL_TABLES,
)


def by_name(qualified: str) -> TableSpec:
    """The spec of `schema.name`; `KeyError` when there is none."""
    for spec in ALL_TABLES:
        if spec.qualified == qualified:
            return spec
    raise KeyError(qualified)


__all__ = [
    "ALL_TABLES",
    "BRONZE_API_RESPONSES",
    "BRONZE_READINGS",
    "BRONZE_SME_AGREEMENTS",
    "BRONZE_SME_METERPOINTS",
    "BRONZE_SME_PRODUCTS",
    "BRONZE_USERS",
    "FORECAST_TABLES",
    "GOLD_COMMUNITY_KPIS",
    "GOLD_DAILY_BALANCE",
    "GOLD_FLOW_HOURLY",
    "GOLD_FORECASTS",
    "GOLD_FORECAST_ACCURACY",
    "GOLD_FORECAST_DRIFT",
    "GOLD_HOURLY_METER",
    "GOLD_PEAK_HOURS",
    "GOLD_PV_MODELLED",
    "GOLD_READINGS_ENRICHED",
    "GOLD_REPORT_ACTIVE_AGREEMENTS",
    "GOLD_REPORT_DAILY_PRODUCT",
    "GOLD_REPORT_HALF_HOURLY",
    "GOLD_TRADING_ADVICE",
    "GOLD_USER_KPIS",
    "GOLD_USER_PROFILES",
    "OPS_ALERTS",
    "OPS_CHECKPOINTS",
    "OPS_DEAD_LETTER",
    "OPS_MANIFEST",
    "OPS_METRICS",
    "OPS_QUALITY_RESULTS",
    "OPS_RELEASES",
    "OPS_RUNS",
    "OPS_STREAM_OFFSETS",
    "ROLLING_DAYS",
    "ROLLING_KPIS",
    "SILVER_AGREEMENTS",
    "SILVER_GAPS",
    "SILVER_METERPOINTS",
    "SILVER_PRICES",
    "SILVER_PRODUCTS",
    "SILVER_PV_POTENTIAL",
    "SILVER_QUARANTINE",
    "SILVER_READINGS",
    "SILVER_REGISTRY",
    "SILVER_USERS",
    "SILVER_WEATHER",
    "SMART_METER_ETL_TABLES",
    "STREAM_AGGREGATES",
    "STREAM_LATE_READINGS",
    "USER_DELETED",
    "USER_PROFILE_COLUMNS",
    "TableSpec",
    "by_name",
]
