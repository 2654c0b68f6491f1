"""Helpers of the stream runner tests: a generated, perturbed replay on fresh topics, a lake
with the households' profiles, running the runner, and reading tables to compare."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from conftest import sql_of
from wattlake.config import Settings, load_settings
from wattlake.context import build_context
from wattlake.logs import configure_logging
from wattlake.pipeline.ingest import ingest_files
from wattlake.stream import inputs, perturb
from wattlake.stream import simulate as sim
from wattlake.stream.job.local import RunOptions, RunSummary, run_local
from wattlake.stream.job.micro import StreamConfig


def new_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


def generate(out: Path, households: int, days: int, seed: int) -> Path:
    return inputs.generate_data(
        out, households, days, seed=seed, fmt="meter-csv", faults=True,
        start=dt.date(2024, 3, 1), zone="DE-LU",
    )  # fmt: skip


def replay(
    bootstrap: str, data: Path, prefix: str, perturbations: perturb.Perturbations, labels: Path
) -> sim.SimulationReport:
    """Send the data set onto the topics under `prefix` as fast as possible."""
    return sim.simulate(
        bootstrap,
        [data],
        zone="DE-LU",
        perturbations=perturbations,
        pacing=sim.Pacing("fast", 0.0),
        labels_file=labels,
        prefix=prefix,
        now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


def stream_settings(home: Path, bootstrap: str, **extra: Any) -> Settings:
    s = load_settings(home=home, kafka_bootstrap=bootstrap, **extra)
    configure_logging(s.home / "logs")
    return s


def with_profiles(settings: Settings, data: Path) -> None:
    """Land the data set's `users.csv` (the households) in the lake."""
    with build_context(settings) as ctx:
        ingest_files(ctx, [data / "users.csv"])


def run_stream(settings: Settings, prefix: str, **opts: Any) -> RunSummary:
    """The runner in this process until the topic is drained."""
    options = {"until_idle_s": 2.0, "settle_every_s": 5.0, **opts}
    with build_context(settings) as ctx:
        return run_local(ctx, StreamConfig(prefix=prefix), RunOptions(**options))


def rows(home: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sql_of(home)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def table(home: Path, sql: str) -> pa.Table:
    con = sql_of(home)
    try:
        return con.execute(sql).to_arrow_table()
    finally:
        con.close()


# What must be equal between two lakes fed the same events (batch ids, run ids and times of
# writing differ by nature).
BRONZE_SQL = """SELECT meter_id, timestamp, value, unit, _format, _source_file, _row_number,
    _ingested_at, _record_id FROM bronze.meter_readings ORDER BY _record_id"""
SILVER_SQL = """SELECT * EXCLUDE (_run_id, _batch_id) FROM silver.meter_readings
    ORDER BY meter_id, ts"""
QUARANTINE_SQL = """SELECT * EXCLUDE (_run_id, _batch_id) FROM silver.quarantine
    ORDER BY _record_id"""
AGGREGATES_SQL = """SELECT * EXCLUDE (updated_at, _batch_id, final_watermark)
    FROM stream.aggregates_5min ORDER BY household_id, channel, window_start"""
LATE_SQL = """SELECT * EXCLUDE (_batch_id) FROM stream.late_readings ORDER BY _record_id"""
DEAD_SQL = """SELECT source_file, line_number, raw_text, reason FROM ops.dead_letter
    ORDER BY source_file, line_number"""
COMPARED = {
    "bronze": BRONZE_SQL,
    "silver": SILVER_SQL,
    "quarantine": QUARANTINE_SQL,
    "aggregates": AGGREGATES_SQL,
    "late": LATE_SQL,
    "dead letters": DEAD_SQL,
}


def snapshot(home: Path, which: Iterable[str] = COMPARED) -> dict[str, list[tuple[Any, ...]]]:
    return {name: rows(home, COMPARED[name]) for name in which}


def first_difference(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> str:
    """A readable account of how two row lists differ (for assertion messages)."""
    if len(a) != len(b):
        return f"{len(a)} rows vs {len(b)}; only left {set(a) - set(b)!r:.600}; " + (
            f"only right {set(b) - set(a)!r:.600}"
        )
    for x, y in zip(a, b, strict=True):
        if x != y:
            return f"first difference: {x!r:.600} vs {y!r:.600}"
    return "equal"
