"""Ops tables: runs, dead letters, manifest, checkpoints, alerts, releases, quality, metrics,
stream offsets."""

from __future__ import annotations

import pyarrow as pa

from wattlake.lake.spec import UTC_TS, table_spec

OPS_RELEASES = table_spec(
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
    merge_keys=("_record_id",),
)

OPS_RUNS = table_spec(
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

OPS_DEAD_LETTER = table_spec(
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
    merge_keys=("batch_id", "line_number"),
)

OPS_MANIFEST = table_spec(
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
    merge_keys=("checksum",),
)

OPS_CHECKPOINTS = table_spec(
    "ops.checkpoints",
    [
        ("step", pa.string()),
        ("batch_id", pa.string()),
        ("run_id", pa.string()),
        ("processed_at", UTC_TS),
    ],
    description="which bronze batches each pipeline step has processed",
    merge_keys=("step", "batch_id"),
)

OPS_ALERTS = table_spec(
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
    merge_keys=("rule", "meter_id", "message"),
)

OPS_QUALITY_RESULTS = table_spec(
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
    merge_keys=("run_id", "check_id"),
)

OPS_METRICS = table_spec(
    "ops.metrics",
    [
        ("run_id", pa.string()),
        ("metric", pa.string()),
        ("labels", pa.string()),  # JSON object, sorted keys
        ("value", pa.float64()),
        ("recorded_at", UTC_TS),
    ],
    description="metric samples recorded per run (wattlake.observability.metrics)",
    merge_keys=("run_id", "metric", "labels"),
)

OPS_STREAM_OFFSETS = table_spec(
    "ops.stream_offsets",
    [
        ("group_id", pa.string()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("next_offset", pa.int64()),  # the first offset not yet processed
        ("batch_id", pa.string()),  # the micro-batch that committed it
        ("stream_clock", UTC_TS),  # latest sim_clock processed in the partition
        ("committed_at", UTC_TS),  # wall clock of the commit
        ("messages_total", pa.int64()),
        ("readings_total", pa.int64()),
        ("dead_letters_total", pa.int64()),
        ("duplicates_total", pa.int64()),
        ("messages_per_s", pa.float64()),  # over the runner's last minute
        ("batch_seconds", pa.float64()),  # processing time of the last micro-batch
        ("engine", pa.string()),
    ],
    description="the stream consumer's position per partition, committed with each "
    "micro-batch's sink writes (the commit point of exactly-once)",
    merge_keys=("group_id", "topic", "partition"),
)
