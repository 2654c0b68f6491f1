"""Pipeline metrics from the ops/lake tables → Prometheus text exposition and `ops.metrics`.

Everything is computed by aggregate SQL in DuckDB (`wattlake.query.connect`) — one small
result per metric family — and exposed through a `prometheus_client` custom collector on a
fresh `CollectorRegistry`, so `generate_latest(registry)` gives the text format that a
Prometheus scrape (or the node-exporter textfile collector) reads.

Metric families (units in the names, Prometheus conventions):

- `wattlake_records_processed_total` (counter, layer): rows written, all runs (bronze = ingest
  rows_out, silver/gold/warehouse = step rows_out)
- `wattlake_step_records_in` / `_out` (gauge, step): rows in / out of each step of the latest
  run
- `wattlake_step_duration_seconds` (gauge, step): duration of each step of the latest run (s)
- `wattlake_step_runs_total` (counter, step, status): step executions recorded in ops.runs
- `wattlake_last_run_timestamp_seconds` (gauge): start of the latest pipeline run (Unix s)
- `wattlake_quarantined_records` (gauge, rule): quarantine rows per rule id (a row counts once
  per rule)
- `wattlake_dead_letter_records` (gauge): rows in ops.dead_letter
- `wattlake_silver_records` (gauge, grade): silver rows per quality grade
- `wattlake_estimated_records` (gauge): silver rows estimated (gap interpolation)
- `wattlake_quality_score_mean` (gauge): mean quality score of silver rows (points)
- `wattlake_quality_check_pass_ratio` (gauge, layer): pass ratio of the latest quality run
  (0..1)
- `wattlake_quality_checks_failed` (gauge, layer, severity): failed checks of the latest quality
  run
- `wattlake_source_freshness_seconds` (gauge, source): `now` − last ingest per file format / API
  source (s)
- `wattlake_ingestion_backlog_records` (gauge): bronze readings not yet processed by silver
- `wattlake_alerts` (gauge, rule, severity): rows in ops.alerts
- `wattlake_forecast_mae`, `wattlake_forecast_rmae`, `wattlake_forecast_interval_coverage`
  (gauge, model, level): the latest evaluated day of gold.forecast_accuracy (MAE in the
  target's unit per hour; rMAE and coverage 0..1)
- `wattlake_forecast_feature_psi` (gauge, model, feature): gold.forecast_drift

Stream consumer (`stream_families`, from `wattlake stream status`: the lake's offsets and the
broker's end offsets; labels group, topic, partition):

- `wattlake_stream_consumer_lag` (gauge): messages in the partition not yet committed by the
  stream runner (end offset − committed offset)
- `wattlake_stream_committed_offset` / `wattlake_stream_end_offset` (gauge): next offset to
  process (lake) / to be written (broker)
- `wattlake_stream_messages_total`, `_readings_total`, `_dead_letters_total`,
  `_duplicates_total` (counter): processed by the runner, over its life
- `wattlake_stream_throughput_messages_per_second` (gauge): over the runner's last minute
- `wattlake_stream_batch_duration_seconds` (gauge): processing time of the last micro-batch
- `wattlake_stream_last_commit_timestamp_seconds` (gauge): wall clock of the last commit
- `wattlake_stream_clock_timestamp_seconds` (gauge): latest producer clock (`sim_clock`)
  processed
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import duckdb
import pyarrow as pa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wattlake.lake.catalog import OPS_METRICS
from wattlake.lake.delta import Lake
from wattlake.query import existing_relations

Kind = Literal["gauge", "counter"]

LAYER_OF_STEP = {
    "ingest": "bronze",
    "silver_users": "silver",
    "silver": "silver",
    "gold": "gold",
    "warehouse": "warehouse",
}


def layer_of_step(step: str) -> str:
    """`forecast_*` steps (one per model family) count as the layer `forecast`."""
    return "forecast" if step.startswith("forecast_") else step


@dataclass
class MetricFamily:
    """One metric family: Prometheus name (without `_total` for counters), help, samples."""

    name: str
    kind: Kind
    help: str
    label_names: tuple[str, ...] = ()
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    @property
    def sample_name(self) -> str:
        return self.name + "_total" if self.kind == "counter" else self.name


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return con.execute(sql).fetchall()


def collect_metrics(
    con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None
) -> list[MetricFamily]:
    """Compute every metric family from the tables `con` sees (a `Context.sql()`
    connection; see the module docstring)."""
    now = now or dt.datetime.now(dt.UTC)
    now_sql = f"TIMESTAMPTZ '{now.astimezone(dt.UTC).isoformat()}'"
    have = existing_relations(con)
    fams: list[MetricFamily] = []

    def fam(
        name: str, kind: Kind, help_: str, labels: Sequence[str], rows: Sequence[Sequence[object]]
    ) -> None:
        f = MetricFamily(name, kind, help_, tuple(labels))
        for r in rows:
            *lv, value = r
            if value is None:
                continue
            f.samples.append((tuple("" if v is None else str(v) for v in lv), float(value)))  # type: ignore[arg-type]
        fams.append(f)

    if "ops.runs" in have:
        by_layer: dict[str, float] = {}
        for step, n in _rows(
            con, "SELECT step, sum(rows_out) FROM ops.runs WHERE status = 'success' GROUP BY 1"
        ):
            layer = LAYER_OF_STEP.get(str(step), layer_of_step(str(step)))
            by_layer[layer] = by_layer.get(layer, 0.0) + float(n or 0)  # type: ignore[arg-type]
        fam(
            "wattlake_records_processed",
            "counter",
            "Rows written per layer over all runs.",
            ["layer"],
            sorted(by_layer.items()),
        )
        fam(
            "wattlake_step_runs",
            "counter",
            "Step executions recorded in ops.runs.",
            ["step", "status"],
            _rows(con, "SELECT step, status, count(*) FROM ops.runs GROUP BY ALL ORDER BY 1, 2"),
        )
        latest = """(SELECT run_id FROM ops.runs WHERE step <> 'ingest'
                     ORDER BY started_at DESC, run_id DESC LIMIT 1)"""
        for name, col, help_ in (
            ("wattlake_step_duration_seconds", "duration_s", "Step duration, latest run (s)."),
            ("wattlake_step_records_in", "rows_in", "Rows into each step, latest run."),
            ("wattlake_step_records_out", "rows_out", "Rows out of each step, latest run."),
        ):
            fam(
                name,
                "gauge",
                help_,
                ["step"],
                _rows(
                    con,
                    f"SELECT step, sum({col}) FROM ops.runs WHERE run_id = {latest} "
                    "GROUP BY 1 ORDER BY 1",
                ),
            )
        fam(
            "wattlake_last_run_timestamp_seconds",
            "gauge",
            "Start of the latest pipeline run (Unix seconds).",
            [],
            _rows(con, "SELECT max(epoch(started_at)) FROM ops.runs WHERE step <> 'ingest'"),
        )
    if "silver.quarantine" in have:
        fam(
            "wattlake_quarantined_records",
            "gauge",
            "Quarantined readings per rule id (a row counts once per rule it names).",
            ["rule"],
            _rows(
                con,
                "SELECT trim(r), count(*) FROM (SELECT unnest(string_split(rules, ',')) AS r "
                "FROM silver.quarantine) WHERE trim(r) <> '' GROUP BY 1 ORDER BY 1",
            ),
        )
    if "ops.dead_letter" in have:
        fam(
            "wattlake_dead_letter_records",
            "gauge",
            "Unparseable input lines in ops.dead_letter.",
            [],
            _rows(con, "SELECT count(*) FROM ops.dead_letter"),
        )
    if "silver.meter_readings" in have:
        fam(
            "wattlake_silver_records",
            "gauge",
            "Silver readings per quality grade.",
            ["grade"],
            _rows(
                con,
                "SELECT quality_grade, count(*) FROM silver.meter_readings GROUP BY 1 ORDER BY 1",
            ),
        )
        est, mean = _rows(
            con,
            "SELECT count(*) FILTER (WHERE is_estimated), avg(quality_score) "
            "FROM silver.meter_readings",
        )[0]
        fam(
            "wattlake_estimated_records",
            "gauge",
            "Silver readings estimated by gap interpolation.",
            [],
            [(est,)],
        )
        fam(
            "wattlake_quality_score_mean",
            "gauge",
            "Mean quality score of silver readings (points, 0..100).",
            [],
            [(mean,)],
        )
    if "ops.quality_results" in have:
        latest_q = """(SELECT run_id FROM ops.quality_results
                       ORDER BY checked_at DESC, run_id DESC LIMIT 1)"""
        fam(
            "wattlake_quality_check_pass_ratio",
            "gauge",
            "Pass ratio of evaluated checks in the latest quality run (0..1).",
            ["layer"],
            _rows(
                con,
                "SELECT layer, count(*) FILTER (WHERE passed) / count(passed) "
                f"FROM ops.quality_results WHERE run_id = {latest_q} GROUP BY 1 "
                "HAVING count(passed) > 0 ORDER BY 1",
            ),
        )
        fam(
            "wattlake_quality_checks_failed",
            "gauge",
            "Failed checks in the latest quality run.",
            ["layer", "severity"],
            _rows(
                con,
                "SELECT layer, severity, count(*) FILTER (WHERE NOT passed) "
                f"FROM ops.quality_results WHERE run_id = {latest_q} GROUP BY ALL "
                "ORDER BY 1, 2",
            ),
        )
    fresh: list[tuple[object, ...]] = []
    if "ops.manifest" in have:
        fresh += _rows(
            con,
            f"SELECT format, epoch({now_sql}) - epoch(max(ingested_at)) FROM ops.manifest "
            "GROUP BY 1 ORDER BY 1",
        )
    if "bronze.api_responses" in have:
        fresh += _rows(
            con,
            f"SELECT source, epoch({now_sql}) - epoch(max(fetched_at)) "
            "FROM bronze.api_responses GROUP BY 1 ORDER BY 1",
        )
    fam(
        "wattlake_source_freshness_seconds",
        "gauge",
        "Seconds since the last ingest of each source (file format or API).",
        ["source"],
        fresh,
    )
    if "bronze.meter_readings" in have:
        fam(
            "wattlake_ingestion_backlog_records",
            "gauge",
            "Bronze readings in batches not yet processed by the silver step.",
            [],
            [(backlog_records(con, have),)],
        )
    if "ops.alerts" in have:
        fam(
            "wattlake_alerts",
            "gauge",
            "Alerts in ops.alerts per rule and severity.",
            ["rule", "severity"],
            _rows(
                con,
                "SELECT rule, severity, count(*) FROM ops.alerts GROUP BY ALL ORDER BY 1, 2",
            ),
        )
    if "gold.forecast_accuracy" in have:
        latest = """(SELECT * FROM gold.forecast_accuracy QUALIFY row_number() OVER
                     (PARTITION BY model, level ORDER BY date DESC, evaluated_at DESC) = 1)"""
        for name, col, help_ in (
            ("wattlake_forecast_mae", "mae", "Forecast MAE of the latest evaluated day."),
            ("wattlake_forecast_rmae", "rmae", "Forecast rMAE (MAE / range of actuals)."),
            (
                "wattlake_forecast_interval_coverage",
                "coverage",
                "Share of actuals inside P10-P90, latest evaluated day (0..1).",
            ),
        ):
            fam(
                name,
                "gauge",
                help_,
                ["model", "level"],
                _rows(con, f"SELECT model, level, {col} FROM {latest} ORDER BY 1, 2"),
            )
    if "gold.forecast_drift" in have:
        fam(
            "wattlake_forecast_feature_psi",
            "gauge",
            "Population stability index of a model feature, training vs last 7 days.",
            ["model", "feature"],
            _rows(con, "SELECT model, feature, psi FROM gold.forecast_drift ORDER BY 1, 2"),
        )
    return fams


def backlog_records(con: duckdb.DuckDBPyConnection, have: set[str] | None = None) -> int:
    """Bronze meter readings whose batch has no `silver` checkpoint yet."""
    have = existing_relations(con) if have is None else have
    if "bronze.meter_readings" not in have:
        return 0
    done = (
        "SELECT batch_id FROM ops.checkpoints WHERE step = 'silver'"
        if "ops.checkpoints" in have
        else "SELECT NULL::VARCHAR WHERE false"
    )
    n = con.execute(
        f"SELECT count(*) FROM bronze.meter_readings WHERE _batch_id NOT IN ({done})"
    ).fetchone()
    return int(n[0]) if n else 0


STREAM_LABELS = ("group", "topic", "partition")
# (metric, kind, help, status field) of the per-partition stream families.
_STREAM = (
    ("wattlake_stream_consumer_lag", "gauge", "messages not yet committed", "lag"),
    ("wattlake_stream_committed_offset", "gauge", "next offset to process", "next_offset"),
    ("wattlake_stream_end_offset", "gauge", "next offset to be written", "end_offset"),
    ("wattlake_stream_messages", "counter", "messages processed", "messages_total"),
    ("wattlake_stream_readings", "counter", "valid readings processed", "readings_total"),
    ("wattlake_stream_dead_letters", "counter", "messages dead-lettered", "dead_letters_total"),
    ("wattlake_stream_duplicates", "counter", "exact re-sends dropped", "duplicates_total"),
    (
        "wattlake_stream_throughput_messages_per_second",
        "gauge",
        "messages per second over the runner's last minute",
        "messages_per_s",
    ),
    (
        "wattlake_stream_batch_duration_seconds",
        "gauge",
        "processing time of the last micro-batch (s)",
        "batch_seconds",
    ),
    (
        "wattlake_stream_last_commit_timestamp_seconds",
        "gauge",
        "wall clock of the last commit (Unix s)",
        "committed_at_s",
    ),
    (
        "wattlake_stream_clock_timestamp_seconds",
        "gauge",
        "latest producer clock processed (Unix s)",
        "stream_clock_s",
    ),
)


def stream_families(rows: Sequence[dict[str, object]]) -> list[MetricFamily]:
    """The stream consumer's metric families (module doc) of status rows: `group`, `topic`,
    `partition` and the fields named in `_STREAM` (None: no sample)."""
    out = []
    for name, kind, help_, field_ in _STREAM:
        f = MetricFamily(name, kind, help_, STREAM_LABELS)  # type: ignore[arg-type]
        for r in rows:
            v = r.get(field_)
            if v is not None:
                labels = (str(r["group"]), str(r["topic"]), str(r["partition"]))
                f.samples.append((labels, float(v)))  # type: ignore[arg-type]
        out.append(f)
    return out


def families_text(families: Sequence[MetricFamily]) -> str:
    """The Prometheus text exposition of `families`."""
    return generate_latest(build_registry(families)).decode()


class TableCollector(Collector):
    """A prometheus_client collector serving precomputed metric families."""

    def __init__(self, families: Sequence[MetricFamily]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        for f in self.families:
            cls = CounterMetricFamily if f.kind == "counter" else GaugeMetricFamily
            m = cls(f.name, f.help, labels=list(f.label_names))
            for labels, value in f.samples:
                m.add_metric(list(labels), value)
            yield m


def build_registry(families: Sequence[MetricFamily]) -> CollectorRegistry:
    """A fresh registry holding `families` (no default process/platform collectors)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(TableCollector(families))
    return reg


def prometheus_text(con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None) -> str:
    """The Prometheus text exposition (format 0.0.4) of every metric `con` sees."""
    return generate_latest(build_registry(collect_metrics(con, now))).decode()


def metric_rows(
    families: Sequence[MetricFamily], run_id: str, recorded_at: dt.datetime | None = None
) -> pa.Table:
    """`ops.metrics` rows: run_id, metric, labels (JSON), value, recorded_at (UTC)."""
    at = recorded_at or dt.datetime.now(dt.UTC)
    rows = [
        {
            "run_id": run_id,
            "metric": f.sample_name,
            "labels": json.dumps(dict(zip(f.label_names, labels, strict=True)), sort_keys=True),
            "value": value,
            "recorded_at": at,
        }
        for f in families
        for labels, value in f.samples
    ]
    return pa.Table.from_pylist(rows, schema=OPS_METRICS.arrow_schema)


def store_metrics(
    lake: Lake,
    families: Sequence[MetricFamily],
    run_id: str,
    recorded_at: dt.datetime | None = None,
) -> int:
    """Append a run's samples to `ops.metrics`; idempotent per (run_id, metric, labels)."""
    return lake.insert_new(OPS_METRICS, metric_rows(families, run_id, recorded_at))
