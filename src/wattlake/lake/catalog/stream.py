"""Stream tables: what the stream runner (`wattlake stream run`) keeps besides bronze and
silver — 5-minute aggregates per household and the readings that came too late for them."""

from __future__ import annotations

import pyarrow as pa

from wattlake.lake.spec import UTC_TS, table_spec

STREAM_AGGREGATES = table_spec(
    "stream.aggregates_5min",
    [
        ("household_id", pa.string()),
        ("channel", pa.string()),  # consumption | production
        ("window_start", UTC_TS),
        ("window_end", UTC_TS),
        ("date", pa.date32()),  # UTC date of window_start (partition)
        ("kwh_sum", pa.float64()),
        ("kwh_avg", pa.float64()),
        ("kwh_min", pa.float64()),
        ("kwh_max", pa.float64()),
        ("readings", pa.int64()),
        ("meters", pa.int64()),
        ("late_readings", pa.int64()),
        ("is_final", pa.bool_()),
        ("final_watermark", UTC_TS),  # the watermark that closed the window
        ("published_version", pa.int32()),  # 0: not published to dashboard-updates yet
        ("updated_at", UTC_TS),
        ("_batch_id", pa.string()),
    ],
    partition_by=("date",),
    description="kWh per household, channel and 5-minute tumbling window (valid, on-time "
    "readings); final once the watermark passes the window end + allowed lateness",
    merge_keys=("household_id", "channel", "window_start"),
)

STREAM_LATE_READINGS = table_spec(
    "stream.late_readings",
    [
        ("_record_id", pa.string()),
        ("meter_id", pa.string()),
        ("household_id", pa.string()),
        ("channel", pa.string()),
        ("ts", UTC_TS),
        ("window_start", UTC_TS),
        ("sim_clock", UTC_TS),
        ("lateness_s", pa.float64()),
        ("_batch_id", pa.string()),
    ],
    description="readings that arrived after their window's watermark + allowed lateness: "
    "left out of the aggregates, counted here, landed in bronze and judged by the VEE",
    merge_keys=("_record_id",),
)
